"""Redis release lines: which a stack may run, their security floors, images and licenses.

A stack picks a line (``redisLine``); the line decides the pinned image, whether
the JSON and Search modules are there (LangGraph's RedisSaver needs both), and
the license. ``SECURITY_FLOORS`` holds, for every maintained line, the newest
patch known to carry the last urgent security fixes; a test fails when a pinned
image (or a stack's own ``redisImage``) falls below its line's floor. Add a row
here when Redis publishes a new security release.

Images are the Docker Official Image ``redis``, Alpine variant, pinned by tag
and the digest of its multi-architecture index, so the tag cannot move under a
stack. Check a digest with ``docker buildx imagetools inspect redis:TAG``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

RELEASES = "https://github.com/redis/redis/releases/tag/"


@dataclass(frozen=True)
class SecurityFloor:
    line: str  # "8.8"
    minimum: str  # the newest patch with the last urgent fixes, e.g. "8.8.1"
    release_note: str  # where the fixes are listed


# July 2026: urgent remote-code-execution fixes for every supported line.
SECURITY_FLOORS = (
    SecurityFloor("8.8", "8.8.1", RELEASES + "8.8.1"),
    SecurityFloor("8.6", "8.6.5", RELEASES + "8.6.5"),
    SecurityFloor("8.4", "8.4.5", RELEASES + "8.4.5"),
    SecurityFloor("8.2", "8.2.8", RELEASES + "8.2.8"),
    SecurityFloor("7.4", "7.4.10", RELEASES + "7.4.10"),
    SecurityFloor("7.2", "7.2.15", RELEASES + "7.2.15"),
)


@dataclass(frozen=True)
class Line:
    line: str
    image: str  # name:tag@sha256:digest
    modules: bool  # ships RedisJSON and the Query Engine (needed by LangGraph checkpoints)
    license: str


LINES = (
    Line(
        "8.8",
        "redis:8.8.3-alpine@sha256:0b2b77d3ea5078274795e3177cdbdada8b96316684a38911d528534ed679b5ec",
        modules=True,
        license="RSALv2, SSPLv1 or AGPLv3 (your choice)",
    ),
    Line(
        "7.4",
        "redis:7.4.10-alpine@sha256:e7723ff73d963f5cc6d9c4643ea3d989527a402a319239054e9472a7fb9219a2",
        modules=False,
        license="RSALv2 or SSPLv1",
    ),
    Line(
        "7.2",
        "redis:7.2.15-alpine@sha256:05a97a479bc73de66f087dc05b569010772880f778cc8671fa6b8aadee32e5c6",
        modules=False,
        license="BSD-3-Clause",
    ),
)
LineName = Literal["8.8", "7.4", "7.2"]  # LINES' names; a test keeps the two equal
DEFAULT_LINE: LineName = "8.8"
LINE_NAMES = tuple(line.line for line in LINES)

# Where the official image keeps its modules; a custom redis.conf must load them itself.
MODULE_DIR = "/usr/local/lib/redis/modules"
MODULE_FILES = ("rejson.so", "redisearch.so")
# What MODULE LIST calls them once loaded.
MODULE_NAMES = frozenset({"ReJSON", "search"})

_IMAGE = re.compile(
    r"^(?P<name>[a-z0-9][a-z0-9._/-]*):(?P<tag>(?P<version>\d+\.\d+\.\d+)[A-Za-z0-9._-]*)"
    r"@sha256:(?P<digest>[0-9a-f]{64})$"
)


def line(name: str) -> Line:
    return next(candidate for candidate in LINES if candidate.line == name)


def version_of(image: str) -> tuple[int, ...]:
    """(8, 8, 3) from ``redis:8.8.3-alpine@sha256:...``; ValueError when unpinned or unversioned."""
    match = _IMAGE.match(image)
    if not match:
        raise ValueError(
            "must be pinned by tag and digest with an X.Y.Z version, such as "
            f"{LINES[0].image.split('@')[0]}@sha256:<64 hex digits>"
        )
    return tuple(int(part) for part in match["version"].split("."))


def check_image(image: str, line_name: str) -> None:
    """ValueError unless ``image`` is pinned, on ``line_name``, and at or above its floor."""
    version = version_of(image)
    if f"{version[0]}.{version[1]}" != line_name:
        raise ValueError(f"is Redis {'.'.join(map(str, version))}, not on line {line_name}")
    floor = next((f for f in SECURITY_FLOORS if f.line == line_name), None)
    if floor is None:
        raise ValueError(f"line {line_name} has no known security floor; use one of {LINE_NAMES}")
    minimum = tuple(int(part) for part in floor.minimum.split("."))
    if version < minimum:
        raise ValueError(
            f"is below {floor.minimum}, the last security release of line {line_name}"
            f" ({floor.release_note})"
        )
