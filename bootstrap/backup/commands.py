"""``bo1-infra backup run|list|restore|drill``: one function per verb, each an exit code."""

from __future__ import annotations

import argparse
import json
import time
from datetime import UTC, datetime
from typing import Any

from bootstrap.backup.pgbackrest import BackupHost, host_from
from bootstrap.backup.restore import RestorePlan, parse_target, restore
from bootstrap.errors import BackupError


def _print(args: argparse.Namespace, data: object, text: str) -> None:
    print(json.dumps(data, indent=2) if args.json else text)


def _when(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _mb(n: int) -> str:
    return f"{n / 1e6:.1f} MB"


def backups(stanza: dict[str, Any]) -> list[dict[str, Any]]:
    """The stanza's backups, oldest first, in the shape `backup list --json` prints."""
    return [
        {
            "label": b["label"],
            "type": b["type"],
            "started": _when(b["timestamp"]["start"]),
            "stopped": _when(b["timestamp"]["stop"]),
            "size_bytes": b["info"]["size"],
            "repository_bytes": b["info"]["repository"]["delta"],
            "based_on": b.get("prior"),
        }
        for b in stanza.get("backup", [])
    ]


def backup_run(args: argparse.Namespace) -> int:
    host = host_from(args)
    host.pgbackrest("stanza-create")  # idempotent: a fresh repository gets its stanza
    started = time.monotonic()
    host.pgbackrest(f"--type={args.type}", "backup")
    seconds = time.monotonic() - started
    newest = backups(host.info())[-1]
    newest["seconds"] = round(seconds, 2)
    _print(
        args,
        newest,
        f"Backup {newest['label']} ({newest['type']}) in {seconds:.1f} s:"
        f" {_mb(newest['size_bytes'])} of data, {_mb(newest['repository_bytes'])} written"
        " to the repository.",
    )
    return 0


def backup_list(args: argparse.Namespace) -> int:
    stanza = host_from(args).info()
    rows = backups(stanza)
    archive = (stanza.get("archive") or [{}])[-1]
    earliest = rows[0]["stopped"] if rows else None
    data = {"backups": rows, "restorable_from": earliest, "newest_wal": archive.get("max")}
    lines = [f"{'label':<26} {'type':<5} {'stopped':<21} {'size':>10} {'in repo':>10}"]
    lines += [
        f"{r['label']:<26} {r['type']:<5} {r['stopped']:<21} {_mb(r['size_bytes']):>10}"
        f" {_mb(r['repository_bytes']):>10}"
        for r in rows
    ]
    lines.append(
        f"{len(rows)} backup(s); restorable from {earliest} to the newest archived WAL"
        f" ({archive.get('max')})"
        if rows
        else "No backups yet: `bo1-infra backup run --type full` takes the first."
    )
    _print(args, data, "\n".join(lines))
    return 0


def backup_restore(args: argparse.Namespace) -> int:
    plan = RestorePlan(
        target=None if args.latest else parse_target(args.to),
        directory=None if args.in_place else args.target_dir,
    )
    result = restore(host_from(args), plan)
    _print(args, result.as_dict(), result.describe())
    return 0


def backup_restore_redis(args: argparse.Namespace) -> int:
    from bootstrap.backup.redis_restore import restore_redis, snapshots_dir

    host = host_from(args)
    snapshots = args.snapshots_dir or snapshots_dir(host)
    result = restore_redis(host, snapshots, args.snapshot or "latest", args.redis_data_dir)
    _print(args, result.as_dict(), result.describe())
    return 0


def backup_drill(args: argparse.Namespace) -> int:
    host: BackupHost = host_from(args)
    done = host.run([f"{host.config_dir}/bo1-drill"])
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        said = (done.stderr.strip().splitlines() or lines or ["no output"])[-1]
        raise BackupError(f"the drill did not report (exit {done.returncode}): {said}") from None
    verdict = "passed" if result["ok"] else "FAILED"
    _print(
        args,
        result,
        f"Drill {verdict}: newest backup {result['newest_backup'] or 'none'},"
        f" restorable to {result['restorable_to'] or '-'},"
        f" restored and started in {result['restore_seconds']} s; {result['detail']}",
    )
    return 0 if result["ok"] else 1
