"""The cleanup summary: for people, or as JSON; and the exit code cron acts on."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

from bootstrap.redisdb.cleanup.job import ACTIONS, Memory, Tally
from bootstrap.redisdb.keys import KeyFamily

WARN_AT = 0.80  # of maxmemory
OK, MEMORY_WARNING, ERROR = 0, 1, 2


@dataclass(frozen=True)
class Report:
    target: str
    dry_run: bool
    tally: Tally
    memory: Memory
    seconds: float
    families: tuple[KeyFamily, ...]

    @property
    def memory_warning(self) -> bool:
        ratio = self.memory.ratio
        return ratio is not None and ratio >= WARN_AT

    @property
    def exit_code(self) -> int:
        return MEMORY_WARNING if self.memory_warning else OK


def as_json(report: Report) -> str:
    t, m = report.tally, report.memory
    data = {
        "target": report.target,
        "dry_run": report.dry_run,
        "scanned": t.scanned,
        "seconds": round(report.seconds, 3),
        "patterns": {
            p.glob: {
                "seen": t.seen[p.prefix],
                **{a: t.actions.get(p.prefix, Counter())[a] for a in ACTIONS},
            }
            for p in report.families
        },
        "actions": {a: t.total(a) for a in ACTIONS},
        "unknown": t.unknown,
        "gone_during_scan": t.gone,
        "memory": {
            "used_bytes": m.used,
            "maxmemory_bytes": m.limit,
            "used_ratio": None if m.ratio is None else round(m.ratio, 4),
            "warning": report.memory_warning,
        },
        "exit_code": report.exit_code,
    }
    return json.dumps(data, indent=2)


def as_text(report: Report) -> str:
    mode = " (dry run: nothing changed)" if report.dry_run else ""
    lines = [f"redis-cleanup on {report.target}{mode}"]
    t = report.tally
    verb = "would " if report.dry_run else ""
    lines.append(f"  scanned   {t.scanned} keys in {report.seconds:.2f} s ({t.batches} batches)")
    for p in report.families:
        acted = t.actions.get(p.prefix, Counter())
        done = (
            ", ".join(f"{n} {a.replace('_', ' ')}" for a, n in acted.items() if n)
            or "nothing to do"
        )
        lines.append(f"  {p.glob:<19} {t.seen[p.prefix]:>9} keys; {verb}{done}")
    lines.append(f"  unknown   {t.unknown} keys matched no family and were left untouched")
    m = report.memory
    share = f" ({m.ratio:.1%})" if m.ratio is not None else ""
    limit = f"{m.limit / 2**20:.1f} MB" if m.limit else "no maxmemory"
    lines.append(f"  memory    {m.used / 2**20:.1f} MB used of {limit}{share}")
    if report.memory_warning:
        lines.append(f"  WARNING   memory use is at or above {WARN_AT:.0%} of maxmemory")
    return "\n".join(lines)
