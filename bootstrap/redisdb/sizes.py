"""Redis memory sizes ('256mb') as Redis reads them: k/m/g are powers of 1000, kb/mb/gb of 1024."""

from __future__ import annotations

import re

REDIS_MEMORY = re.compile(r"^(?P<n>\d+)(?P<unit>b|k|kb|m|mb|g|gb)?$", re.I)
_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 10**6, "mb": 1024**2}
_UNITS |= {"g": 10**9, "gb": 1024**3}


def redis_bytes(value: str) -> int:
    """'256mb' -> 268435456; ValueError for anything Redis would not accept."""
    match = REDIS_MEMORY.match(value.strip())
    if not match:
        raise ValueError(f"not a Redis memory size: {value!r}")
    return int(match["n"]) * _UNITS[(match["unit"] or "").lower()]
