"""The application's environment: what Board of One reads, and the file that carries it.

model     every variable: group, default, source (secret, setting or computed)
env_file  the env file: rendered, written atomically (0600) and read back, in one place
urls      connection URLs with every password quoted the same way
"""
