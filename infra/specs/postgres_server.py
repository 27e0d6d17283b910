"""PostgreSQL 15 + pgvector: server settings, healthcheck and the container spec."""

from __future__ import annotations

from collections.abc import Mapping

from bootstrap.backup.policy import archive_settings
from bootstrap.postgres.tenancy import SUPERUSER
from infra.settings import StackSettings
from infra.specs import backup
from infra.specs.image import image_build
from infra.specs.model import ContainerSpec, File, Healthcheck, Mount, PortBinding, SecretFile

PORT = 5432
SOCKET_DIR = "/var/run/postgresql"  # the image's; shared with the pooler and the backup sidecar
PASSWORD_FILE = "/run/secrets/postgres-superuser-password"
HBA_PATH = "/etc/postgresql/pg_hba.conf"
DATA_PATH = "/var/lib/postgresql/data"


def server_settings(settings: StackSettings) -> dict[str, str]:
    """The ``-c name=value`` settings the server starts with."""
    return {
        "max_connections": str(settings.postgres_max_connections),
        "shared_buffers": settings.postgres_shared_buffers,
        "effective_cache_size": settings.postgres_effective_cache_size,
        "work_mem": settings.postgres_work_mem,
        "maintenance_work_mem": settings.postgres_maintenance_work_mem,
        "password_encryption": "scram-sha-256",
        # Statements are never logged whole: bootstrap sends ALTER ROLE ... PASSWORD.
        "log_statement": "none",
        "log_min_duration_statement": "-1",
    }


def render_hba() -> str:
    """pg_hba.conf: who may log in how. Ours, not the image's, so the tests run this very file.

    Clients reach the server through the published port from the Docker bridge's
    gateway (or another host), never from loopback: every TCP login is by
    password (SCRAM). The socket directory is a volume the pooler and the backup
    sidecar share, so over it the superuser is the `postgres` OS user only (peer:
    the image's first-start initialization, bootstrap's re-keying, the backups),
    and every other role logs in by SCRAM, as the pooler does for the app.
    """
    return "\n".join(
        [
            "# bo1-infra pg_hba.conf (generated; do not edit)",
            "# TYPE  DATABASE  USER      ADDRESS    METHOD",
            "local   all       postgres             peer",
            "local   all       all                  scram-sha-256",
            "host    all       all       0.0.0.0/0  scram-sha-256",
            "host    all       all       ::/0       scram-sha-256",
            "",
        ]
    )


def command(settings: StackSettings) -> tuple[str, ...]:
    args: list[str] = ["postgres", "-c", f"hba_file={HBA_PATH}"]
    chosen = dict(server_settings(settings))
    if settings.backups:
        chosen |= archive_settings(settings.backup_policy(), backup.PATHS)
    for name, value in chosen.items():
        args += ["-c", f"{name}={value}"]
    return tuple(args)


def healthcheck(database: str, port: int = PORT, host: str = "127.0.0.1") -> Healthcheck:
    # TCP, not the socket: during first init the image runs a socket-only server
    # that would report healthy before the real one listens.
    return Healthcheck(
        test=("CMD", "pg_isready", "-h", host, "-p", str(port), "-U", SUPERUSER, "-d", database)
    )


def socket_volume(settings: StackSettings) -> str:
    return f"{settings.prefix}-pgsocket"


def socket_mount(settings: StackSettings) -> Mount:
    """Postgres's socket directory, for the containers that reach it without TCP."""
    return Mount(socket_volume(settings), SOCKET_DIR)


def _password_file(values: Mapping[str, str]) -> str:
    return values["postgresSuperuserPassword"]


def container(settings: StackSettings) -> ContainerSpec:
    """Postgres; with backups on, the image with pgBackRest, archiving into the repository."""
    files: tuple[File | SecretFile, ...] = (
        File(HBA_PATH, render_hba()),
        SecretFile(PASSWORD_FILE, ("postgresSuperuserPassword",), _password_file),
    )
    image = settings.postgres_image
    mounts: tuple[Mount, ...] = (socket_mount(settings),)
    if settings.backups:
        image, mounts = image_build(settings).tag, (*mounts, backup.repo_mount(settings))
        files += (backup.conf_file(settings),)
    return ContainerSpec(
        name=f"{settings.prefix}-postgres",
        alias="postgres",
        image=image,
        command=command(settings),
        env={
            "POSTGRES_USER": SUPERUSER,
            "POSTGRES_DB": settings.postgres_database,
            "POSTGRES_PASSWORD_FILE": PASSWORD_FILE,
            # A subdirectory, so the volume's root (lost+found on some drivers) is not PGDATA.
            "PGDATA": f"{DATA_PATH}/pgdata",
        },
        files=files,
        port=PortBinding(PORT, settings.postgres_port, settings.bind_address),
        healthcheck=healthcheck(settings.postgres_database),
        volume_name=f"{settings.prefix}-pgdata",
        data_path=DATA_PATH,
        memory_mb=settings.postgres_memory_mb,
        stop_grace_s=120,
        shm_size_mb=256,
        labels={"com.bo1.stack": settings.stack, "com.bo1.component": "postgres"},
        mounts=mounts,
    )
