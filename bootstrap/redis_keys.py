"""The Redis key patterns, in one place: ACLs, docs and the cleanup job all read them here."""

from __future__ import annotations

from dataclasses import dataclass

DAY = 24 * 60 * 60


@dataclass(frozen=True)
class KeyPattern:
    prefix: str  # the literal start of every key of this kind, e.g. "session:"
    template: str  # how a key is built, for people
    redis_type: str
    ttl_seconds: int
    purpose: str

    @property
    def glob(self) -> str:
        """The pattern for SCAN MATCH and for ACL key rules."""
        return f"{self.prefix}*"


PATTERNS = (
    KeyPattern("session:", "session:{session_id}", "hash", 7 * DAY, "live deliberation state"),
    KeyPattern(
        "checkpoint:", "checkpoint:{session_id}:{step}", "string", 7 * DAY, "graph checkpoints"
    ),
    KeyPattern("ratelimit:", "ratelimit:{user_id}:{action}", "string", 60, "rate-limit counters"),
    KeyPattern("cache:", "cache:{key}", "string", 30 * DAY, "cached LLM and embedding results"),
)
