"""The Redis key patterns, in one place: the ACLs, the app's env file, the cleanup job and
docs/REDIS_KEY_PATTERNS.md all read them here.

Each pattern also says how the cleanup job treats its keys (``on_no_ttl``,
``max_ttl_seconds``, ``parent_prefix``), so the job's rules are data, not code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DAY = 24 * 60 * 60


@dataclass(frozen=True)
class KeyPattern:
    prefix: str  # the literal start of every key of this kind, e.g. "session:"
    template: str  # how a key is built, for people
    redis_type: str
    ttl_seconds: int
    purpose: str
    example: str
    on_no_ttl: Literal["expire", "delete"] = "expire"  # a key without TTL gets ttl_seconds, or goes
    max_ttl_seconds: int | None = None  # a TTL above this is a bug: the key is deleted
    parent_prefix: str | None = None  # deleted when its parent key (same id) is gone

    @property
    def glob(self) -> str:
        """The pattern for SCAN MATCH and for ACL key rules."""
        return f"{self.prefix}*"


PATTERNS = (
    KeyPattern(
        "session:", "session:{session_id}", "hash", 7 * DAY,
        "live deliberation state", "session:5f0c1e9a",
    ),
    KeyPattern(
        "checkpoint:", "checkpoint:{session_id}:{step}", "string", 7 * DAY,
        "graph checkpoints of a session", "checkpoint:5f0c1e9a:12",
        parent_prefix="session:",
    ),
    KeyPattern(
        "ratelimit:", "ratelimit:{user_id}:{action}", "string", 60,
        "rate-limit counters", "ratelimit:u_42:chat",
        on_no_ttl="delete", max_ttl_seconds=DAY,
    ),
    KeyPattern(
        "cache:", "cache:{key}", "string", 30 * DAY,
        "cached LLM and embedding results", "cache:embed:9b1d",
    ),
)  # fmt: skip


def pattern_for(key: str) -> KeyPattern | None:
    return next((p for p in PATTERNS if key.startswith(p.prefix)), None)


def parent_key(pattern: KeyPattern, key: str) -> str | None:
    """checkpoint:{session_id}:{step} -> session:{session_id}."""
    if pattern.parent_prefix is None:
        return None
    rest = key[len(pattern.prefix) :]
    session_id, sep, _step = rest.rpartition(":")
    return f"{pattern.parent_prefix}{session_id}" if sep and session_id else None
