"""The bootstrap hook: `bo1-infra bootstrap` as a pulumi-command resource after the containers.

It runs on create, and again only when something it depends on changes: the
migrations, the persona data, any secret (by a secret digest), or either data
container (a replaced container may sit on a fresh volume). It also waits for the
pooler, so a finished `up` has one where the env file's DATABASE_URL points. An
`up` with nothing changed runs nothing. Secrets reach the command through its
environment, as secret inputs, never in its command line. `pulumi destroy`
runs nothing: there is no delete command.
"""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pulumi
import pulumi_command as command

from bootstrap import inputs
from bootstrap.migrate.files import resolve_dir
from bootstrap.paths import PERSONAS_FILE
from bootstrap.postgres.tenancy import SUPERUSER
from bootstrap.stack_secrets.catalogue import Catalogue
from infra.components.container_service import ContainerService
from infra.docker_host import DockerHost
from infra.fingerprints import file_digest, files_digest, secrets_digest
from infra.settings import StackSettings
from infra.specs import ha
from infra.specs.postgres_server import SOCKET_DIR


def bo1_infra_executable() -> Path:
    """This project's `bo1-infra`: beside the Python running the program, whatever PATH says."""
    path = Path(sys.executable).parent / "bo1-infra"
    if not path.exists():
        raise pulumi.RunError(
            f"bo1-infra is not installed beside {sys.executable}; run `bash scripts/setup-venv.sh`"
        )
    return path


def clean_command(argv: list[str], names: list[str]) -> str:
    """``argv`` in an environment holding only ``names``: a stray PG*, BO1_* or DOCKER_CONTEXT
    in the user's shell never changes what bootstrap does. Values are taken from the
    command's own environment by name (``NAME="$NAME"``), so no value is in the command."""
    passed = " ".join(f'{name}="${{{name}:-}}"' for name in names)
    return f"env -i {passed} " + " ".join(shlex.quote(part) for part in argv)


def single_host_targets(
    settings: StackSettings,
    redis_ops_url: pulumi.Output[str],
    pg: ContainerService,
    docker_host: DockerHost | None,
) -> dict[str, pulumi.Input[str]]:
    """Where bootstrap finds a single-host stack: its published ports, through its Docker host."""
    targets: dict[str, pulumi.Input[str]] = {
        "PGHOST": settings.client_host,
        "PGPORT": str(settings.postgres_port),
        "REDIS_URL": redis_ops_url,
        # Only for re-keying a rotated superuser password over the container's socket,
        # where the superuser is the `postgres` OS user (peer).
        "BO1_POSTGRES_LOCAL_PSQL": (
            f"docker exec -i -u postgres {pg.container_name}"
            f" psql -U {SUPERUSER} -d {settings.postgres_database}"
        ),
    }
    if docker_host and docker_host.host:
        targets["DOCKER_HOST"] = docker_host.host
        targets["BO1_DOCKER_SSH_OPTS"] = json.dumps(list(docker_host.ssh_opts))
    return targets


def ha_targets(
    settings: StackSettings, sentinel_ops_url: pulumi.Output[str]
) -> dict[str, pulumi.Input[str]]:
    """Where bootstrap finds an ha stack: every Postgres node (libpq's multi-host PGHOST; it
    keeps the leader) and the Sentinels, each node at its own address."""
    nodes = [n for n in settings.ha_nodes if n.postgres]
    # Re-keying a rotated superuser password: psql over the leader's socket (peer), in its
    # node's Patroni container, reached through that node's Docker host.
    local_psql = {
        n.address: (
            f"docker -H {n.docker_host} exec -i -u postgres"
            f" {ha.container_name(settings, 'postgres', n)}"
            f" psql -h {SOCKET_DIR} -p {settings.postgres_port} -U {SUPERUSER}"
            f" -d {settings.postgres_database}"
        )
        for n in nodes
    }
    return {
        "PGHOST": ",".join(n.address for n in nodes),
        "PGPORT": str(settings.postgres_port),
        "REDIS_URL": sentinel_ops_url,
        "BO1_POSTGRES_LOCAL_PSQL": json.dumps(local_psql),
    }


class BootstrapHook(pulumi.ComponentResource):
    run: command.local.Command

    def __init__(
        self,
        name: str,
        settings: StackSettings,
        catalogue: Catalogue,
        secrets: Mapping[str, pulumi.Output[str]],
        targets: Mapping[str, pulumi.Input[str]],
        data: Sequence[ContainerService],
        ready: Sequence[ContainerService],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``targets``: the connection variables (single_host_targets, ha_targets); ``data``:
        the Postgres and Redis containers (one replaced may sit on a fresh volume: run
        again); ``ready``: what must be up first, the data containers and the poolers."""
        super().__init__("bo1:infra:BootstrapHook", name, None, opts)
        # bootstrap reads the secrets every topology has; the ha-only ones are the containers'
        secret_env = {
            spec.env: secrets[spec.key] for spec in catalogue.secrets if spec.topology == "any"
        }
        script = clean_command(
            [str(bo1_infra_executable()), "bootstrap", "--stack", settings.stack, "--wait", "120"],
            [*inputs.NAMES, *secret_env],
        )
        environment: dict[str, pulumi.Input[str]] = {
            **targets,
            "PGUSER": SUPERUSER,
            "PGDATABASE": settings.postgres_database,
            "BO1_POOLER_PORT": str(settings.pooler_port),
            "BO1_APP_SETTINGS": json.dumps(settings.app_settings, sort_keys=True),
            **secret_env,
        }
        digest: pulumi.Output[str] = pulumi.Output.all(**secrets).apply(secrets_digest)
        secret_digest: pulumi.Output[str] = pulumi.Output.secret(digest)
        self.run = command.local.Command(
            f"{name}-run",
            create=script,
            update=script,
            environment=environment,
            triggers=[
                files_digest(resolve_dir(None), "*.sql"),
                file_digest(PERSONAS_FILE),
                secret_digest,
                *(service.container.id for service in data),
            ],
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[service.container for service in ready]
            ),
        )
        self.register_outputs({"stdout": self.run.stdout})
