"""Run the real ``bo1-infra`` console script as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BO1_INFRA = Path(sys.executable).parent / "bo1-infra"


def _env(extra: Mapping[str, str] | None) -> dict[str, str]:
    """The caller's environment without any PG*, REDIS* or BO1_* leaking in, plus ``extra``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "REDIS", "BO1_"))}
    return {**base, **(extra or {})}


def run_cli(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``bo1-infra ARGS`` to completion with a clean libpq environment plus ``env``."""
    return subprocess.run(
        [str(BO1_INFRA), *args],
        env=_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def start_cli(*args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``bo1-infra ARGS`` in the background; the caller waits for it."""
    return subprocess.Popen(
        [str(BO1_INFRA), *args],
        env=_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        stdin=subprocess.DEVNULL,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A user error: non-zero exit, no traceback, exactly one line on stderr naming ``needles``."""
    assert result.returncode != 0, result
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]
