"""scripts/up.sh stops at once, saying what to install, when the Pulumi CLI or Docker is missing."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bootstrap import paths

ROOT = paths.ROOT
UP = ROOT / "scripts" / "up.sh"


def run_up(bin_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # Only system tools plus the test's own bin dir: no real pulumi or docker.
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "HOME": os.environ.get("HOME", "/root")}
    return subprocess.run(
        ["bash", str(UP), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def stand_in(bin_dir: Path, name: str, script: str) -> Path:
    """A stand-in CLI that records its calls in <name>.calls."""
    path = bin_dir / name
    path.write_text(f'#!/bin/sh\necho "$@" >> "{bin_dir}/{name}.calls"\n{script}\n')
    path.chmod(0o755)
    return path


def test_without_pulumi_and_docker_both_are_named_at_once(tmp_path: Path) -> None:
    started = time.monotonic()
    result = run_up(tmp_path)
    assert time.monotonic() - started < 5
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("bo1-infra up: the Pulumi CLI is not installed")
    assert "pulumi.com/docs/install" in line and "docker CLI is not installed" in line
    assert "docs.docker.com" in line and line.endswith("then re-run")


def test_without_a_docker_daemon_it_stops_before_pulumi_runs(tmp_path: Path) -> None:
    stand_in(tmp_path, "pulumi", "exit 0")
    stand_in(tmp_path, "docker", 'echo "Cannot connect to the Docker daemon" >&2; exit 1')
    result = run_up(tmp_path, "dev")
    assert result.returncode == 1
    assert "no Docker daemon answers" in result.stderr and "start Docker" in result.stderr
    assert not (tmp_path / "pulumi.calls").exists()


def test_an_old_docker_engine_is_named_with_both_versions(tmp_path: Path) -> None:
    stand_in(tmp_path, "pulumi", "exit 0")
    stand_in(tmp_path, "docker", "echo 1.40")  # Docker 19.03
    result = run_up(tmp_path, "dev")
    assert result.returncode == 1
    assert "speaks API 1.40; the program needs 1.41 or newer" in result.stderr
    assert not (tmp_path / "pulumi.calls").exists()


def test_without_the_docker_cli_it_says_to_install_docker(tmp_path: Path) -> None:
    stand_in(tmp_path, "pulumi", "exit 0")
    result = run_up(tmp_path, "dev")
    assert result.returncode == 1
    assert "docker CLI is not installed" in result.stderr and "docs.docker.com" in result.stderr
    assert "Pulumi CLI" not in result.stderr


def test_unknown_stack_lists_the_real_ones(tmp_path: Path) -> None:
    result = run_up(tmp_path, "qa")
    assert result.returncode == 1
    assert "no stack file Pulumi.qa.yaml" in result.stderr
    for stack in ("dev", "staging", "prod"):
        assert stack in result.stderr


def test_with_both_tools_it_selects_the_stack_on_the_local_backend_and_runs_up(
    tmp_path: Path,
) -> None:
    stand_in(
        tmp_path, "pulumi", 'echo "PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL" >> "$0.env"; exit 0'
    )
    stand_in(tmp_path, "docker", "echo 1.47")
    env_extra = {"PULUMI_CONFIG_PASSPHRASE": "x"}
    result = subprocess.run(
        ["bash", str(UP), "staging", "--yes"],
        env={
            "PATH": f"{tmp_path}:/usr/bin:/bin",
            "HOME": os.environ.get("HOME", "/root"),
            "PYTHON": str(ROOT / ".venv" / "bin" / "python"),
            "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
            **env_extra,
        },
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    calls = (tmp_path / "pulumi.calls").read_text().splitlines()
    assert calls == [
        "stack select staging --create --secrets-provider passphrase",
        "up --yes --stack staging",
    ]
    assert (
        f"PULUMI_BACKEND_URL=file://{tmp_path / 'state'}" in (tmp_path / "pulumi.env").read_text()
    )


def test_the_pulumi_wrapper_acts_on_the_projects_backend_and_stack(tmp_path: Path) -> None:
    """Every command the docs and the program print goes through it: same backend, same stack."""
    stand_in(
        tmp_path, "pulumi", 'echo "PULUMI_BACKEND_URL=$PULUMI_BACKEND_URL" >> "$0.env"; exit 0'
    )
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pulumi.sh"), "prod", "config", "set", "--secret", "k"],
        env={
            "PATH": f"{tmp_path}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "PULUMI_CONFIG_PASSPHRASE": "x",
        },
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        cwd=tmp_path,  # from anywhere: it runs pulumi in the project root
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "pulumi.calls").read_text().splitlines() == [
        "stack select prod --create --secrets-provider passphrase",
        "config set --secret k --stack prod",
    ]
    assert (tmp_path / "pulumi.env").read_text().splitlines() == [
        f"PULUMI_BACKEND_URL=file://{ROOT}/.pulumi-state"
    ] * 2


def test_the_pulumi_wrapper_refuses_an_unknown_stack(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "pulumi.sh"), "qa", "up"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        "bo1-infra pulumi: no stack file Pulumi.qa.yaml; stacks here: dev prod-ha prod staging"
    ]


def test_every_script_parses() -> None:
    for script in sorted((ROOT / "scripts").glob("*.sh")):
        result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True)
        assert result.returncode == 0, (script.name, result.stderr)


def test_e2e_stops_at_once_without_the_tools(tmp_path: Path) -> None:
    result = subprocess.run(
        ["bash", str(ROOT / "scripts" / "e2e.sh"), "dev"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "the Pulumi CLI is not installed" in result.stderr
    assert "e2e dev: FAILED: pulumi up" in result.stderr
