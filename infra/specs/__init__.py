"""Pure functions from settings to container specs. Nothing here imports pulumi.

The Pulumi program renders these specs into pulumi-docker resources, and the
tests hand the very same output to the real postgres 15 and redis-server.
"""
