"""``bo1-infra redis-cleanup``: cron-ready Redis hygiene over every known key family.

The built-in key families are always known; ``--stack`` adds the stack's own
(``redisKeyFamilies`` in its stack file). Keys of no known family are never touched.

Exit codes: 0 clean, 1 memory at or above 80% of maxmemory, 2 an error. The
summary goes to stdout (JSON with --json) once the job has run; an error is
one line on stderr and nothing on stdout. --verbose lists every action on
stderr; progress shows on stderr only when it is a terminal.
"""

from __future__ import annotations

import argparse
import sys
import time

import redis

from bootstrap.errors import Bo1Error
from bootstrap.masking import mask_password
from bootstrap.redisdb import connect
from bootstrap.redisdb.cleanup import job
from bootstrap.redisdb.cleanup.report import ERROR, Report, as_json, as_text
from bootstrap.redisdb.keys import FAMILIES, KeyFamily


class CleanupError(Bo1Error):
    exit_code = ERROR  # cron tells an error (2) from a memory warning (1)


def redis_cleanup(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    try:
        families = _families(args.stack)
        url = connect.resolve_url(args.redis_url)
        target = connect.describe(url)
        report = _run(args, url, target, families, started)
    except CleanupError:
        raise
    except Bo1Error as exc:
        raise CleanupError(exc.message) from None
    print(as_json(report) if args.json else as_text(report))
    return report.exit_code


def _families(stack: str | None) -> tuple[KeyFamily, ...]:
    if not stack:
        return FAMILIES  # no stack file read: the fast path for cron
    from bootstrap.stack import stack_settings

    return stack_settings(stack).key_families()


def _run(
    args: argparse.Namespace,
    url: str,
    target: str,
    families: tuple[KeyFamily, ...],
    started: float,
) -> Report:
    try:
        with connect.connect(url, wait=args.wait) as client:
            if not args.dry_run:
                _refuse_replica(client, target)
            tally = job.run(
                client,
                dry_run=args.dry_run,
                families=families,
                batch=args.batch,
                on_actions=_print_actions if args.verbose else None,
                on_progress=_progress if sys.stderr.isatty() else None,
            )
            memory = job.memory(client)
        if sys.stderr.isatty():
            print(file=sys.stderr)  # end the progress line
    except redis.exceptions.ReadOnlyError:
        raise CleanupError(_replica_message(target)) from None
    except redis.exceptions.NoPermissionError as exc:
        raise CleanupError(
            f"the Redis user lacks a right the job needs ({exc}); use bo1_ops"
        ) from None
    except redis.RedisError as exc:
        raise CleanupError(f"Redis error: {mask_password(str(exc))}") from None
    return Report(target, args.dry_run, tally, memory, time.perf_counter() - started, families)


def _replica_message(target: str) -> str:
    return (
        f"Redis at {target} is a read-only replica;"
        " run the cleanup against the primary, or use --dry-run"
    )


def _refuse_replica(client: redis.Redis, target: str) -> None:
    if client.info("replication").get("role") == "slave":
        raise CleanupError(_replica_message(target))


def _print_actions(actions: list[tuple[str, str]]) -> None:
    for key, action in actions:
        print(f"{action:<16} {key}", file=sys.stderr)


def _progress(tally: job.Tally) -> None:
    print(f"\r  scanned {tally.scanned} keys", end="", file=sys.stderr, flush=True)
