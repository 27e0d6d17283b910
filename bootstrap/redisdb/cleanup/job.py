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
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import redis

from bootstrap.redisdb.keys import FAMILIES, THREAD_ANCHOR, KeyFamily

SCRIPT = (Path(__file__).with_name("batch.lua")).read_text()
ACTIONS = ("expire", "align_thread", "delete_no_ttl", "delete_long_ttl", "delete_orphan")


def rules(families: Iterable[KeyFamily] = FAMILIES) -> str:
    """The families' cleanup rules as batch.lua reads them."""
    return json.dumps(
        [
            {
                "prefix": f.prefix,
                "ttl": f.ttl_seconds,
                "on_no_ttl": f.on_no_ttl,
                "max_ttl": f.max_ttl_seconds,
                "parent_prefix": f.parent_prefix,
                "thread": f.thread,
                "anchor": THREAD_ANCHOR.split("{thread}"),
            }
            for f in families
        ]
    )


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
    families: Iterable[KeyFamily] = FAMILIES,
    batch: int = 1000,
    on_actions: Callable[[list[tuple[str, str]]], None] | None = None,
    on_progress: Callable[[Tally], None] | None = None,
) -> Tally:
    """One SCAN pass over the whole keyspace; returns the counts."""
    script = client.register_script(SCRIPT)
    flags = ["1" if dry_run else "0", "1" if on_actions else "0"]
    judged = rules(families)
    tally = Tally()
    cursor = "0"
    while True:
        result: BatchResult = json.loads(script(args=[cursor, batch, judged, *flags]))
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
