"""A value for every secret of the catalogue, and the BO1_* environment that carries them,
as the Pulumi hook hands them to bootstrap."""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from bootstrap.stack_secrets.catalogue import load as load_catalogue

CATALOGUE = load_catalogue()


def fresh_secrets(superuser_password: str) -> dict[str, str]:
    """A value for every catalogue secret; the superuser's is the cluster's own."""
    values = {s.key: f"{s.key}-{secrets.token_urlsafe(12)}" for s in CATALOGUE.secrets}
    values["postgresSuperuserPassword"] = superuser_password
    return values


def secret_env(values: Mapping[str, str]) -> dict[str, str]:
    """BO1_<NAME>=value for each catalogue secret."""
    return {s.env: values[s.key] for s in CATALOGUE.secrets}
