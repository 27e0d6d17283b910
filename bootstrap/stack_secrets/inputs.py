"""Secrets reach bootstrap through environment variables named by the catalogue, never argv."""

from __future__ import annotations

from collections.abc import Mapping

from bootstrap.errors import UsageError
from bootstrap.stack_secrets.catalogue import Catalogue


def read(catalogue: Catalogue, environ: Mapping[str, str]) -> dict[str, str]:
    """Catalogue key -> value; every missing one is reported at once."""
    missing = [s for s in catalogue.secrets if not environ.get(s.env)]
    if missing:
        names = ", ".join(f"{s.env} ({s.key})" for s in missing)
        raise UsageError(f"{len(missing)} secret(s) missing from the environment: {names}")
    return {s.key: environ[s.env] for s in catalogue.secrets}
