"""Every client of a stack, from a non-loopback address, against the rendered configs.

Through Docker's published port a server sees the bridge gateway's address, never
loopback; another machine sees its own. Tests on 127.0.0.1 hide what such a client
meets (Redis protected mode, pg_hba.conf). Here Postgres and Redis run inside a
network namespace standing for the container, with the stack's rendered files, and
every client (bootstrap, verify, status, redis-cleanup, the env file's URLs) reaches
them over a veth pair. The healthchecks run inside the namespace, as they run
inside the container. The negative controls show the tests have teeth: the old
Redis ACL and initdb's pg_hba.conf are refused from the same place.
"""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import redis

from bootstrap.appenv.env_file import read as read_env
from bootstrap.stack_secrets.catalogue import load as load_catalogue
from infra.settings import StackSettings, from_config
from infra.specs import pooler as pooler_spec
from infra.specs import postgres_server, redis_server
from tests.support import netns
from tests.support.cli import run_cli
from tests.support.pooler import Pooler, running_pgbouncer, stack_auth_file
from tests.support.postgres_server import PostgresServer, running_postgres
from tests.support.pulumi_harness import stack_config
from tests.support.redis_server import RedisProcess, running_stack_redis

pytestmark = pytest.mark.skipif(netns.available() is not None, reason=str(netns.available()))
CATALOGUE = load_catalogue()


@dataclass(frozen=True)
class Host:
    """A Docker host's stand-in: Postgres and Redis in a namespace of their own."""

    ns: netns.Namespace
    postgres: PostgresServer
    redis: RedisProcess
    pooler: Pooler
    settings: StackSettings
    secrets: dict[str, str]

    def env(self) -> dict[str, str]:
        """What the Pulumi hook gives bootstrap, pointing at the namespace's address."""
        return {
            "PGHOST": self.ns.ip,
            "PGPORT": str(self.postgres.port),
            "PGUSER": "postgres",
            "PGDATABASE": "postgres",
            "BO1_POOLER_PORT": str(self.pooler.port),
            "REDIS_URL": self.redis.server.url("bo1_ops", self.secrets["redisOpsPassword"]),
            **{s.env: self.secrets[s.key] for s in CATALOGUE.secrets},
        }


@pytest.fixture(scope="module")
def host(scratch_root: Path) -> Iterator[Host]:
    netns.sweep()
    settings = from_config("dev", stack_config("dev"))
    with netns.namespace() as ns:
        pg_settings = postgres_server.server_settings(settings)
        with running_postgres(
            scratch_root / "boundary-pg",
            settings={**pg_settings, "shared_buffers": "128MB"},
            hba=postgres_server.render_hba(),
            netns=ns,
        ) as pg:
            values = {s.key: f"{s.key}-{secrets.token_hex(8)}" for s in CATALOGUE.secrets}
            values["postgresSuperuserPassword"] = pg.password
            with (
                running_stack_redis(
                    scratch_root / "boundary-redis", settings, values, netns=ns
                ) as cache,
                running_pgbouncer(
                    scratch_root / "boundary-pooler", pg, stack_auth_file(values),
                    database="postgres", pool=settings.pool(), netns=ns,
                ) as pooler,
            ):  # fmt: skip
                yield Host(ns, pg, cache, pooler, settings, values)


def test_the_whole_cli_works_from_outside_the_host(host: Host, tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    boot = run_cli("bootstrap", "--stack", "dev", "--env-file", str(env_file), env=host.env())
    assert boot.returncode == 0, boot.stderr
    verify = run_cli("verify", "--stack", "dev", "--env-file", str(env_file), env=host.env())
    assert verify.returncode == 0, verify.stdout  # incl. the env file's DATABASE_URL, REDIS_URL
    assert "18 of 18 checks passed." in verify.stdout
    status = run_cli("status", env=host.env())
    assert status.returncode == 0 and host.ns.ip in status.stdout, status.stderr
    assert f"Pooler {host.ns.ip}:6432" in status.stdout and "transaction mode" in status.stdout
    cleanup = run_cli("redis-cleanup", env=host.env())
    assert cleanup.returncode == 0, cleanup.stderr
    values = read_env(env_file)
    assert f"@{host.ns.ip}:6432/" in values["DATABASE_URL"] and values["REDIS_HOST"] == host.ns.ip
    assert f"@{host.ns.ip}:{host.postgres.port}/" in values["DATABASE_DIRECT_URL"]


def test_the_server_sees_a_non_loopback_client(host: Host) -> None:
    with psycopg.connect(host.postgres.dsn()) as conn:
        (peer,) = conn.execute("SELECT host(inet_client_addr())").fetchone() or ("",)
    assert peer == host.ns.host_ip
    with host.redis.server.client(decode_responses=True) as r:
        addresses = [c["addr"] for c in r.client_list()]
    assert any(a.startswith(f"{host.ns.host_ip}:") for a in addresses), addresses


def test_the_app_logs_in_to_redis_with_its_password_from_outside(host: Host) -> None:
    url = f"redis://:{host.secrets['redisAppPassword']}@{host.ns.ip}:6379/0"
    with redis.Redis.from_url(url) as app:
        assert app.set("session:bo1_boundary", "1", ex=60)


def test_every_healthcheck_passes_inside_the_host(host: Host, tmp_path: Path) -> None:
    password_file = tmp_path / "health"
    password_file.write_text(host.secrets["redisHealthPassword"])
    redis_check = redis_server.healthcheck(password_file=str(password_file))
    pg_check = postgres_server.healthcheck("postgres", port=host.postgres.port)
    pool_check = pooler_spec.healthcheck(host.pooler.port)
    assert pg_check.test[0] == pool_check.test[0] == "CMD" and redis_check.test[0] == "CMD-SHELL"
    ran = [
        subprocess.run(host.ns.run(*check.test[1:]), capture_output=True, text=True)
        for check in (pg_check, pool_check)
    ]
    ran.append(
        subprocess.run(host.ns.run("sh", "-c", redis_check.test[1]), capture_output=True, text=True)
    )
    assert [r.returncode for r in ran] == [0, 0, 0], [r.stdout + r.stderr for r in ran]


# -- negative controls: what the same client meets with yesterday's files ------------------


def test_control_a_nopass_default_user_turns_remote_clients_away(
    host: Host, scratch_root: Path
) -> None:
    """Protected mode: with `default` off/nopass, Redis DENIES every non-loopback client."""
    from tests.support.redis_server import running_redis

    acl = redis_server.render_acl(host.secrets, host.settings.key_families())
    old = [line for line in acl.splitlines() if not line.startswith("user default ")]
    workdir = scratch_root / "boundary-old-acl"
    workdir.mkdir()
    (workdir / "users.acl").write_text(
        "\n".join(["user default off nopass resetkeys resetchannels -@all", *old]) + "\n"
    )
    conf = redis_server.render_conf(
        from_config("dev", {"redisLine": "7.2"}), str(workdir / "users.acl"), str(workdir)
    )
    with netns.namespace() as ns, running_redis(workdir, conf, netns=ns) as proc:
        client = redis.Redis(
            host=ns.ip, port=6379, username="bo1_ops", password=host.secrets["redisOpsPassword"]
        )
        with pytest.raises(redis.exceptions.ResponseError, match="DENIED"):
            client.ping()
        assert proc.proc is not None and proc.proc.poll() is None  # up, and refusing


def test_control_initdbs_pg_hba_refuses_remote_clients(scratch_root: Path) -> None:
    with (
        netns.namespace() as ns,
        running_postgres(scratch_root / "boundary-initdb-hba", netns=ns) as pg,
        pytest.raises(psycopg.OperationalError, match=r"no pg_hba\.conf entry"),
    ):
        psycopg.connect(pg.dsn(), connect_timeout=5).close()
