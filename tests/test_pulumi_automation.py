"""A real `pulumi up`, a second `up` and a refresh that change nothing, and `pulumi destroy`
(the volumes kept with protectData), via the Automation API: scripts/e2e.sh's run, in pytest.

Needs the `pulumi` CLI and a Docker daemon, so it skips where either is missing
(as on the CI machines, which have neither). It uses its own throwaway stack,
local file backend and free ports, so it never touches dev, staging or prod.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_py

from bootstrap import paths
from tests.support.ports import free_port

ROOT = paths.ROOT


def _missing_tools() -> str | None:
    if shutil.which("pulumi") is None:
        return "the pulumi CLI is not on PATH (install it: https://www.pulumi.com/docs/install/)"
    if shutil.which("docker") is None:
        return "the docker CLI is not on PATH"
    probe = subprocess.run(
        ["docker", "info", "--format", "{{.ServerVersion}}"],
        capture_output=True,
        text=True,
        timeout=20,
    )
    if probe.returncode != 0:
        return f"no Docker daemon answers `docker info`: {probe.stderr.strip().splitlines()[-1] if probe.stderr.strip() else 'unknown error'}"
    return None


MISSING = _missing_tools()
pytestmark = pytest.mark.skipif(
    MISSING is not None, reason=f"real Pulumi + Docker run skipped: {MISSING}"
)


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[object]:
    from pulumi import automation as auto

    project = tmp_path / "project"
    project.mkdir()
    # A copy of the project file that points at the real program and virtualenv.
    (project / "Pulumi.yaml").write_text(
        "name: bo1-infra\n"
        "runtime:\n  name: python\n  options:\n    toolchain: pip\n"
        f"    virtualenv: {ROOT / '.venv'}\n"
        f"main: {ROOT / 'infra'}\n"
    )
    env = {
        "PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}",
        "PULUMI_CONFIG_PASSPHRASE": "integration-test-only",
    }
    (tmp_path / "state").mkdir()
    workspace = auto.LocalWorkspaceOptions(
        work_dir=str(project), env_vars=env, secrets_provider="passphrase"
    )
    name = f"itest{free_port()}"
    s = auto.create_stack(stack_name=name, work_dir=str(project), opts=workspace)
    s.set_all_config(
        {
            "bo1-infra:postgresPort": auto.ConfigValue(str(free_port())),
            "bo1-infra:redisPort": auto.ConfigValue(str(free_port())),
            "bo1-infra:postgresSharedBuffers": auto.ConfigValue("128MB"),
            "bo1-infra:protectData": auto.ConfigValue("true"),
            # Not dev: the application's API keys are required, as in staging and prod.
            "bo1-infra:anthropicApiKey": auto.ConfigValue("itest-anthropic-key", secret=True),
            "bo1-infra:voyageApiKey": auto.ConfigValue("itest-voyage-key", secret=True),
        }
    )
    try:
        yield s
    finally:
        s.destroy(on_output=lambda _: None)
        s.workspace.remove_stack(name)
        for volume in (f"bo1-{name}-pgdata", f"bo1-{name}-redisdata"):
            subprocess.run(["docker", "volume", "rm", "-f", volume], capture_output=True)


def test_up_again_changes_nothing_and_destroy_removes_everything(stack: object) -> None:
    from pulumi import automation as auto

    assert isinstance(stack, auto.Stack)
    first = stack.up(on_output=lambda _: None)
    assert first.summary.result == "succeeded"
    outputs = first.outputs
    assert outputs["databaseUrl"].secret and outputs["redisOpsUrl"].secret
    with psycopg.connect(outputs["postgresSuperuserUrl"].value) as conn:
        assert conn.execute(
            "SELECT extversion FROM pg_available_extensions WHERE name = 'vector'"
        ).fetchone()
    with redis_py.Redis.from_url(outputs["redisOpsUrl"].value) as r:
        assert r.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}

    second = stack.up(on_output=lambda _: None)
    changes = second.summary.resource_changes or {}
    assert set(changes) == {"same"}, json.dumps(changes)
    stack.refresh(on_output=lambda _: None)
    after_refresh = stack.preview(on_output=lambda _: None).change_summary
    assert set(after_refresh) == {"same"}, json.dumps(after_refresh)

    stack.destroy(on_output=lambda _: None)
    for volume in (outputs["postgresVolume"].value, outputs["redisVolume"].value):
        kept = subprocess.run(["docker", "volume", "inspect", volume], capture_output=True)
        assert kept.returncode == 0, f"protectData: {volume} must survive destroy"
    left = subprocess.run(
        ["docker", "ps", "-a", "--filter", f"name={outputs['postgresContainer'].value}", "-q"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert left == ""
