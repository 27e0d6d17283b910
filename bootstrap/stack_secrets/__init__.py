"""The secrets a stack needs (never a package named ``secrets``: that is the stdlib's).

catalogue  plain records of secrets/catalogue.toml, validated once per content
schema     its pydantic model, imported only for content not validated before
inputs     reading the values from the BO1_* environment, never argv
"""
