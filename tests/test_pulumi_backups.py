"""The backup parts of the real Pulumi program, under mocks: the image it builds, what
Postgres gets for archive-push, the sidecar and its schedule, and the secret passphrase."""

from __future__ import annotations

from typing import Any

import pytest

from bootstrap.backup.policy import STANZA
from infra.settings import from_config
from infra.specs import backup
from infra.specs.image import IMAGE_DIR, image_build
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


def _container(run: ProgramRun, suffix: str) -> Any:
    (match,) = [
        r for r in run.of_type("docker:index/container:Container") if r.name.endswith(suffix)
    ]
    return match


def _uploads(registration: Any) -> dict[str, str]:
    return {u["file"]: u["content"] for u in unwrap(registration.inputs)["uploads"]}


@pytest.fixture(scope="module", params=("staging", "prod"))
def backed_up(request: pytest.FixtureRequest) -> tuple[str, ProgramRun]:
    return request.param, run_program(request.param, stack_config(request.param))


def test_the_image_is_built_from_the_pinned_base_and_postgres_runs_it(
    backed_up: tuple[str, ProgramRun],
) -> None:
    stack, run = backed_up
    settings = from_config(stack, stack_config(stack))
    (image,) = run.of_type("docker:index/image:Image")
    inputs = unwrap(image.inputs)
    build = image_build(settings)
    assert inputs["imageName"] == build.tag and inputs["skipPush"] is True
    assert inputs["build"]["args"] == {"BASE_IMAGE": settings.postgres_image}
    assert "@sha256:" in settings.postgres_image
    assert inputs["build"]["context"].endswith("infra/images/postgres")
    dockerfile = (IMAGE_DIR / "Dockerfile").read_text()
    assert "FROM ${BASE_IMAGE}" in dockerfile and "pgbackrest" in dockerfile
    remote = run.named(f"bo1-{stack}-postgres-image", "docker:index/remoteImage:RemoteImage")
    assert remote.inputs["name"] == build.tag and image.urn in remote.dependencies


def test_the_image_tag_follows_its_content() -> None:
    settings = from_config("prod", {})
    other_base = settings.model_copy(update={"postgres_image": "x/y:1@sha256:" + "0" * 64})
    assert image_build(settings).tag != image_build(other_base).tag
    assert image_build(settings).tag == image_build(settings).tag


def test_postgres_archives_every_segment_through_pgbackrest(
    backed_up: tuple[str, ProgramRun],
) -> None:
    stack, run = backed_up
    pg = _container(run, "-postgres")
    command = unwrap(pg.inputs)["command"]
    assert "archive_mode=on" in command and "wal_level=replica" in command
    assert "archive_timeout=60" in command
    assert any(a.startswith("archive_command=pgbackrest --config=") for a in command)
    text = _uploads(pg)["/etc/pgbackrest/pgbackrest.conf"]
    passphrase = generated_password(f"bo1-{stack}-secrets-pgbackrestCipherPassword")
    assert f"repo1-cipher-pass={passphrase}" in text and "repo1-cipher-type=aes-256-cbc" in text
    # ...and nowhere outside a secret input, in any resource.
    for r in run.registrations:
        assert not any(passphrase in t for t in plain_strings(r.inputs)), r.name


def test_the_sidecar_shares_the_volumes_and_runs_the_schedule(
    backed_up: tuple[str, ProgramRun],
) -> None:
    stack, run = backed_up
    settings = from_config(stack, stack_config(stack))
    sidecar = _container(run, "-backup")
    inputs = unwrap(sidecar.inputs)
    assert inputs["name"] == f"bo1-{stack}-backup"
    assert inputs["init"] is True and inputs["ports"] == []
    assert inputs["command"] == [backup.SIDECAR_ENTRY]
    assert {(v["volumeName"], v["containerPath"]) for v in inputs["volumes"]} == {
        (f"bo1-{stack}-pgdata", "/var/lib/postgresql/data"),
        (f"bo1-{stack}-pgbackrest", "/var/lib/pgbackrest"),
        (f"bo1-{stack}-pgsocket", "/var/run/postgresql"),
    }
    assert _container(run, "-postgres").urn in sidecar.dependencies
    uploads = _uploads(sidecar)
    cron = uploads[backup.CRONTAB]
    for schedule, job in (
        (settings.backup_full_schedule, "--type=full backup"),
        (settings.backup_diff_schedule, "--type=diff backup"),
        (settings.backup_drill_schedule, "bo1-drill"),
        (settings.backup_redis_schedule, "bo1-redis-snapshot"),
    ):
        assert any(
            line.startswith(f"{schedule} root ") and job in line for line in cron.splitlines()
        )
    assert f"database={settings.postgres_database}" in uploads["/etc/pgbackrest/bo1-drill"]
    check = " ".join(inputs["healthcheck"]["tests"])
    assert f"/var/lib/pgbackrest/backup/{STANZA}/backup.info" in check
    ops = generated_password(f"bo1-{stack}-secrets-redisOpsPassword")
    assert uploads[backup.REDIS_PASSWORD_FILE] == ops
    assert not any(ops in t for t in plain_strings(sidecar.inputs))


def test_the_repository_survives_destroy_where_the_data_does(
    backed_up: tuple[str, ProgramRun],
) -> None:
    stack, run = backed_up
    repo = run.named(f"bo1-{stack}-pgbackrest", "docker:index/volume:Volume")
    assert repo.retain_on_delete == from_config(stack, stack_config(stack)).protect_data


def test_the_passphrase_is_a_secret_output(backed_up: tuple[str, ProgramRun]) -> None:
    stack, run = backed_up
    value, secret = resolve(run.outputs["backupCipherPassword"])
    assert secret and value == generated_password(f"bo1-{stack}-secrets-pgbackrestCipherPassword")


def test_dev_backs_up_only_when_asked() -> None:
    plain = run_program("dev", stack_config("dev"))
    assert not any(r.name.endswith("-backup") for r in plain.registrations)
    assert not any(
        "archive_mode=on" in a for a in unwrap(_container(plain, "-postgres").inputs)["command"]
    )
    asked = run_program("dev", {**stack_config("dev"), "bo1-infra:backupEnabled": "true"})
    assert _container(asked, "-backup").inputs["name"] == "bo1-dev-backup"


def test_a_bad_schedule_stops_the_program_naming_it() -> None:
    config = {**stack_config("staging"), "bo1-infra:backupFullSchedule": "every sunday"}
    with pytest.raises(ProgramFailed) as failed:
        run_program("staging", config)
    assert "backupFullSchedule" in str(failed.value) and "five fields" in str(failed.value)
