"""Helpers shared by the benchmark scripts: whole-process timing and medians."""

from __future__ import annotations

import itertools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from bootstrap import paths

ROOT = paths.ROOT
VENV_BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT))  # so `tests.support` (the real-server helpers) imports

from tests.support.databases import admin  # noqa: E402
from tests.support.postgres_server import PostgresServer  # noqa: E402


def timed_run(argv: Sequence[str], env: Mapping[str, str]) -> float:
    """Wall time of one whole process, start to exit; a failure aborts the benchmark."""
    started = time.perf_counter()
    proc = subprocess.run(argv, env={**os.environ, **env}, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return elapsed


def interleaved(rounds: int, cases: Mapping[str, Callable[[], float]]) -> dict[str, list[float]]:
    """Run every case once per round, in turn, so machine noise hits them alike."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, case in cases.items():
            samples[name].append(case())
    return samples


def verdict(measured: float, target: float) -> str:
    return "meets" if measured <= target else "MISSES"


def database_factory(server: PostgresServer, prefix: str) -> Callable[[], str]:
    """A function that creates a new, empty database on ``server`` each call and names it."""
    numbers = itertools.count()

    def create() -> str:
        name = f"{prefix}_{next(numbers)}"
        with admin(server) as conn:
            conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        return name

    return create


def report(samples: Mapping[str, list[float]]) -> dict[str, float]:
    medians = {name: statistics.median(values) for name, values in samples.items()}
    width = max(len(n) for n in samples)
    for name, values in samples.items():
        print(
            f"  {name:<{width}}  median {medians[name] * 1000:7.1f} ms"
            f"  (min {min(values) * 1000:.1f}, max {max(values) * 1000:.1f}, n={len(values)})"
        )
    return medians
