"""What a stack backs up, how and when: every file the backup sidecar and Postgres get. Pure.

Postgres archives every WAL segment through ``pgbackrest archive-push`` (at the
latest ``archive_timeout`` seconds after a write) into an encrypted repository on
a volume of its own; a sidecar container of the same image runs the full and
differential backups, the Redis snapshot and the restore drill from cron. The
tests run these very files on the real binaries, with their own paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bootstrap import shell_script

STANZA = "bo1"
CIPHER = "aes-256-cbc"
DRILL_PORT = 54329  # the scratch server's; it listens on a socket in the drill directory only
SCRIPTS = Path(__file__).with_name("scripts")


@dataclass(frozen=True)
class Policy:
    archive_timeout_s: int = 60
    retention_full: int = 2  # full backups kept, each with its differentials and WAL
    retention_diff: int = 6
    full_schedule: str = "15 3 * * 0"  # cron: Sunday 03:15
    diff_schedule: str = "15 3 * * 1-6"  # the other days
    drill_schedule: str = "45 4 * * *"
    max_age_hours: int = 26  # the drill fails when the newest backup is older
    redis_schedule: str = "30 3 * * *"
    redis_keep: int = 7
    compress_type: str = "lz4"  # measured: gz backs up at 0.46x tar's speed, lz4 at 1.15x
    process_max: int = 2


@dataclass(frozen=True)
class Paths:
    """Where things are: the container's paths by default; the tests pass their own."""

    config_dir: str = "/etc/pgbackrest"  # pgbackrest.conf and the sidecar's scripts
    repo: str = "/var/lib/pgbackrest"
    pg_data: str = "/var/lib/postgresql/data/pgdata"
    socket: str = "/var/run/postgresql"
    port: int = 5432
    pg_bindir: str = "/usr/lib/postgresql/15/bin"
    spool: str = "/var/spool/pgbackrest"
    lock: str = "/tmp/pgbackrest"

    @property
    def config(self) -> str:
        return f"{self.config_dir}/pgbackrest.conf"

    @property
    def drill(self) -> str:
        return f"{self.config_dir}/bo1-drill"  # the drill script: cron and `backup drill` run it

    @property
    def drill_dir(self) -> str:
        return f"{self.repo}/drill"  # on the repository's volume: it has room for a copy

    @property
    def redis_dir(self) -> str:
        return f"{self.repo}/redis"


def pgbackrest_conf(policy: Policy, paths: Paths, cipher_pass: str) -> str:
    """pgbackrest.conf. It holds the repository's passphrase: a secret file."""
    return "\n".join(
        [
            "# bo1-infra pgbackrest.conf (generated; do not edit)",
            "[global]",
            # in this order since the first release: a changed file would replace the
            # single-host stacks' Postgres container for nothing
            *repository_options(policy, paths.repo, cipher_pass),
            *engine_options(policy),
            "start-fast=y",  # checkpoint at once: a backup starts now, not at the next checkpoint
            "job-retry=1",  # a local repository: one immediate retry, no 15 s wait on a bad file
            *log_options(paths),
            "",
            f"[{STANZA}]",
            *postgres_options(paths),
            "",
        ]
    )


def cipher_options(cipher_pass: str) -> list[str]:
    return [f"repo1-cipher-type={CIPHER}", f"repo1-cipher-pass={cipher_pass}"]


def repository_options(policy: Policy, repo: str, cipher_pass: str) -> list[str]:
    """Where the repository is, its encryption and what it keeps."""
    return [
        f"repo1-path={repo}",
        *cipher_options(cipher_pass),
        f"repo1-retention-full={policy.retention_full}",
        f"repo1-retention-diff={policy.retention_diff}",
    ]


def engine_options(policy: Policy) -> list[str]:
    """How pgBackRest compresses and how many processes it runs."""
    return [f"compress-type={policy.compress_type}", f"process-max={policy.process_max}"]


def log_options(paths: Paths) -> list[str]:
    """Where pgBackRest logs (the console only: a container's output) and locks."""
    return [
        "log-level-console=warn",
        "log-level-stderr=off",
        "log-level-file=off",
        f"lock-path={paths.lock}",
        f"spool-path={paths.spool}",
    ]


def postgres_options(paths: Paths, index: int = 1) -> list[str]:
    """Where Postgres number ``index`` keeps its data and answers."""
    return [
        f"pg{index}-path={paths.pg_data}",
        f"pg{index}-socket-path={paths.socket}",
        f"pg{index}-port={paths.port}",
    ]


def archive_settings(policy: Policy, paths: Paths) -> dict[str, str]:
    """The Postgres settings that ship every WAL segment to the repository."""
    push = f"pgbackrest --config={paths.config} --stanza={STANZA} archive-push %p"
    return {
        "wal_level": "replica",
        "archive_mode": "on",
        "archive_command": push,
        "archive_timeout": str(policy.archive_timeout_s),
    }


CONTAINER_LOG = ">> /proc/1/fd/1 2>&1"  # the init's stdout: what `docker logs` shows
CRON_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"  # runuser: sbin


def crontab(
    policy: Policy, paths: Paths, *, redis: bool, drill: bool = True, log: str = CONTAINER_LOG
) -> str:
    """The sidecar's /etc/cron.d entry. Jobs start as root only to write to the
    container's output (PID 1's stdout); each one runs as postgres."""
    backup = f"pgbackrest --config={paths.config} --stanza={STANZA}"
    lines = [
        *_CRON_HEADER,
        f"{policy.full_schedule} {_AS_POSTGRES} {backup} --type=full backup {log}",
        f"{policy.diff_schedule} {_AS_POSTGRES} {backup} --type=diff backup {log}",
    ]
    if drill:
        lines.append(f"{policy.drill_schedule} {_AS_POSTGRES} {paths.drill} {log}")
    if redis:
        lines.append(
            f"{policy.redis_schedule} {_AS_POSTGRES} {paths.config_dir}/bo1-redis-snapshot {log}"
        )
    return "\n".join(lines) + "\n"


_CRON_HEADER = ("# bo1-infra backup schedule (generated; do not edit)", "SHELL=/bin/sh",
                f"PATH={CRON_PATH}")  # fmt: skip
_AS_POSTGRES = "root runuser -u postgres --"


def leader_drill_crontab(policy: Policy, command: str, log: str = CONTAINER_LOG) -> str:
    """An ha stack's Postgres node's /etc/cron.d entry: the drill wrapper, daily (it runs
    the drill on the leader only)."""
    return (
        "\n".join([*_CRON_HEADER, f"{policy.drill_schedule} {_AS_POSTGRES} {command} {log}"]) + "\n"
    )


def _script(name: str, settings: dict[str, str | int]) -> str:
    """A script of ``scripts/``, its settings rendered as shell assignments at the top."""
    return shell_script.render(SCRIPTS / name, settings)


def drill_script(policy: Policy, paths: Paths, database: str, drill_dir: str = "") -> str:
    """The restore drill: the sidecar's cron and `bo1-infra backup drill` run this one.
    ``drill_dir``: where the scratch copy goes, when not beside the repository."""
    return _script(
        "drill.sh",
        {
            "bindir": paths.pg_bindir,
            "conf": paths.config,
            "stanza": STANZA,
            "source_socket": paths.socket,
            "source_port": paths.port,
            "database": database,
            "drill_dir": drill_dir or paths.drill_dir,
            "drill_port": DRILL_PORT,
            "max_age_hours": policy.max_age_hours,
        },
    )


def leader_drill_script(paths: Paths, database: str, drill: str, drill_dir: str) -> str:
    """An ha stack's drill wrapper: every Postgres node's cron starts it; it runs the drill
    (``drill``) only where Postgres is the leader, so the drill compares with and records
    into the primary over the node's own socket."""
    return _script(
        "leader-drill.sh",
        {"bindir": paths.pg_bindir, "socket": paths.socket, "port": paths.port,
         "database": database, "drill": drill, "drill_dir": drill_dir},
    )  # fmt: skip


def sidecar_script(
    paths: Paths, crontab_file: str = "/etc/cron.d/bo1-backups", scheduler: str = "cron -f"
) -> str:
    """The backup sidecar's entry point: stanza, first full backup, then the scheduler.
    Its text stays as it was (scripts/repository.sh names the same steps as functions): a
    changed upload would replace the single-host stacks' sidecar for nothing."""
    return _script(
        "sidecar.sh",
        {
            "bindir": paths.pg_bindir,
            "conf": paths.config,
            "stanza": STANZA,
            "socket": paths.socket,
            "port": paths.port,
            "crontab": crontab_file,
            "scheduler": scheduler,
        },
    )


def repository_script(paths: Paths, key_upload: str, key: str, scheduler: str = "cron") -> str:
    """An ha stack's repository host's entry point (bootstrap/ha/backup.py)."""
    return _script(
        "repository.sh",
        {"conf": paths.config, "stanza": STANZA, "key_upload": key_upload, "key": key,
         "scheduler": scheduler},
    )  # fmt: skip


@dataclass(frozen=True)
class RedisSource:
    host: str
    port: int
    user: str
    password_file: str


def redis_snapshot_script(policy: Policy, paths: Paths, source: RedisSource) -> str:
    """The Redis snapshot job: one RDB file into the repository volume, the newest kept."""
    return _script(
        "redis-snapshot.sh",
        {
            "redis_host": source.host,
            "redis_port": source.port,
            "redis_user": source.user,
            "password_file": source.password_file,
            "redis_dir": paths.redis_dir,
            "keep": policy.redis_keep,
        },
    )


@dataclass(frozen=True)
class Sentinels:
    """Where an ha stack's snapshot job asks which Redis node is master."""

    addresses: list[str]  # host:port of each Sentinel
    agree: int  # how many must name the same master: a majority of them
    master_name: str
    user: str
    password_file: str


def redis_snapshot_master_script(
    sources: dict[str, str], sentinels: Sentinels, rounds: int = 3, pause_s: int = 10
) -> str:
    """An ha stack's Redis snapshot job: ``sources`` maps each Redis node's address to its
    snapshot job; the one run is the master's, as a majority of the Sentinels name it, for up to
    ``rounds`` rounds (Sentinel's promotion takes a few seconds: measured 3.3 s)."""
    settings: dict[str, str | int] = {
        "sources": " ".join(f"{address}={job}" for address, job in sources.items()),
        "sentinels": " ".join(sentinels.addresses), "agree": sentinels.agree,
        "master_name": sentinels.master_name,
        "user": sentinels.user, "password_file": sentinels.password_file,
        "rounds": rounds, "pause_s": pause_s,
    }  # fmt: skip
    return _script("redis-snapshot-master.sh", settings)
