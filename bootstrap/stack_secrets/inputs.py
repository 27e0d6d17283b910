"""Secrets reach bootstrap through environment variables named by the catalogue, never argv."""

from __future__ import annotations

from collections.abc import Mapping

from bootstrap.appenv.model import check_value
from bootstrap.errors import UsageError
from bootstrap.stack_secrets.catalogue import Catalogue, SecretSpec


def read(catalogue: Catalogue, environ: Mapping[str, str], stack: str) -> dict[str, str]:
    """Catalogue key -> value; every missing one is reported at once.

    A required secret the stack may leave unset (``optional_in``) reads as "".
    """
    missing = [s for s in catalogue.secrets if not environ.get(s.env) and _needed(s, stack)]
    if missing:
        names = ", ".join(f"{s.env} ({s.key})" for s in missing)
        raise UsageError(f"{len(missing)} secret(s) missing from the environment: {names}")
    values = {s.key: environ.get(s.env, "") for s in catalogue.secrets}
    for spec in catalogue.secrets:  # each lands in an env file, one value per line
        check_value(spec.env, values[spec.key])
    return values


def unset(catalogue: Catalogue, values: Mapping[str, str]) -> list[SecretSpec]:
    """The optional secrets left empty: the app will miss them, so bootstrap says so."""
    return [s for s in catalogue.secrets if s.topology == "any" and not values.get(s.key)]


def _needed(spec: SecretSpec, stack: str) -> bool:
    # the ha-only secrets go to the containers; bootstrap has no use for them
    return spec.topology == "any" and (spec.kind == "generated" or spec.required_in(stack))
