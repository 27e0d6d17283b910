"""The pooler in the real Pulumi program, under mocks: its container, its files, the secret
auth file, and where the app's URL points."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from pulumi.runtime import rpc

from bootstrap.pooler import config
from bootstrap.postgres import scram
from bootstrap.postgres.tenancy import APP_ROLE, SUPERUSER
from infra.settings import from_config
from infra.specs import pooler
from infra.specs.image import image_build
from tests.support.pulumi_harness import (
    ProgramFailed,
    ProgramRun,
    generated_password,
    plain_strings,
    resolve,
    run_program,
    stack_config,
    unwrap,
)

STACKS = ("dev", "staging", "prod")


@pytest.fixture(scope="module", params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> tuple[str, ProgramRun]:
    return request.param, run_program(request.param, stack_config(request.param))


def _pooler(run: ProgramRun) -> Any:
    (match,) = [
        r for r in run.of_type("docker:index/container:Container") if r.name.endswith("-pooler")
    ]
    return match


def test_the_pooler_runs_the_built_image_as_nobody_on_its_port(
    stack_run: tuple[str, ProgramRun],
) -> None:
    stack, run = stack_run
    settings = from_config(stack, stack_config(stack))
    box = _pooler(run)
    inputs = unwrap(box.inputs)
    assert inputs["name"] == f"bo1-{stack}-pooler"
    assert inputs["command"] == ["pgbouncer", "/etc/pgbouncer/pgbouncer.ini"]
    assert inputs["user"] == "nobody" and inputs["stopSignal"] == "SIGINT"
    assert inputs["ports"] == [
        {"internal": 6432, "external": settings.pooler_port, "ip": "127.0.0.1", "protocol": "tcp"}
    ]
    assert inputs["volumes"] == [
        {"volumeName": f"bo1-{stack}-pgsocket", "containerPath": "/var/run/postgresql"}
    ]
    assert inputs["memory"] == settings.pooler_memory_mb
    files = settings.pooler_max_client_conn + 25 + 1024
    assert inputs["ulimits"] == [{"name": "nofile", "soft": files, "hard": files}]
    assert inputs["stopTimeout"] == inputs["destroyGraceSeconds"] == 75  # idle-in-transaction 60 s
    assert inputs["healthcheck"]["tests"][:2] == ["CMD", "pg_isready"]
    image = run.named(f"bo1-{stack}-pooler-image", "docker:index/remoteImage:RemoteImage")
    assert image.inputs["name"] == image_build(settings).tag
    (build,) = run.of_type("docker:index/image:Image")
    assert build.urn in image.dependencies
    assert "pgbouncer" in Path(image_build(settings).dockerfile).read_text()


def test_its_files_are_the_rendered_ones(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    settings = from_config(stack, stack_config(stack))
    uploads = {u["file"]: u for u in unwrap(_pooler(run).inputs)["uploads"]}
    at = pooler.layout(settings)
    assert uploads[at.ini]["content"] == config.render_ini(settings.pool(), at)
    assert uploads[at.hba_file]["content"] == config.render_hba(settings.postgres_database)
    ini = uploads[at.ini]["content"]
    for line in ("pool_mode = transaction", "server_reset_query_always = 1",
                 "listen_port = 6432", "unix_socket_dir = ",
                 f"default_pool_size = {settings.pooler_default_pool_size}",
                 f"max_client_conn = {settings.pooler_max_client_conn}",
                 f"server_login_retry = {settings.pooler_server_login_retry_s}",
                 "bo1 = host=/var/run/postgresql port=5432 dbname=bo1"):  # fmt: skip
        assert line in ini.splitlines(), line


def test_the_image_refuses_a_pgbouncer_older_than_the_rendering_expects() -> None:
    dockerfile = Path(image_build(from_config("dev", stack_config("dev"))).dockerfile).read_text()
    minimum = ".".join(str(n) for n in config.IMAGE_PGBOUNCER)
    assert f"ARG PGBOUNCER_MIN={minimum}" in dockerfile
    assert 'dpkg --compare-versions "$installed" ge "$PGBOUNCER_MIN"' in dockerfile


def test_the_tested_rendering_differs_from_the_containers_only_where_the_version_does() -> None:
    """The tests run Debian's 1.18 with the same rendering, paths, ports and one key apart."""
    settings = from_config("dev", stack_config("dev"))
    container = pooler.layout(settings)
    tested = replace(container, version=(1, 18, 0))
    old = config.render_ini(settings.pool(), tested).splitlines()
    new = config.render_ini(settings.pool(), container).splitlines()
    assert [line for line in new if line not in old] == ["max_prepared_statements = 0"]
    assert [line for line in old if line not in new] == []


def test_the_auth_file_is_a_secret_of_shared_verifiers(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    box = _pooler(run)
    assert rpc.is_rpc_secret(box.inputs["uploads"])  # one secret file makes them all secret
    (content,) = [
        u["content"] for u in unwrap(box.inputs["uploads"]) if u["file"].endswith("userlist.txt")
    ]
    key = generated_password(f"bo1-{stack}-secrets-postgresScramSaltKey")
    app_pw = generated_password(f"bo1-{stack}-secrets-postgresAppPassword")
    stats_pw = generated_password(f"bo1-{stack}-secrets-poolerStatsPassword")
    assert content == (
        f'"{APP_ROLE}" "{scram.shared_verifier(app_pw, APP_ROLE, key)}"\n'
        f'"{config.STATS_USER}" "{scram.shared_verifier(stats_pw, config.STATS_USER, key)}"\n'
    )
    assert SUPERUSER not in content
    for value in (key, app_pw, stats_pw):
        assert value not in content
        assert not any(value in text for text in plain_strings(box.inputs))


def test_the_apps_url_goes_through_the_pooler_and_the_hook_knows_its_port(
    stack_run: tuple[str, ProgramRun],
) -> None:
    stack, run = stack_run
    settings = from_config(stack, stack_config(stack))
    env = resolve(run.outputs["appEnv"])[0]
    assert env["DATABASE_URL"].endswith(f"@127.0.0.1:{settings.pooler_port}/bo1")
    assert env["DATABASE_DIRECT_URL"].endswith(f"@127.0.0.1:{settings.postgres_port}/bo1")
    (hook,) = run.of_type("command:local:Command")
    assert unwrap(hook.inputs["environment"])["BO1_POOLER_PORT"] == str(settings.pooler_port)
    assert _pooler(run).urn in hook.dependencies
    assert run.outputs["poolerPort"] == settings.pooler_port
    value, secret = resolve(run.outputs["poolerStatsPassword"])
    assert secret and value == generated_password(f"bo1-{stack}-secrets-poolerStatsPassword")


@pytest.mark.parametrize(
    ("config", "says"),
    [
        ({"bo1-infra:poolerPort": "5432"}, "postgresPort and poolerPort are both 5432"),
        ({"bo1-infra:poolerDefaultPoolSize": "90"}, "keep their sum at most 87"),
        ({"bo1-infra:poolerServerLoginRetryS": "0"}, "poolerServerLoginRetryS"),
        ({"bo1-infra:poolerMaxClientConn": "lots"}, "poolerMaxClientConn"),
    ],
)
def test_bad_pooler_settings_stop_the_program_naming_them(
    config: dict[str, str], says: str
) -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_program("dev", {**stack_config("dev"), **config})
    assert says in str(failed.value)
    assert failed.value.registrations == []
