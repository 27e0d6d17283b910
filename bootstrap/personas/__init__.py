"""The expert persona catalogue: the data file, its validation, and idempotent seeding.

catalogue  the pydantic model of bootstrap/data/personas.json and its loader
seed       plans (pure) and applies (one transaction) the upsert into `personas`
commands   `bo1-infra seed personas`
"""
