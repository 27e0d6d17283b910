"""The cleanup job's loop: one SCAN pass, driven batch by batch from the server side.

Each call of batch.lua advances the SCAN cursor by one step and judges (and, in a
real run, cleans) the keys of that step, so a batch is one round trip and no key
crosses the network. Only counters grow with the keyspace; the actions of a batch
(with --verbose) are handed on and dropped. SCAN may return a key twice while the
keyspace rehashes; every action is idempotent, so a repeat costs only a count.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import redis

from bootstrap.redisdb.keys import PATTERNS

SCRIPT = (Path(__file__).with_name("batch.lua")).read_text()
RULES = json.dumps(
    [
        {
            "prefix": p.prefix,
            "ttl": p.ttl_seconds,
            "on_no_ttl": p.on_no_ttl,
            "max_ttl": p.max_ttl_seconds,
            "parent_prefix": p.parent_prefix,
        }
        for p in PATTERNS
    ]
)
ACTIONS = ("expire", "delete_no_ttl", "delete_long_ttl", "delete_orphan")


class BatchResult(TypedDict):
    """What batch.lua returns (cjson encodes an empty table as {}, hence the unions)."""

    cursor: str
    scanned: int
    seen: dict[str, int]
    actions: dict[str, dict[str, int]]
    unknown: int
    gone: int
    detail: list[list[str]] | dict[str, str]


@dataclass
class Tally:
    scanned: int = 0
    unknown: int = 0
    gone: int = 0
    seen: Counter[str] = field(default_factory=Counter)
    actions: dict[str, Counter[str]] = field(default_factory=dict)
    batches: int = 0

    def add(self, result: BatchResult) -> None:
        self.batches += 1
        self.scanned += result["scanned"]
        self.unknown += result["unknown"]
        self.gone += result["gone"]
        self.seen.update(result["seen"])
        for prefix, per in result["actions"].items():
            self.actions.setdefault(prefix, Counter()).update(per)

    def total(self, action: str) -> int:
        return sum(per[action] for per in self.actions.values())


def run(
    client: redis.Redis,
    *,
    dry_run: bool,
    batch: int = 1000,
    on_actions: Callable[[list[tuple[str, str]]], None] | None = None,
    on_progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """One SCAN pass over the whole keyspace; returns the counts."""
    script = client.register_script(SCRIPT)
    flags = ["1" if dry_run else "0", "1" if on_actions else "0"]
    tally = Tally()
    cursor = "0"
    while True:
        result: BatchResult = json.loads(script(args=[cursor, batch, RULES, *flags]))
        tally.add(result)
        detail = result["detail"]
        if on_actions and isinstance(detail, list):
            on_actions([(k, a) for k, a in detail])
        if on_progress:
            on_progress(tally)
        cursor = result["cursor"]
        if cursor == "0":
            return tally


@dataclass(frozen=True)
class Memory:
    used: int
    limit: int  # 0: no maxmemory

    @property
    def ratio(self) -> float | None:
        return self.used / self.limit if self.limit else None


def memory(client: redis.Redis) -> Memory:
    info = client.info("memory")
    return Memory(int(info["used_memory"]), int(info.get("maxmemory", 0)))
