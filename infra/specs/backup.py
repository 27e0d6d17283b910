"""The backup parts of a stack: Postgres's image and files for archive-push, and the sidecar.

With backups on, Postgres runs the image the program builds (infra/specs/image.py:
the pinned pgvector image plus pgBackRest), archives every WAL segment
into a repository on a volume of its own, and shares that volume, its data volume
and its socket with a sidecar of the same image. The sidecar takes the backups, the
Redis snapshot and the restore drill on its cron schedule, on the Docker host, with
nobody's laptop involved. The files come from bootstrap/backup/policy.py, which the
tests run on the real binaries.
"""

from __future__ import annotations

from collections.abc import Mapping

from bootstrap.backup import policy
from bootstrap.redisdb.users import OPS_USER
from infra.settings import StackSettings
from infra.specs.model import ContainerSpec, File, Healthcheck, Mount, SecretFile

PATHS = policy.Paths()  # the container's paths
REDIS_PASSWORD_FILE = f"{PATHS.config_dir}/redis-ops-password"
SIDECAR_ENTRY = f"{PATHS.config_dir}/bo1-sidecar"
CRONTAB = "/etc/cron.d/bo1-backups"


def repo_volume(settings: StackSettings) -> str:
    return f"{settings.prefix}-pgbackrest"


def conf_file(settings: StackSettings) -> SecretFile:
    """pgbackrest.conf, the repository's passphrase in it; Postgres and the sidecar read it."""
    chosen = settings.backup_policy()

    def render(values: Mapping[str, str]) -> str:
        return policy.pgbackrest_conf(chosen, PATHS, values["pgbackrestCipherPassword"])

    return SecretFile(PATHS.config, ("pgbackrestCipherPassword",), render)


def repo_mount(settings: StackSettings) -> Mount:
    """The repository, in Postgres (archive-push) and in the sidecar alike."""
    return Mount(repo_volume(settings), PATHS.repo)


def sidecar(settings: StackSettings, postgres: ContainerSpec) -> ContainerSpec:
    chosen = settings.backup_policy()
    redis = policy.RedisSource("redis", 6379, OPS_USER, REDIS_PASSWORD_FILE)
    return ContainerSpec(
        name=f"{settings.prefix}-backup",
        alias="backup",
        image=postgres.image,
        command=(SIDECAR_ENTRY,),
        env={"TZ": "UTC"},
        files=(
            conf_file(settings),
            ops_password_file(),
            File(SIDECAR_ENTRY, policy.sidecar_script(PATHS), mode="0555"),
            File(PATHS.drill, _drill(settings, chosen), mode="0555"),
            File(
                f"{PATHS.config_dir}/bo1-redis-snapshot",
                policy.redis_snapshot_script(chosen, PATHS, redis),
                mode="0555",
            ),
            File(CRONTAB, policy.crontab(chosen, PATHS, redis=True), mode="0644"),
        ),
        port=None,
        healthcheck=Healthcheck(
            test=(
                "CMD-SHELL",
                f"test -s {PATHS.repo}/backup/{policy.STANZA}/backup.info"
                " && pgrep -x cron >/dev/null",
            ),
            start_period_s=120,
        ),
        volume_name=None,
        data_path=postgres.data_path,
        # The drill runs a scratch copy of the database: as much memory as Postgres.
        memory_mb=settings.postgres_memory_mb,
        stop_grace_s=30,
        labels={"com.bo1.stack": settings.stack, "com.bo1.component": "backup"},
        # Postgres's data, and what it shares: the repository and its socket directory.
        mounts=(Mount(str(postgres.volume_name), postgres.data_path), *postgres.mounts),
        init=True,
    )


def _drill(settings: StackSettings, chosen: policy.Policy) -> str:
    return policy.drill_script(chosen, PATHS, settings.postgres_database)


def ops_password_file() -> SecretFile:
    """bo1_ops's password, for the Redis snapshot job (read from a file: never argv)."""
    return SecretFile(REDIS_PASSWORD_FILE, ("redisOpsPassword",), _ops_password)


def _ops_password(values: Mapping[str, str]) -> str:
    return values["redisOpsPassword"]
