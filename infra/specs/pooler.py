"""PgBouncer in front of the stack's Postgres: its files, healthcheck and container spec.

It runs the image the program builds (infra/specs/image.py: PgBouncer 1.26.1 or
later from the PostgreSQL project's apt repository, which the pgvector image
already trusts), rather than a third-party PgBouncer image: one base image to pin
and patch, and no registry digest this project cannot check from here. The files
come from bootstrap/pooler/config.py, which the tests run on Debian's pgbouncer 1.18
(the renderings differ in one version-dependent key; docs/POOLING.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bootstrap.pooler import config
from bootstrap.postgres import scram
from bootstrap.postgres.roles import SALT_KEY_SECRET
from infra.settings import StackSettings
from infra.specs.image import image_build
from infra.specs.model import ContainerSpec, File, Healthcheck, PortBinding, SecretFile
from infra.specs.postgres_server import SOCKET_DIR, socket_mount

PORT = config.Layout().listen_port
# PgBouncer refuses to run as root; not `postgres` either, which Postgres's socket lets in
# as the superuser (peer): through the pooler, only SCRAM logins reach the server.
OS_USER = "nobody"


def layout(settings: StackSettings) -> config.Layout:
    return replace(config.Layout(), server_host=SOCKET_DIR, database=settings.postgres_database)


def auth_file(at: config.Layout) -> SecretFile:
    """The auth file: each user's shared SCRAM verifier (for bo1_app, what bootstrap stores)."""

    def render(values: Mapping[str, str]) -> str:
        key = values[SALT_KEY_SECRET]
        return config.render_auth_file(
            {
                user: scram.shared_verifier(values[secret], user, key)
                for user, secret in config.AUTH_SECRETS.items()
            }
        )

    return SecretFile(at.auth_file, (*config.AUTH_SECRETS.values(), SALT_KEY_SECRET), render)


def healthcheck(port: int = PORT) -> Healthcheck:
    # pg_isready counts an authentication request as "accepting": no password needed. A
    # user the auth file lists, or PgBouncer logs a rejected login every probe.
    login = ("-U", config.STATS_USER, "-d", config.CONSOLE_DATABASE)
    return Healthcheck(test=("CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(port), *login))


def container(settings: StackSettings) -> ContainerSpec:
    at = layout(settings)
    return ContainerSpec(
        name=f"{settings.prefix}-pooler",
        alias="pooler",
        image=image_build(settings).tag,
        command=("pgbouncer", at.ini),
        env={},
        files=(
            File(at.ini, config.render_ini(settings.pool(), at)),
            File(at.hba_file, config.render_hba(at.database)),
            auth_file(at),
        ),
        port=PortBinding(PORT, settings.pooler_port, settings.bind_address),
        healthcheck=healthcheck(),
        volume_name=None,
        data_path="/var/lib/postgresql",
        memory_mb=settings.pooler_memory_mb,
        # SIGINT is PgBouncer's safe shutdown: transactions in flight finish first, and
        # one left idle is cut off after poolerIdleTransactionTimeoutS.
        stop_grace_s=max(30, settings.pooler_idle_transaction_timeout_s + 15),
        labels={"com.bo1.stack": settings.stack, "com.bo1.component": "pooler"},
        mounts=(socket_mount(settings),),
        user=OS_USER,
        stop_signal="SIGINT",
        # PgBouncer does not raise its own limit: a socket per client and per server
        # connection, plus room for the listeners and logs (Docker's default may be 1024).
        open_files=settings.pooler_max_client_conn + settings.pool().server_connections + 1024,
    )
