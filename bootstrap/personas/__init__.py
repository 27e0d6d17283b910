"""The expert persona catalogue: the data file, its validation, and idempotent seeding.

catalogue  plain Persona records from personas.json (validated by schema, once per content)
schema     the pydantic model of personas.json
seed       plans (pure) and applies (one transaction) the upsert into `personas`
commands   `bo1-infra seed personas`
"""
