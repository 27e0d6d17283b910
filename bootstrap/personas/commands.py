"""``bo1-infra seed personas``."""

from __future__ import annotations

import argparse
from pathlib import Path

from bootstrap import pg
from bootstrap.personas import catalogue, seed


def personas(args: argparse.Namespace) -> int:
    # Validate the whole file before touching the database.
    entries = catalogue.load(Path(args.file) if args.file else catalogue.DEFAULT_FILE)
    with pg.connect(args.dsn, wait=args.wait) as conn:
        result = seed.apply(conn, entries, dry_run=args.dry_run)
    for line in result.details():
        print(line)
    print(("[dry run] " if args.dry_run else "") + result.summary())
    return 0
