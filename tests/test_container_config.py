"""The container specs, proven on the real binaries before Docker ever sees them.

The rendered redis.conf and ACL file start a real redis-server (the one with
JSON and Search for a line that has them, Debian's for the others); the
rendered Postgres settings start the real postgres 15; the healthcheck
commands run against both. A typo that Docker would reveal only at
`pulumi up` fails here first.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import redis as redis_py

from bootstrap.backup.policy import Paths, archive_settings
from bootstrap.redisdb import users as redis_users
from infra.settings import StackSettings, from_config
from infra.specs import postgres_server, redis_server
from tests.support.ports import free_port
from tests.support.postgres_server import running_postgres
from tests.support.pulumi_harness import stack_config
from tests.support.redis_server import RedisProcess, running_redis, running_stack_redis

STACKS = ("dev", "staging", "prod")
PASSWORDS = {
    "redisAppPassword": "app-pw-4c1f",
    "redisOpsPassword": "ops-pw-77aa",
    "redisHealthPassword": "health-pw-0b9e",
}


def settings_for(stack: str, line: str | None = None) -> StackSettings:
    extra = {"bo1-infra:redisLine": line} if line else {}
    return from_config(stack, {**stack_config(stack), **extra})


# Every stack as configured (line 8.8, with modules), and a stack on a line without.
CONFIGS = [(stack, None) for stack in STACKS] + [("dev", "7.2")]


@pytest.fixture(scope="module", params=CONFIGS, ids=lambda c: f"{c[0]}-{c[1] or 'default'}")
def stack_redis(
    request: pytest.FixtureRequest, scratch_root: Path
) -> Iterator[tuple[StackSettings, RedisProcess]]:
    stack, line = request.param
    settings = settings_for(stack, line)
    workdir = scratch_root / f"redis-{stack}-{line or 'default'}"
    with running_stack_redis(workdir, settings, PASSWORDS) as proc:
        yield settings, proc


def client(proc: RedisProcess, user: str | None, password: str | None) -> redis_py.Redis:
    return proc.server.client(username=user, password=password)


def test_rendered_conf_runs_with_the_promised_settings(
    stack_redis: tuple[StackSettings, RedisProcess],
) -> None:
    _, proc = stack_redis
    with proc.server.client(decode_responses=True) as ops:
        assert ops.config_get("appendonly") == {"appendonly": "yes"}
        assert ops.config_get("appendfsync") == {"appendfsync": "everysec"}
        assert ops.config_get("maxmemory") == {"maxmemory": "268435456"}
        assert ops.config_get("maxmemory-policy") == {"maxmemory-policy": "allkeys-lru"}
        assert ops.config_get("protected-mode") == {"protected-mode": "yes"}
        assert ops.config_get("save") == {"save": ""}
        assert ops.info("persistence")["aof_enabled"] == 1


def test_nobody_gets_in_without_a_password(
    stack_redis: tuple[StackSettings, RedisProcess],
) -> None:
    _, proc = stack_redis
    with client(proc, None, None) as anonymous, pytest.raises(redis_py.AuthenticationError):
        anonymous.get("session:1")


def test_the_app_logs_in_with_a_password_only_and_is_confined(
    stack_redis: tuple[StackSettings, RedisProcess],
) -> None:
    _, proc = stack_redis
    # Board of One sends AUTH <password> with no user name: that is the `default` user.
    with client(proc, None, PASSWORDS["redisAppPassword"]) as app:
        assert app.acl_whoami() == "default" == redis_users.APP_USER
        for key in ("session:bo1_s1", "metadata:bo1_s1", "checkpoint:t1:__empty__:c1",
                    "checkpoint_latest:t1:__empty__", "checkpoint_write:t1:__empty__:c1:t:0",
                    "write_keys_zset:t1:__empty__:c1", "ratelimit:u1:chat", "cache:abc"):  # fmt: skip
            assert app.set(key, "v", ex=60), key
        for key in ("other:1", "sessions", "user:1"):
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                app.set(key, "v")
        for command in (("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "maxmemory"), ("KEYS", "*"),
                        ("SHUTDOWN",), ("ACL", "LIST"), ("REPLICAOF", "NO", "ONE"), ("MONITOR",), ("INFO",), ("MIGRATE", "h", "1",
                        "k", "0", "1"), ("CLIENT", "KILL", "ID", "1"), ("SAVE",),
                        ("EVAL", "return 1", "0"), ("FUNCTION", "FLUSH"), ("SCRIPT", "FLUSH"),
                        ("SELECT", "1"), ("RANDOMKEY",), ("PUBSUB", "CHANNELS"),
                        ("CLIENT", "TRACKING", "ON", "BCAST")):  # fmt: skip
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                app.execute_command(*command)
        app.execute_command("MODULE", "LIST")  # redisvl asks which modules are loaded
        # DEBUG and MODULE UNLOAD are refused by the server itself (enable-debug-command,
        # enable-module-command) before the ACL is asked.
        for command in (("DEBUG", "SLEEP", "0"), ("MODULE", "UNLOAD", "search")):
            with pytest.raises(redis_py.exceptions.ResponseError, match=r"not allowed|NOPERM"):
                app.execute_command(*command)


def test_ops_user_reads_config_but_cannot_change_it(
    stack_redis: tuple[StackSettings, RedisProcess],
) -> None:
    _, proc = stack_redis
    with proc.server.client() as ops:
        assert list(ops.scan_iter(count=10)) is not None
        assert ops.config_get("maxmemory") and ops.info("memory") and ops.dbsize() >= 0
        for command in (("CONFIG", "SET", "maxmemory", "1gb"), ("FLUSHALL",),
                        ("REPLICAOF", "10.0.0.1", "6379"), ("MONITOR",),
                        ("MIGRATE", "10.0.0.1", "6379", "k", "0", "1"), ("FUNCTION", "FLUSH"),
                        ("ACL", "SETUSER", "x")):  # fmt: skip
            with pytest.raises(redis_py.exceptions.NoPermissionError):
                ops.execute_command(*command)


def test_wrong_password_is_refused(stack_redis: tuple[StackSettings, RedisProcess]) -> None:
    _, proc = stack_redis
    with (
        client(proc, redis_users.APP_USER, "not-it") as app,
        pytest.raises(redis_py.AuthenticationError),
    ):
        app.ping()


def test_healthcheck_passes_with_its_password_file_and_fails_without(
    stack_redis: tuple[StackSettings, RedisProcess], tmp_path: Path
) -> None:
    _, proc = stack_redis
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text(PASSWORDS["redisHealthPassword"])
    bad.write_text("wrong")
    for path, expected in ((good, 0), (bad, 1)):
        check = redis_server.healthcheck(password_file=str(path), port=proc.server.port)
        assert check.test[0] == "CMD-SHELL"
        assert (
            subprocess.run(["sh", "-c", check.test[1]], capture_output=True).returncode == expected
        )
    with client(proc, redis_users.HEALTH_USER, PASSWORDS["redisHealthPassword"]) as health:
        assert health.ping()
        with pytest.raises(redis_py.exceptions.NoPermissionError):
            health.get("session:s1")


def test_modules_are_loaded_where_the_line_has_them(
    stack_redis: tuple[StackSettings, RedisProcess],
) -> None:
    settings, proc = stack_redis
    with proc.server.client(decode_responses=True) as ops:
        loaded = {m["name"] for m in ops.module_list()}
    assert loaded == ({"ReJSON", "search"} if settings.redis_modules else set()), loaded


def test_acl_file_holds_hashes_not_passwords() -> None:
    text = redis_server.render_acl(PASSWORDS, settings_for("dev").key_families())
    assert not any(password in text for password in PASSWORDS.values())


def test_a_typo_in_redis_conf_fails_here(scratch_root: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="exited"),
        running_redis(scratch_root / "redis-typo", "maxmemory-polcy allkeys-lru\n"),
    ):
        pass


# -- postgres ---------------------------------------------------------------------


@pytest.mark.parametrize("stack", STACKS)
def test_postgres_starts_with_the_stack_settings(stack: str, scratch_root: Path) -> None:
    expected = postgres_server.server_settings(settings_for(stack))
    with running_postgres(
        scratch_root / f"pg-{stack}", settings=expected, hba=postgres_server.render_hba()
    ) as server:
        with psycopg.connect(server.dsn()) as conn:
            for name, value in expected.items():
                shown = conn.execute(f"SHOW {name}").fetchone()
                assert shown == (value,), name
        check = postgres_server.healthcheck("postgres", port=server.port)
        assert check.test[0] == "CMD"
        assert (
            subprocess.run(
                [server.bin(check.test[1]), *check.test[2:]], capture_output=True
            ).returncode
            == 0
        )
    closed = postgres_server.healthcheck("postgres", port=free_port())
    assert (
        subprocess.run([server.bin("pg_isready"), *closed.test[2:]], capture_output=True).returncode
        != 0
    )


def test_a_typo_in_postgres_settings_fails_here(scratch_root: Path) -> None:
    with (
        pytest.raises(RuntimeError, match="shared_bufers"),
        running_postgres(scratch_root / "pg-typo", settings={"shared_bufers": "1MB"}),
    ):
        pass


def test_postgres_command_passes_exactly_the_settings() -> None:
    settings = settings_for("prod")
    args = postgres_server.command(settings)
    assert args[0] == "postgres"
    pairs = dict(a.split("=", 1) for a in args[2::2])
    assert pairs == {
        "hba_file": postgres_server.HBA_PATH,  # the uploaded, rendered pg_hba.conf
        **postgres_server.server_settings(settings),
        # prod backs up: every WAL segment goes to the repository (test_backups.py)
        **archive_settings(settings.backup_policy(), Paths()),
    }
    assert all(flag == "-c" for flag in args[1::2])
