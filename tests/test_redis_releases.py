"""No stack pins an unmaintained or unpatched Redis: the lines, their floors and their images."""

from __future__ import annotations

from typing import get_args

import pytest

from bootstrap.redisdb.releases import (
    LINES,
    SECURITY_FLOORS,
    LineName,
    check_image,
    version_of,
)
from infra.settings import SettingsError, from_config
from tests.support.pulumi_harness import stack_config


def floor_of(line: str) -> tuple[int, ...]:
    floor = next(f for f in SECURITY_FLOORS if f.line == line)
    return tuple(int(part) for part in floor.minimum.split("."))


@pytest.mark.parametrize("line", LINES, ids=lambda line: line.line)
def test_every_pinned_image_is_at_or_above_its_lines_last_security_release(line: object) -> None:
    from bootstrap.redisdb.releases import Line

    assert isinstance(line, Line)
    version = version_of(line.image)
    assert version[:2] == tuple(int(p) for p in line.line.split("."))
    assert version >= floor_of(line.line), f"{line.image} is below {floor_of(line.line)}"
    check_image(line.image, line.line)  # the same rule the settings apply


def test_every_floor_cites_its_release_note() -> None:
    for floor in SECURITY_FLOORS:
        assert floor.release_note.endswith(f"/releases/tag/{floor.minimum}")
        assert floor.minimum.startswith(floor.line + ".")


def test_the_setting_offers_exactly_the_pinned_lines() -> None:
    assert set(get_args(LineName)) == {line.line for line in LINES}
    assert {line.line for line in LINES} <= {f.line for f in SECURITY_FLOORS}


def test_only_line_8_has_the_modules_langgraph_needs() -> None:
    assert {line.line: line.modules for line in LINES} == {"8.8": True, "7.4": False, "7.2": False}


@pytest.mark.parametrize("stack", ["dev", "staging", "prod"])
def test_every_stack_runs_a_pinned_patched_redis(stack: str) -> None:
    settings = from_config(stack, stack_config(stack))
    image = settings.redis_image_ref
    assert "@sha256:" in image
    check_image(image, settings.redis_line)


@pytest.mark.parametrize(
    ("image", "problem"),
    [
        ("redis:8.8.0-alpine@sha256:" + "a" * 64, "below 8.8.1"),
        ("redis:8.8.3-alpine", "pinned by tag and digest"),
        ("redis:latest@sha256:" + "a" * 64, "pinned by tag and digest"),
        ("redis:7.2.15-alpine@sha256:" + "a" * 64, "not on line 8.8"),
    ],
)
def test_a_stack_image_below_the_floor_or_unpinned_is_refused(image: str, problem: str) -> None:
    with pytest.raises(SettingsError) as refused:
        from_config("dev", {"redisImage": image})
    assert problem in refused.value.message and "redisImage" in refused.value.message


def test_a_patched_image_of_the_stack_line_is_accepted() -> None:
    image = "registry.example/redis:7.2.16-bookworm@sha256:" + "b" * 64
    assert from_config("dev", {"redisLine": "7.2", "redisImage": image}).redis_image_ref == image
