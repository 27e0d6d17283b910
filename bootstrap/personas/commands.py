"""``bo1-infra seed personas``."""

from __future__ import annotations

import argparse
from pathlib import Path

from bootstrap import paths
from bootstrap.personas import catalogue, seed
from bootstrap.postgres.connect import connect_superuser


def seed_personas(args: argparse.Namespace) -> int:
    # Validate the whole file before touching the database.
    entries = catalogue.load(Path(args.file) if args.file else paths.PERSONAS_FILE)
    with connect_superuser(args.dsn, wait=args.wait) as conn:
        result = seed.apply(conn, entries, dry_run=args.dry_run)
    for line in result.details():
        print(line)
    print(("[dry run] " if args.dry_run else "") + result.summary())
    return 0
