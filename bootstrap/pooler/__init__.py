"""PgBouncer in front of each stack's Postgres (docs/POOLING.md).

config   (pure) pgbouncer.ini, its hba file and the auth file of shared SCRAM verifiers
console  the live edge: PgBouncer's admin console (SHOW POOLS, SHOW CONFIG), the port
"""
