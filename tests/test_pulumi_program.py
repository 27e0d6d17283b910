"""The real Pulumi program (infra/__main__.py), run under Pulumi's mocks for dev, staging and prod."""

from __future__ import annotations

import json
import shlex
from typing import Any

import pulumi
import pytest

from bootstrap.redisdb.releases import line as redis_line
from bootstrap.stack_secrets.catalogue import load as load_catalogue
from infra.settings import from_config
from infra.specs import postgres_server, redis_server
from infra.specs.image import image_build
from tests.support.pulumi_harness import (
    REQUIRED_SECRETS,
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
CATALOGUE = load_catalogue()
# what a single-host stack has: the ha-only secrets are not (tests/test_pulumi_ha.py)
SINGLE = [s for s in CATALOGUE.secrets if s.applies_to("single")]
GENERATED = [s for s in SINGLE if s.kind == "generated"]
SECRET_URLS = (
    "postgresSuperuserUrl",
    "databaseUrl",
    "databaseDirectUrl",
    "serviceDatabaseUrl",
    "redisUrl",
    "redisOpsUrl",
)
SECRET_OUTPUTS = (*SECRET_URLS, "appEnv", "backupCipherPassword", "poolerStatsPassword")


@pytest.fixture(scope="module", params=STACKS)
def stack_run(request: pytest.FixtureRequest) -> tuple[str, ProgramRun]:
    return request.param, run_program(request.param, stack_config(request.param))


def container(run: ProgramRun, component: str) -> dict[str, Any]:
    (match,) = [
        r for r in run.of_type("docker:index/container:Container") if r.name.endswith(component)
    ]
    return unwrap(match.inputs)


def all_passwords(stack: str) -> list[str]:
    """Every secret value of the run: the generated passwords and the API keys it set."""
    generated = [generated_password(f"bo1-{stack}-secrets-{s.key}") for s in GENERATED]
    return generated + list(REQUIRED_SECRETS.values())


# -- resources and their key arguments -------------------------------------------------


def test_every_resource_is_registered_once_with_the_stack_in_its_name(
    stack_run: tuple[str, ProgramRun],
) -> None:
    stack, run = stack_run
    counts: dict[str, int] = {}
    for r in run.registrations:
        counts[r.type] = counts.get(r.type, 0) + 1
        assert f"bo1-{stack}-" in r.name, r.name
    # Every stack: Postgres, Redis, the pooler, and the image the program builds.
    # Backups (staging and prod by default): the repository and socket volumes, and
    # the sidecar's container.
    backups = int(from_config(stack, stack_config(stack)).backups)
    assert counts == {
        "pulumi:providers:docker": 1,
        "bo1:infra:StackSecrets": 1,
        "random:index/randomPassword:RandomPassword": len(GENERATED),
        "docker:index/network:Network": 1,
        "bo1:infra:StackImage": 1,
        "docker:index/image:Image": 1,
        "bo1:infra:ContainerService": 3 + backups,
        "docker:index/remoteImage:RemoteImage": 3 + backups,
        "docker:index/volume:Volume": 3 + backups,
        "docker:index/container:Container": 3 + backups,
        "bo1:infra:BootstrapHook": 1,
        "command:local:Command": 1,
    } | ({"bo1:infra:BackupStorage": 1} if backups else {})
    assert (
        run.named(f"bo1-{stack}-net", "docker:index/network:Network").inputs["name"]
        == f"bo1-{stack}-net"
    )
    volumes = {r.inputs["name"] for r in run.of_type("docker:index/volume:Volume")}
    repo = {f"bo1-{stack}-pgbackrest"} if backups else set()
    always = {f"bo1-{stack}-pgdata", f"bo1-{stack}-redisdata", f"bo1-{stack}-pgsocket"}
    assert volumes == always | repo


def test_children_are_parented_to_their_component(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    for component in ("postgres", "redis"):
        owner = run.named(f"bo1-{stack}-{component}", "bo1:infra:ContainerService")
        for child in (f"bo1-{stack}-{component}-image", f"bo1-{stack}-{component}-data"):
            assert run.named(child).parent == owner.urn
        (box,) = [
            r for r in run.of_type("docker:index/container:Container") if r.parent == owner.urn
        ]
        assert box.name == f"bo1-{stack}-{component}"
    secrets = run.named(f"bo1-{stack}-secrets")
    assert all(
        r.parent == secrets.urn for r in run.of_type("random:index/randomPassword:RandomPassword")
    )


def test_images_are_pinned_and_containers_use_their_id(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    images = {r.name: r for r in run.of_type("docker:index/remoteImage:RemoteImage")}
    settings = from_config(stack, stack_config(stack))
    # With backups, the image the program builds from the pinned one (test_pulumi_backups).
    assert images[f"bo1-{stack}-postgres-image"].inputs["name"] == (
        image_build(settings).tag if settings.backups else settings.postgres_image
    )
    # The stack's Redis line, pinned by tag and digest (bootstrap/redisdb/releases.py).
    assert images[f"bo1-{stack}-redis-image"].inputs["name"] == redis_line("8.8").image
    assert "@sha256:" in images[f"bo1-{stack}-redis-image"].inputs["name"]
    for component in ("postgres", "redis"):
        image = images[f"bo1-{stack}-{component}-image"]
        assert container(run, component)["image"].startswith("sha256:")  # the mocked image_id
        box = next(
            r for r in run.of_type("docker:index/container:Container") if r.name.endswith(component)
        )
        assert image.urn in box.dependencies


def test_containers_are_ready_to_run(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    settings = from_config(stack, stack_config(stack))
    for component, port in (("postgres", settings.postgres_port), ("redis", settings.redis_port)):
        c = container(run, component)
        assert c["name"] == f"bo1-{stack}-{component}"
        assert c["wait"] is True and c["restart"] == "unless-stopped"
        assert c["destroyGraceSeconds"] >= 60
        assert c["ports"] == [
            {
                "internal": 5432 if component == "postgres" else 6379,
                "external": port,
                "ip": "127.0.0.1",
                "protocol": "tcp",
            }
        ]
        assert c["memorySwap"] == c["memory"]  # no swap; unset, Docker would store 2x
        assert c["stopTimeout"] == c["destroyGraceSeconds"]
        assert c["logDriver"] == "json-file" and c["logOpts"] == {
            "max-size": "10m",
            "max-file": "3",
        }
        assert "startInterval" not in c["healthcheck"]  # Docker Engine < 25 refuses it
        assert c["networksAdvanced"][0]["name"] == f"bo1-{stack}-net"
        box = next(
            r for r in run.of_type("docker:index/container:Container") if r.name.endswith(component)
        )
        assert box.delete_before_replace
        assert f"bo1-{stack}-docker" in box.provider


def test_postgres_container(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    settings = from_config(stack, stack_config(stack))
    c = container(run, "postgres")
    env = dict(e.split("=", 1) for e in c["envs"])
    assert env["POSTGRES_PASSWORD_FILE"] == postgres_server.PASSWORD_FILE
    assert "POSTGRES_PASSWORD" not in env
    assert [u["file"] for u in c["uploads"]] == [
        postgres_server.HBA_PATH,
        postgres_server.PASSWORD_FILE,
    ] + (["/etc/pgbackrest/pgbackrest.conf"] if settings.backups else [])
    assert f"hba_file={postgres_server.HBA_PATH}" in c["command"]
    assert c["healthcheck"]["tests"][:4] == ["CMD", "pg_isready", "-h", "127.0.0.1"]
    assert f"shared_buffers={settings.postgres_shared_buffers}" in c["command"]
    assert f"max_connections={settings.postgres_max_connections}" in c["command"]
    assert c["memory"] == settings.postgres_memory_mb
    # its socket directory always (the pooler's way in), the repository with backups
    repo = {"volumeName": f"bo1-{stack}-pgbackrest", "containerPath": "/var/lib/pgbackrest"}
    assert c["volumes"] == [
        {"volumeName": f"bo1-{stack}-pgdata", "containerPath": "/var/lib/postgresql/data"},
        {"volumeName": f"bo1-{stack}-pgsocket", "containerPath": "/var/run/postgresql"},
    ] + ([repo] if settings.backups else [])


def test_redis_container(stack_run: tuple[str, ProgramRun]) -> None:
    _, run = stack_run
    c = container(run, "redis")
    uploads = {u["file"]: u["content"] for u in c["uploads"]}
    conf = uploads[redis_server.CONF_PATH]
    for line in ("appendonly yes", "appendfsync everysec", "maxmemory 256mb", "maxmemory-policy allkeys-lru",
                 "protected-mode yes", "bind * -::*"):  # fmt: skip
        assert line in conf.splitlines()
    assert redis_server.ACL_PATH in uploads and redis_server.HEALTH_PASSWORD_FILE in uploads
    assert c["command"] == ["redis-server", redis_server.CONF_PATH]
    assert (
        "REDISCLI_AUTH" in c["healthcheck"]["tests"][1] and "ping" in c["healthcheck"]["tests"][1]
    )
    assert c["memory"] * 2**20 > 256 * 2**20 * 1.25  # room above maxmemory
    assert not c.get("envs")


def test_only_prod_retains_its_data_volumes(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    retained = {
        r.retain_on_delete
        for r in run.of_type("docker:index/volume:Volume")
        if not r.name.endswith("-pgsocket")  # a socket directory, no data
    }
    assert retained == {stack == "prod"}
    # Containers and the network always go with the stack.
    assert not any(
        r.retain_on_delete or r.protect
        for r in run.registrations
        if r.type != "docker:index/volume:Volume"
    )


# -- secrets ---------------------------------------------------------------------


def test_every_password_and_url_output_is_secret(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    for name in SECRET_URLS:
        value, secret = resolve(run.outputs[name])
        assert secret, name
        assert value.split("://")[0] in ("postgresql", "redis")
    env, secret = resolve(run.outputs["appEnv"])
    assert secret
    assert env["DATABASE_URL"] == resolve(run.outputs["databaseUrl"])[0]
    assert env["REDIS_URL"] == resolve(run.outputs["redisUrl"])[0]
    assert env["ANTHROPIC_API_KEY"] == REQUIRED_SECRETS["anthropicApiKey"]
    for name, output in run.outputs.items():
        if name in SECRET_OUTPUTS:
            continue
        value = resolve(output)[0] if isinstance(output, pulumi.Output) else output
        assert not any(p in str(value) for p in all_passwords(stack)), name


def test_no_password_in_any_plain_input(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    passwords = all_passwords(stack)
    for r in run.registrations:
        for text in plain_strings(r.inputs):
            for password in passwords:
                assert password not in text, (r.name, text)
    # ...while the secret inputs really carry them (the search above is not vacuous).
    pg_uploads = {u["file"]: u for u in container(run, "postgres")["uploads"]}
    assert pg_uploads[postgres_server.PASSWORD_FILE]["content"] == generated_password(
        f"bo1-{stack}-secrets-postgresSuperuserPassword"
    )


def test_urls_point_at_the_stack_ports(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    settings = from_config(stack, stack_config(stack))
    # the app's URL goes through the pooler; the direct one to Postgres
    assert resolve(run.outputs["databaseUrl"])[0].endswith(f"@127.0.0.1:{settings.pooler_port}/bo1")
    assert resolve(run.outputs["databaseDirectUrl"])[0].endswith(
        f"@127.0.0.1:{settings.postgres_port}/bo1"
    )
    # Password only: the app authenticates as Redis's `default` user, as Board of One does.
    assert resolve(run.outputs["redisUrl"])[0].startswith("redis://:")
    assert resolve(run.outputs["redisUrl"])[0].endswith(f"@127.0.0.1:{settings.redis_port}/0")


def test_a_configured_secret_is_used_instead_of_a_generated_one() -> None:
    chosen = "Chosen-By-Operator-9f8e7d"
    run = run_program("dev", stack_config("dev"), secrets={"postgresAppPassword": chosen})
    names = {r.name for r in run.of_type("random:index/randomPassword:RandomPassword")}
    assert "bo1-dev-secrets-postgresAppPassword" not in names
    assert len(names) == len(GENERATED) - 1
    value, secret = resolve(run.outputs["databaseUrl"])
    assert secret and f"bo1_app:{chosen}@" in value
    for r in run.registrations:
        assert not any(chosen in text for text in plain_strings(r.inputs)), r.name


def test_remote_docker_host_goes_to_the_provider() -> None:
    run = run_program(
        "staging", {**stack_config("staging"), "docker:host": "ssh://deploy@db.example.internal"}
    )
    provider = run.named("bo1-staging-docker", "pulumi:providers:docker")
    assert provider.inputs["host"] == "ssh://deploy@db.example.internal"


def test_every_docker_setting_reaches_the_explicit_provider_and_the_hook() -> None:
    config = {
        **stack_config("staging"),
        "docker:host": "ssh://deploy@db.example.internal:2222",
        "docker:sshOpts": json.dumps(["-i", "/keys/deploy", "-o", "StrictHostKeyChecking=yes"]),
        "docker:certPath": "/certs",
        "docker:caMaterial": "CA-PEM",
    }
    run = run_program("staging", config, docker_secrets={"keyMaterial": "KEY-PEM-Secret-77"})
    provider = run.named("bo1-staging-docker", "pulumi:providers:docker")
    inputs = unwrap(provider.inputs)
    assert json.loads(inputs["sshOpts"]) == [
        "-i",
        "/keys/deploy",
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    assert (inputs["certPath"], inputs["caMaterial"]) == ("/certs", "CA-PEM")
    assert "KEY-PEM-Secret-77" not in " ".join(plain_strings(provider.inputs))
    env = unwrap(hook(run).inputs["environment"])
    assert env["DOCKER_HOST"] == "ssh://deploy@db.example.internal:2222"
    assert json.loads(env["BO1_DOCKER_SSH_OPTS"])[:2] == ["-i", "/keys/deploy"]


def test_an_unknown_docker_setting_stops_the_run() -> None:
    message = rejected("dev", {**stack_config("dev"), "docker:sshOptions": '["-v"]'})
    assert "docker:sshOptions: not a setting of the Docker provider" in message


# -- bad config: rejected, naming the key, before any resource -----------------------

BAD_VALUES = {
    "redisMaxmemory": ("lots", "256mb"),
    "postgresPort": ("70000", "65535"),
    "redisMaxmemoryPolicy": ("lru-ish", "allkeys-lru"),
    "postgresSharedBuffers": ("256 megs", "256MB"),
    "bindAddress": ("localhost", "IPv4"),
    "postgresImage": ("pgvector/pgvector:0.8.1-pg15", "pinned by tag and digest"),
    "redisAppendfsync": ("sometimes", "everysec"),
    "protectData": ("maybe", "bool"),
}


def rejected(stack: str, config: dict[str, str]) -> str:
    """Run with bad config: the program must stop with a RunError before registering anything."""
    with pytest.raises(ProgramFailed) as failed:
        run_program(stack, config)
    assert isinstance(failed.value.error, pulumi.RunError), failed.value.error
    assert failed.value.registrations == []
    return str(failed.value.error)


@pytest.mark.parametrize("key", BAD_VALUES)
def test_bad_config_is_rejected_before_any_resource(key: str) -> None:
    value, allowed = BAD_VALUES[key]
    message = rejected("staging", {**stack_config("staging"), f"bo1-infra:{key}": value})
    assert "stack 'staging'" in message and f"bo1-infra:{key}" in message and allowed in message
    assert "\n" not in message


def test_every_bad_key_is_named_at_once() -> None:
    message = rejected(
        "dev",
        {**stack_config("dev"), "bo1-infra:redisPort": "0", "bo1-infra:postgresWorkMem": "lots"},
    )
    assert "bo1-infra:redisPort" in message and "bo1-infra:postgresWorkMem" in message


def test_misspelt_key_is_an_error_not_a_silent_default() -> None:
    message = rejected("dev", {**stack_config("dev"), "bo1-infra:redisMaxmemroy": "1gb"})
    assert "bo1-infra:redisMaxmemroy is not a known setting" in message


def test_stack_files_change_only_what_they_mean_to() -> None:
    # Every stack keeps the design's Redis durability and eviction unless its YAML says otherwise.
    for stack in STACKS:
        settings = from_config(stack, stack_config(stack))
        assert (settings.redis_maxmemory, settings.redis_maxmemory_policy, settings.redis_appendonly) == (
            "256mb", "allkeys-lru", True,
        )  # fmt: skip
    ports = [
        json.dumps(
            sorted(stack_config(s)[k] for k in ("bo1-infra:postgresPort", "bo1-infra:redisPort"))
        )
        for s in STACKS
    ]
    assert len(set(ports)) == 3  # stacks can share one Docker host


# -- the bootstrap hook -----------------------------------------------------------


def hook(run: ProgramRun) -> Any:
    (registration,) = run.of_type("command:local:Command")
    return registration


def test_hook_runs_bo1_infra_after_both_containers(stack_run: tuple[str, ProgramRun]) -> None:
    stack, run = stack_run
    h = hook(run)
    containers = {
        r.urn
        for r in run.of_type("docker:index/container:Container")
        if r.name.endswith(("-postgres", "-redis"))
    }
    assert containers <= set(h.dependencies)
    assert h.parent == run.named(f"bo1-{stack}-bootstrap", "bo1:infra:BootstrapHook").urn
    inputs = unwrap(h.inputs)
    words = shlex.split(inputs["create"])
    assert words[0] == "env" and words[1] == "-i"
    command = words[words.index(next(w for w in words if w.endswith("/.venv/bin/bo1-infra"))) :]
    assert command[1:] == ["bootstrap", "--stack", stack, "--wait", "120"]
    assert "delete" not in inputs  # destroy needs no hook


def test_hook_runs_in_an_environment_of_exactly_its_declared_inputs(
    stack_run: tuple[str, ProgramRun], tmp_path: Any
) -> None:
    import subprocess

    from bootstrap.inputs import NAMES

    _, run = stack_run
    inputs = unwrap(hook(run).inputs)
    secrets = {spec.env for spec in SINGLE}
    assert set(inputs["environment"]) <= set(NAMES) | secrets
    # The same command, with `env` in place of bo1-infra, in a shell full of strays.
    command = inputs["create"].split(" /")[0] + " env"
    shell = {**inputs["environment"], "PGPASSWORD": "stray", "DOCKER_CONTEXT": "other",
             "BO1_STACK": "prod", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}  # fmt: skip
    seen = subprocess.run(["sh", "-c", command], env=shell, capture_output=True, text=True)
    names = {line.split("=", 1)[0] for line in seen.stdout.splitlines()}
    assert names == set(NAMES) | secrets, seen.stderr
    assert "PGPASSWORD" not in names and "DOCKER_CONTEXT" not in names


def test_hook_gets_its_secrets_only_as_secret_environment(
    stack_run: tuple[str, ProgramRun],
) -> None:
    stack, run = stack_run
    h = hook(run)
    environment = h.inputs["environment"]
    from pulumi.runtime import rpc

    # Pulumi may lift secretness to the whole map; otherwise each secret value carries it.
    whole = rpc.is_rpc_secret(environment)
    values = rpc.unwrap_rpc_secret(environment) if whole else environment
    for name in [spec.env for spec in SINGLE] + ["REDIS_URL"]:
        assert whole or rpc.is_rpc_secret(values[name]), name
    assert values["PGHOST"] == "127.0.0.1"  # and the map is the real one
    for text in plain_strings(h.inputs):
        assert not any(p in text for p in all_passwords(stack)), text


def triggers(run: ProgramRun) -> list[Any]:
    return list(unwrap(hook(run).inputs["triggers"]))


def test_hook_triggers_are_stable_when_nothing_changed() -> None:
    assert triggers(run_program("dev", stack_config("dev"))) == triggers(
        run_program("dev", stack_config("dev"))
    )


def test_hook_triggers_change_with_a_migration_file(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from bootstrap.paths import MIGRATIONS_DIR

    before = triggers(run_program("dev", stack_config("dev")))
    copy = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, copy)
    edited = sorted(copy.glob("*.up.sql"))[-1]
    edited.write_text(edited.read_text() + "\n-- a changed migration\n")
    monkeypatch.setenv("BO1_MIGRATIONS_DIR", str(copy))
    after = triggers(run_program("dev", stack_config("dev")))
    assert after[0] != before[0] and after[1:] == before[1:]


def test_hook_triggers_change_with_a_secret_but_never_show_it() -> None:
    before = triggers(run_program("dev", stack_config("dev")))
    rotated_value = "Rotated-Value-31337"
    run = run_program("dev", stack_config("dev"), secrets={"postgresAppPassword": rotated_value})
    after = triggers(run)
    assert after[2] != before[2] and after[:2] == before[:2]
    from pulumi.runtime import rpc

    raw = hook(run).inputs["triggers"]
    assert rpc.is_rpc_secret(raw) or rpc.is_rpc_secret(raw[2])
    assert rotated_value not in json.dumps(after)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_missing_required_secrets_are_all_named_before_anything_is_provisioned(stack: str) -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_program(stack, stack_config(stack), with_required=False)
    message = str(failed.value.error)
    assert "2 required secret(s) not set: anthropicApiKey, voyageApiKey" in message
    # A command that works in a fresh shell: the project's backend and this stack.
    assert f"bash scripts/pulumi.sh {stack} config set --secret anthropicApiKey" in message
    assert failed.value.registrations == []


def test_dev_comes_up_without_the_applications_api_keys() -> None:
    run = run_program("dev", stack_config("dev"), with_required=False)
    app_env = resolve(run.outputs["appEnv"])
    assert app_env == (app_env[0], True)  # still a secret output
    assert app_env[0]["ANTHROPIC_API_KEY"] == "" and app_env[0]["VOYAGE_API_KEY"] == ""
    env = unwrap(hook(run).inputs["environment"])
    assert env["BO1_ANTHROPIC_API_KEY"] == "" and env["BO1_VOYAGE_API_KEY"] == ""


def test_app_settings_reach_the_hook_and_bad_ones_are_refused() -> None:
    run = run_program(
        "dev", {**stack_config("dev"), "bo1-infra:appSettings": '{"LOG_LEVEL": "WARNING"}'}
    )
    env = unwrap(hook(run).inputs["environment"])
    assert json.loads(env["BO1_APP_SETTINGS"]) == {"LOG_LEVEL": "WARNING"}
    assert resolve(run.outputs["appEnv"])[0]["LOG_LEVEL"] == "WARNING"
    message = rejected(
        "dev", {**stack_config("dev"), "bo1-infra:appSettings": '{"DATABASE_URL": "x"}'}
    )
    assert "bo1-infra:appSettings" in message and "DATABASE_URL cannot be set" in message


def test_a_host_address_publishes_there_and_clients_use_it() -> None:
    run = run_program("dev", {**stack_config("dev"), "bo1-infra:bindAddress": "10.20.30.40"})
    assert container(run, "postgres")["ports"][0]["ip"] == "10.20.30.40"
    assert container(run, "pooler")["ports"][0]["ip"] == "10.20.30.40"
    assert "@10.20.30.40:6432/" in resolve(run.outputs["databaseUrl"])[0]
    assert "@10.20.30.40:5432/" in resolve(run.outputs["databaseDirectUrl"])[0]
    assert unwrap(hook(run).inputs["environment"])["PGHOST"] == "10.20.30.40"


def test_a_wildcard_bind_address_is_refused_saying_why() -> None:
    message = rejected("dev", {**stack_config("dev"), "bo1-infra:bindAddress": "0.0.0.0"})
    assert "bo1-infra:bindAddress = '0.0.0.0'" in message and "issue 909" in message


def test_a_stack_key_family_reaches_the_apps_acl() -> None:
    families = json.dumps([{"prefix": "usage:", "ttlSeconds": 3600, "purpose": "usage counters"}])
    run = run_program("dev", {**stack_config("dev"), "bo1-infra:redisKeyFamilies": families})
    uploads = {u["file"]: u["content"] for u in container(run, "redis")["uploads"]}
    (app_line,) = [
        line for line in uploads[redis_server.ACL_PATH].splitlines() if "user default" in line
    ]
    assert "~usage:*" in app_line and "~session:*" in app_line


def test_a_clashing_key_family_stops_the_run() -> None:
    families = json.dumps([{"prefix": "session:", "ttlSeconds": 60, "purpose": "again"}])
    message = rejected("dev", {**stack_config("dev"), "bo1-infra:redisKeyFamilies": families})
    assert "'session:' is defined twice" in message
