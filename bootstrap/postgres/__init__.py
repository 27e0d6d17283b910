"""PostgreSQL: how to reach it and what lives in it.

connect   the DSN edge: resolve, connect (with --wait), describe safely; the superuser login
roles     the role passwords from stack secrets, set without ever logging them
scram     SCRAM-SHA-256 verifiers computed by libpq, and the unchanged-password check
tenancy   the roles, the tenant setting and the one correct way to act as a tenant
"""
