"""``bo1-infra redis-cleanup [--dry-run] [--verbose] [--json] [--url URL]``, cron-ready.

Exit codes: 0 clean, 1 memory at or above 80% of maxmemory, 2 an error. The
summary goes to stdout (JSON with --json); --verbose lists every action on
stderr; progress shows on stderr only when it is a terminal.
"""

from __future__ import annotations

import argparse
import sys
import time

import redis

from bootstrap import redis_conn
from bootstrap.errors import Bo1Error
from bootstrap.masking import mask_password
from bootstrap.redis_cleanup import job
from bootstrap.redis_cleanup.report import Report, as_json, as_text


def cleanup(args: argparse.Namespace) -> int:
    target = "(no Redis)"
    started = time.perf_counter()
    try:
        url = redis_conn.resolve_url(args.url)
        target = redis_conn.describe(url)
        client = redis_conn.connect(url)
        with client:
            if not args.dry_run:
                _refuse_replica(client, target)
            tally = job.run(
                client,
                dry_run=args.dry_run,
                batch=args.batch,
                on_actions=_print_actions if args.verbose else None,
                on_progress=_progress if sys.stderr.isatty() else None,
            )
            memory = job.memory(client)
        report = Report(target, args.dry_run, tally, memory, time.perf_counter() - started)
    except Bo1Error as exc:
        report = Report(target, args.dry_run, error=exc.message)
    except redis.exceptions.ReadOnlyError:
        report = Report(target, args.dry_run, error=_replica_message(target))
    except redis.exceptions.NoPermissionError as exc:
        report = Report(
            target,
            args.dry_run,
            error=f"the Redis user lacks a right the job needs ({exc}); use bo1_ops",
        )
    except redis.RedisError as exc:
        report = Report(target, args.dry_run, error=f"Redis error: {mask_password(str(exc))}")
    if sys.stderr.isatty() and report.tally:
        print(file=sys.stderr)  # end the progress line
    if report.error:
        print(f"bo1-infra: error: {report.error}", file=sys.stderr)
    print(as_json(report) if args.json else as_text(report))
    return report.exit_code


def _replica_message(target: str) -> str:
    return (
        f"Redis at {target} is a read-only replica;"
        " run the cleanup against the primary, or use --dry-run"
    )


def _refuse_replica(client: redis.Redis, target: str) -> None:
    if client.info("replication").get("role") == "slave":
        raise Bo1Error(_replica_message(target))


def _print_actions(actions: list[tuple[str, str]]) -> None:
    for key, action in actions:
        print(f"{action:<16} {key}", file=sys.stderr)


def _progress(tally: job.Tally) -> None:
    print(f"\r  scanned {tally.scanned} keys", end="", file=sys.stderr, flush=True)
