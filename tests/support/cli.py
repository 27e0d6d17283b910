"""Run the real ``bo1-infra`` console script as a separate process."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

BO1_INFRA = Path(sys.executable).parent / "bo1-infra"


def run_cli(*args: str, env: Mapping[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``bo1-infra ARGS`` with a clean libpq environment plus ``env``."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "REDIS", "BO1_"))}
    return subprocess.run(
        [str(BO1_INFRA), *args], env={**base, **(env or {})}, capture_output=True,
        text=True, timeout=timeout, stdin=subprocess.DEVNULL,
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
