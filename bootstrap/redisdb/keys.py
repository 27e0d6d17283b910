"""The Redis key families, in one place: the ACL file, the cleanup job, verify and
docs/REDIS_KEY_PATTERNS.md all read them here.

The built-in families describe the key space Board of One really writes: its
``RedisManager`` at the report's era (``session:``, ``metadata:``), LangGraph's
``RedisSaver`` (four families per thread) and the report's planned ones
(``ratelimit:``, ``cache:``). A stack adds families for a later app release in
its config (``redisKeyFamilies``), so a new release needs configuration, not code.

Each family also says how the cleanup job treats its keys, so the job's rules
are data, not code:

- ``on_no_ttl``: a key without a TTL gets ``ttl_seconds`` ("expire") or goes ("delete");
- ``max_ttl_seconds``: a TTL above it is a bug, and the key is deleted;
- ``parent_prefix``: the key goes when its parent (same id) is gone;
- ``thread``: the key belongs to a LangGraph thread, all of whose keys share one expiry.

A key's id is the first segment after its prefix: ``checkpoint:{thread}:{ns}:{id}``
belongs to thread ``{thread}`` even though the namespace itself may hold colons.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

DAY = 24 * 60 * 60

# The latest-checkpoint pointer of a thread's root namespace: the saver rewrites it on
# every step, so it is the newest key of a live thread; the others follow its expiry.
THREAD_ANCHOR = "checkpoint_latest:{thread}:__empty__"


@dataclass(frozen=True)
class KeyFamily:
    prefix: str  # the literal start of every key of this family, e.g. "session:"
    template: str  # how a key is built, for people
    redis_type: str
    ttl_seconds: int
    owner: str  # who writes it
    purpose: str
    example: str
    on_no_ttl: Literal["expire", "delete"] = "expire"
    max_ttl_seconds: int | None = None
    parent_prefix: str | None = None
    thread: bool = False
    acl_pattern: str | None = None  # default: prefix + "*"

    @property
    def glob(self) -> str:
        """The pattern for SCAN MATCH."""
        return f"{self.prefix}*"

    @property
    def acl(self) -> str:
        """The key pattern the application's ACL user gets for this family."""
        return self.acl_pattern or self.glob


APP = "Board of One app (RedisManager)"
SAVER = "LangGraph RedisSaver"
REPORT = "Week 3.5 report (not used by the app yet)"
CHECKPOINT_TTL = 7 * DAY

# The saver's two search indexes are named "checkpoint" and "checkpoint_write": the ACL
# pattern must cover those names too, which only "checkpoint*" does.
_SAVER_ACL = "checkpoint*"

FAMILIES = (
    KeyFamily(
        "session:", "session:{session_id}", "string (JSON)", DAY, APP,
        "deliberation state, written with SETEX", "session:bo1_5f0c1e9a-...",
    ),
    KeyFamily(
        "metadata:", "metadata:{session_id}", "string (JSON)", DAY, APP,
        "session metadata and kill switches, written with SETEX", "metadata:bo1_5f0c1e9a-...",
    ),
    KeyFamily(
        "checkpoint:", "checkpoint:{thread}:{ns}:{checkpoint_id}", "JSON", CHECKPOINT_TTL,
        SAVER, "graph checkpoints of a thread", "checkpoint:5f0c1e9a-...:__empty__:1f1e...",
        thread=True, acl_pattern=_SAVER_ACL,
    ),
    KeyFamily(
        "checkpoint_latest:", "checkpoint_latest:{thread}:{ns}", "string", CHECKPOINT_TTL,
        SAVER, "pointer to a thread's newest checkpoint",
        "checkpoint_latest:5f0c1e9a-...:__empty__",
        thread=True, acl_pattern=_SAVER_ACL,
    ),
    KeyFamily(
        "checkpoint_write:", "checkpoint_write:{thread}:{ns}:{checkpoint_id}:{task}:{idx}", "JSON",
        CHECKPOINT_TTL, SAVER, "pending writes of a checkpoint",
        "checkpoint_write:5f0c1e9a-...:__empty__:1f1e...:d0fa...:0",
        thread=True, acl_pattern=_SAVER_ACL,
    ),
    KeyFamily(
        "write_keys_zset:", "write_keys_zset:{thread}:{ns}:{checkpoint_id}", "sorted set",
        CHECKPOINT_TTL, SAVER, "index of a checkpoint's write keys",
        "write_keys_zset:5f0c1e9a-...:__empty__:1f1e...", thread=True,
    ),
    KeyFamily(
        "ratelimit:", "ratelimit:{user_id}:{action}", "string", 60, REPORT,
        "rate-limit counters", "ratelimit:u_42:chat",
        on_no_ttl="delete", max_ttl_seconds=DAY,
    ),
    KeyFamily(
        "cache:", "cache:{key}", "string", 30 * DAY, REPORT,
        "cached LLM and embedding results", "cache:embed:9b1d",
    ),
)  # fmt: skip


def with_extra(extra: Iterable[KeyFamily]) -> tuple[KeyFamily, ...]:
    """The built-in families plus a stack's own (``redisKeyFamilies``), checked for clashes."""
    families = (*FAMILIES, *extra)
    prefixes = [f.prefix for f in families]
    for family in families:
        clash = next(
            (p for p in prefixes if p != family.prefix and p.startswith(family.prefix)), None
        )
        if clash:
            raise ValueError(f"key family {family.prefix!r} overlaps {clash!r}")
    duplicates = sorted({p for p in prefixes if prefixes.count(p) > 1})
    if duplicates:
        raise ValueError(f"key family {duplicates[0]!r} is defined twice")
    return families


def family_for(key: str, families: Iterable[KeyFamily] = FAMILIES) -> KeyFamily | None:
    return next((f for f in families if key.startswith(f.prefix)), None)


def key_id(family: KeyFamily, key: str) -> str:
    """The first segment after the prefix: a session id, a thread id."""
    return key[len(family.prefix) :].split(":", 1)[0]


def parent_key(family: KeyFamily, key: str) -> str | None:
    """``{parent_prefix}{id}`` for a family with a parent, else None."""
    if family.parent_prefix is None:
        return None
    ident = key_id(family, key)
    return f"{family.parent_prefix}{ident}" if ident else None


def thread_anchor(family: KeyFamily, key: str) -> str | None:
    """The anchor key of the LangGraph thread ``key`` belongs to, or None."""
    if not family.thread:
        return None
    ident = key_id(family, key)
    return THREAD_ANCHOR.format(thread=ident) if ident else None


def acl_patterns(families: Iterable[KeyFamily]) -> list[str]:
    """The distinct ACL key patterns for ``families``, in order."""
    return list(dict.fromkeys(f.acl for f in families))
