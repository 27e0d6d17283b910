"""Reaching a stack's services when its Docker host is not this machine.

route   (pure) what DOCKER_HOST names, and how to reach a host:port published there
tunnel  the live edge: an `ssh -N -L` tunnel for as long as a command needs it
reach   one context manager the verbs use: local, tcp:// host, or ssh:// tunnel
"""
