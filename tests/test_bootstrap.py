"""`bo1-infra bootstrap`, `verify` and `status` against real PostgreSQL 15 + pgvector and Redis 7.

These tests run on a cluster of their own, with log_statement = all, so that the
server log can be searched for secrets too; role passwords are cluster-wide and
rotating them must not disturb the rest of the suite.
"""

from __future__ import annotations

import re
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bootstrap import paths
from bootstrap.appenv.env_file import read as read_env
from bootstrap.migrate.files import discover
from bootstrap.paths import MIGRATIONS_DIR
from infra.settings import from_config
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.databases import temp_database
from tests.support.pooler import Pooler, running_pgbouncer, stack_auth_file
from tests.support.ports import free_port
from tests.support.postgres_server import PostgresServer, running_postgres
from tests.support.pulumi_harness import stack_config
from tests.support.redis_server import RedisProcess, running_stack_redis
from tests.support.stack_values import fresh_secrets, secret_env


@pytest.fixture(scope="module")
def cluster(scratch_root: Path) -> Iterator[PostgresServer]:
    with running_postgres(scratch_root / "boot-pg", settings={"log_statement": "all"}) as server:
        yield server


@pytest.fixture(scope="module")
def stack_secrets(cluster: PostgresServer) -> dict[str, str]:
    return fresh_secrets(cluster.password)


@pytest.fixture(scope="module")
def redis_proc(scratch_root: Path, stack_secrets: dict[str, str]) -> Iterator[RedisProcess]:
    settings = from_config("dev", stack_config("dev"))
    with running_stack_redis(scratch_root / "boot-redis", settings, stack_secrets) as proc:
        yield proc


@pytest.fixture
def database(cluster: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    with temp_database(cluster, request.node.name) as name:
        yield name


@pytest.fixture
def pooler(
    cluster: PostgresServer,
    database: str,
    stack_secrets: dict[str, str],
    scratch_root: Path,
) -> Iterator[Pooler]:
    """The stack's PgBouncer in front of this test's database, its auth file from the secrets."""
    with running_pgbouncer(
        scratch_root / f"pooler-{database}", cluster, stack_auth_file(stack_secrets),
        database=database,
    ) as running:  # fmt: skip
        yield running


def environment(
    server: PostgresServer,
    db: str,
    redis_proc: RedisProcess,
    values: dict[str, str],
    pooler_port: int | None = None,
) -> dict[str, str]:
    """What the Pulumi hook gives bootstrap: PG* (no password), the pooler's port, REDIS_URL as
    bo1_ops, BO1_* secrets."""
    env = {
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGUSER": "postgres",
        "PGDATABASE": db,
        # no pooler: a port nothing listens on (verify then says so)
        "BO1_POOLER_PORT": str(pooler_port or free_port()),
    }
    env["REDIS_URL"] = redis_proc.server.url("bo1_ops", values["redisOpsPassword"])
    env |= secret_env(values)
    return env


@pytest.fixture
def boot_env(
    cluster: PostgresServer,
    database: str,
    redis_proc: RedisProcess,
    stack_secrets: dict[str, str],
    pooler: Pooler,
) -> dict[str, str]:
    return environment(cluster, database, redis_proc, stack_secrets, pooler.port)


def boot(env: dict[str, str], env_file: Path, *extra: str) -> tuple[int, str, str]:
    result = run_cli(
        "bootstrap", "--stack", "dev", "--env-file", str(env_file), "--wait", "5", *extra, env=env
    )
    return result.returncode, result.stdout, result.stderr


def can_login(server: PostgresServer, db: str, user: str, password: str) -> bool:
    try:
        psycopg.connect(
            host=server.host,
            port=server.port,
            dbname=db,
            user=user,
            password=password,
            connect_timeout=5,
        ).close()
    except psycopg.OperationalError:
        return False
    return True


# -- the full cycle ------------------------------------------------------------------


def test_bootstrap_then_verify_then_a_second_bootstrap_changes_nothing(
    cluster: PostgresServer,
    database: str,
    boot_env: dict[str, str],
    stack_secrets: dict[str, str],
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "app.env"
    rc, out, err = boot(boot_env, env_file)
    assert rc == 0, err
    assert f"Migrations: {len(discover(MIGRATIONS_DIR))} applied" in out
    assert "Personas: 45 inserted" in out
    assert "App env file" in out and "written" in out

    verified = run_cli("verify", "--env-file", str(env_file), env=boot_env)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "FAIL" not in verified.stdout
    assert "18 of 18 checks passed." in verified.stdout
    assert "ReJSON, search loaded (line 8.8)" in verified.stdout
    assert re.search(r"pooler\s+ok\s+PgBouncer [\d.]+: transaction mode, reset", verified.stdout)
    # what bootstrap stored is, byte for byte, what the program's auth file carries
    in_auth_file = dict(
        tuple(part.strip('"') for part in line.split()) for line in
        stack_auth_file(stack_secrets).splitlines()
    )  # fmt: skip
    with psycopg.connect(cluster.dsn(database)) as conn:
        stored = dict(
            conn.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
                [list(in_auth_file)],
            ).fetchall()
        )
    # bo1_app's verifier is the very one Postgres stores; the stats user is PgBouncer's own
    assert stored == {"bo1_app": in_auth_file["bo1_app"]}
    assert set(in_auth_file) == {"bo1_app", "bo1_pooler_stats"}

    before = (env_file.stat().st_ino, env_file.stat().st_mtime_ns)
    with psycopg.connect(cluster.dsn(database)) as conn:
        verifiers = conn.execute(
            "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE 'bo1%' ORDER BY 1"
        ).fetchall()
    rc, out, err = boot(boot_env, env_file)
    assert rc == 0, err
    assert "Migrations: 0 applied" in out
    assert "45 unchanged" in out
    assert "Role passwords: postgres unchanged, bo1_app unchanged, bo1_service unchanged." in out
    assert out.strip().endswith("Bootstrap of stack dev: done, nothing changed.")
    assert (env_file.stat().st_ino, env_file.stat().st_mtime_ns) == before
    with psycopg.connect(cluster.dsn(database)) as conn:
        assert (
            conn.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname LIKE 'bo1%' ORDER BY 1"
            ).fetchall()
            == verifiers
        )


def test_env_file_is_private_complete_and_works(
    cluster: PostgresServer,
    database: str,
    boot_env: dict[str, str],
    pooler: Pooler,
    stack_secrets: dict[str, str],
    redis_proc: RedisProcess,
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "secrets" / ".env.dev"
    assert boot(boot_env, env_file)[0] == 0
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    values = read_env(env_file)
    assert values["ANTHROPIC_API_KEY"] == stack_secrets["anthropicApiKey"]
    assert values["VOYAGE_API_KEY"] == stack_secrets["voyageApiKey"]
    assert f":{pooler.port}/" in values["DATABASE_URL"]
    assert f":{cluster.port}/" in values["DATABASE_DIRECT_URL"]
    for url in (values["DATABASE_URL"], values["DATABASE_DIRECT_URL"]):
        with psycopg.connect(url) as app:
            assert app.execute("SELECT current_user").fetchone() == ("bo1_app",)
    with psycopg.connect(values["DATABASE_SERVICE_URL"]) as service:
        assert service.execute("SELECT current_user").fetchone() == ("bo1_service",)
    import redis

    # Both forms the app knows: REDIS_URL, and host/port/db/password.
    assert values["REDIS_URL"].startswith("redis://:")  # no user name, as the app sends none
    with redis.Redis.from_url(values["REDIS_URL"]) as r:
        assert r.set("session:from-env-file", "1", ex=10)
    with redis.Redis(
        host=values["REDIS_HOST"],
        port=int(values["REDIS_PORT"]),
        db=int(values["REDIS_DB"]),
        password=values["REDIS_PASSWORD"],
    ) as r:
        assert r.get("session:from-env-file") == b"1"
    assert [p.name for p in env_file.parent.iterdir()] == [".env.dev"]  # no temp file left behind


def test_app_settings_override_defaults(boot_env: dict[str, str], tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    assert (
        boot(
            {
                **boot_env,
                "BO1_APP_SETTINGS": '{"LOG_LEVEL": "DEBUG", "MAX_COST_PER_SESSION": "5.00"}',
            },
            env_file,
        )[0]
        == 0
    )
    values = read_env(env_file)
    assert (values["LOG_LEVEL"], values["MAX_COST_PER_SESSION"]) == ("DEBUG", "5.00")


# -- rotation ---------------------------------------------------------------------


def test_rotating_a_role_password_lets_the_new_one_in_and_keeps_the_old_one_out(
    cluster: PostgresServer, database: str, boot_env: dict[str, str], tmp_path: Path
) -> None:
    env_file = tmp_path / "app.env"
    old = boot_env["BO1_POSTGRES_APP_PASSWORD"]
    assert boot(boot_env, env_file)[0] == 0
    assert can_login(cluster, database, "bo1_app", old)
    new = "Rotated-" + secrets.token_urlsafe(12)
    rc, out, err = boot({**boot_env, "BO1_POSTGRES_APP_PASSWORD": new}, env_file)
    assert rc == 0, err
    assert "bo1_app set" in out and "bo1_service unchanged" in out
    assert can_login(cluster, database, "bo1_app", new)
    assert not can_login(cluster, database, "bo1_app", old)
    assert new in read_env(env_file)["DATABASE_URL"]
    assert boot(boot_env, env_file)[0] == 0  # rotate back for the other tests of this module


def test_rotating_the_superuser_rekeys_it_over_the_local_socket(
    scratch_root: Path, redis_proc: RedisProcess, stack_secrets: dict[str, str], tmp_path: Path
) -> None:
    # The Postgres image reads its password file only on an empty volume; after a
    # rotation the stored password is the old one, and bootstrap must still get in.
    with running_postgres(scratch_root / "rotate-pg") as server:
        values = {
            **stack_secrets,
            "postgresSuperuserPassword": "New-Superuser-" + secrets.token_hex(8),
        }
        rotated_env = environment(server, "postgres", redis_proc, values)
        env_file = tmp_path / "app.rotated_env"
        refused = run_cli(
            "bootstrap", "--stack", "dev", "--env-file", str(env_file), env=rotated_env
        )
        assert_one_line_error(refused, "password authentication failed", '"postgres"')
        assert values["postgresSuperuserPassword"] not in refused.stderr

        socket_dir = server.datadir.parent
        rotated_env["BO1_POSTGRES_LOCAL_PSQL"] = (
            f"{server.bin('psql')} -h {socket_dir} -p {server.port} -U postgres -d postgres"
        )
        rc, out, err = boot(rotated_env, env_file)
        assert rc == 0, err
        assert "password re-keyed over the local socket" in out
        assert can_login(server, "postgres", "postgres", values["postgresSuperuserPassword"])
        assert not can_login(server, "postgres", "postgres", server.password)
        assert boot(rotated_env, env_file)[1].strip().endswith("nothing changed.")


# -- secrets never printed ----------------------------------------------------------


def test_no_command_ever_prints_a_secret(
    cluster: PostgresServer,
    database: str,
    boot_env: dict[str, str],
    stack_secrets: dict[str, str],
    redis_proc: RedisProcess,
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "app.env"
    dead = free_port()
    wrong = {**boot_env, "BO1_POSTGRES_SUPERUSER_PASSWORD": "Wrong-Superuser-Pw-77"}
    runs = [
        run_cli("bootstrap", "--env-file", str(env_file), env=boot_env),
        run_cli("bootstrap", "--env-file", str(env_file), env=boot_env),
        run_cli("verify", "--env-file", str(env_file), env=boot_env),
        run_cli("status", env=boot_env),
        run_cli(
            "migrate",
            "status",
            env={**boot_env, "PGPASSWORD": stack_secrets["postgresSuperuserPassword"]},
        ),
        run_cli(
            "seed",
            "personas",
            "--dry-run",
            env={**boot_env, "PGPASSWORD": stack_secrets["postgresSuperuserPassword"]},
        ),
        # ...and the failing ones
        run_cli("bootstrap", "--env-file", str(env_file), env=wrong),
        run_cli("verify", "--env-file", str(env_file), env=wrong),
        run_cli(
            "bootstrap",
            "--env-file",
            str(env_file),
            "--wait",
            "0",
            env={**boot_env, "PGPORT": str(dead)},
        ),
        run_cli(
            "bootstrap",
            "--env-file",
            str(env_file),
            "--wait",
            "0",
            env={
                **boot_env,
                "REDIS_URL": f"redis://bo1_ops:{stack_secrets['redisOpsPassword']}@127.0.0.1:{dead}/0",
            },
        ),
        run_cli(
            "bootstrap",
            "--env-file",
            str(env_file),
            env={**boot_env, "REDIS_URL": redis_proc.server.url("bo1_ops", "Wrong-Redis-Pw-55")},
        ),
        run_cli(
            "bootstrap",
            "--stack",
            "prod",
            "--env-file",
            str(env_file),
            env={k: v for k, v in boot_env.items() if k != "BO1_VOYAGE_API_KEY"},
        ),
        run_cli(
            "status",
            env={
                **boot_env,
                "REDIS_URL": redis_proc.server.url("", stack_secrets["redisAppPassword"]),
            },
        ),
    ]
    assert [r.returncode for r in runs][:6] == [0] * 6
    assert all(r.returncode != 0 for r in runs[6:12])
    forbidden = [*stack_secrets.values(), "Wrong-Superuser-Pw-77", "Wrong-Redis-Pw-55"]
    for result in runs:
        for value in forbidden:
            assert value not in result.stdout + result.stderr, (result.args, value)
        assert "Traceback" not in result.stderr, result.stderr
    # The server log (log_statement = all) holds neither the passwords nor their verifiers.
    log = cluster.logfile.read_text()
    assert "ALTER ROLE bo1_owner" in log  # statements really are logged here...
    assert re.search(r"PASSWORD\s+'", log, re.IGNORECASE) is None and "SCRAM-SHA-256$" not in log
    assert not any(value in log for value in forbidden)


# -- bad input -------------------------------------------------------------------


def test_missing_secrets_are_all_listed(boot_env: dict[str, str], tmp_path: Path) -> None:
    partial = {
        k: v
        for k, v in boot_env.items()
        if k not in ("BO1_ANTHROPIC_API_KEY", "BO1_VOYAGE_API_KEY", "BO1_REDIS_OPS_PASSWORD")
    }
    result = run_cli(
        "bootstrap", "--stack", "staging", "--env-file", str(tmp_path / "e"), env=partial
    )
    line = assert_one_line_error(
        result,
        "3 secret(s) missing",
        "BO1_ANTHROPIC_API_KEY",
        "BO1_VOYAGE_API_KEY",
        "BO1_REDIS_OPS_PASSWORD",
    )
    assert result.returncode == 2, line
    assert not (tmp_path / "e").exists()


def test_wrong_password_names_the_user_not_the_password(
    boot_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(
        "bootstrap",
        "--env-file",
        str(tmp_path / "e"),
        env={**boot_env, "BO1_POSTGRES_SUPERUSER_PASSWORD": "Nope-123"},
    )
    assert_one_line_error(
        result, "password authentication failed", '"postgres"', "check the password"
    )


def test_unreachable_services_get_a_clear_error_after_the_bounded_wait(
    boot_env: dict[str, str], tmp_path: Path
) -> None:
    dead = free_port()
    pg = run_cli(
        "bootstrap",
        "--env-file",
        str(tmp_path / "e"),
        "--wait",
        "1",
        env={**boot_env, "PGPORT": str(dead)},
    )
    assert_one_line_error(pg, f"127.0.0.1:{dead}", "after waiting 1 s")
    rd = run_cli(
        "bootstrap",
        "--env-file",
        str(tmp_path / "e"),
        "--wait",
        "1",
        env={**boot_env, "REDIS_URL": f"redis://bo1_ops:x@127.0.0.1:{dead}/0"},
    )
    assert_one_line_error(rd, f"Redis at 127.0.0.1:{dead}", "after waiting 1 s")


def test_wrong_redis_password_is_named_without_the_password(
    boot_env: dict[str, str], redis_proc: RedisProcess, tmp_path: Path
) -> None:
    result = run_cli(
        "bootstrap",
        "--env-file",
        str(tmp_path / "e"),
        env={**boot_env, "REDIS_URL": redis_proc.server.url("bo1_ops", "Bad-Pw-9")},
    )
    assert_one_line_error(result, "refused the login", "as bo1_ops")
    assert "Bad-Pw-9" not in result.stderr


def test_non_ascii_passwords_work_through_saslprep(
    cluster: PostgresServer, database: str, boot_env: dict[str, str], tmp_path: Path
) -> None:
    # libpq computes the verifier (with SASLprep); a second run must see it unchanged.
    password = "Pässwörd\u00a0ﬁ-" + secrets.token_hex(4)  # NBSP maps to space, the ligature to fi
    values = {**boot_env, "BO1_POSTGRES_SERVICE_PASSWORD": password}
    rc, out, err = boot(values, tmp_path / "e")
    assert rc == 0, err
    assert can_login(cluster, database, "bo1_service", password)
    assert can_login(cluster, database, "bo1_service", password.replace("\u00a0", " "))
    assert "bo1_service unchanged" in boot(values, tmp_path / "e")[1]
    assert password not in out + err
    assert boot(boot_env, tmp_path / "e")[0] == 0  # back to the module's password


def test_a_control_character_in_a_password_is_refused_up_front(
    boot_env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(
        "bootstrap",
        "--env-file",
        str(tmp_path / "e"),
        env={**boot_env, "BO1_POSTGRES_APP_PASSWORD": "first-line\nLD_PRELOAD=/tmp/x.so"},
    )
    assert_one_line_error(result, "BO1_POSTGRES_APP_PASSWORD", "control character")
    assert "first-line" not in result.stderr and not (tmp_path / "e").exists()


# -- verify and status ---------------------------------------------------------------


def test_verify_fails_loudly_when_something_is_wrong(
    cluster: PostgresServer,
    database: str,
    boot_env: dict[str, str],
    stack_secrets: dict[str, str],
    scratch_root: Path,
    tmp_path: Path,
) -> None:
    env_file = tmp_path / "app.env"
    assert boot(boot_env, env_file)[0] == 0
    with psycopg.connect(cluster.dsn(database), autocommit=True) as conn:
        conn.execute("ALTER TABLE votes NO FORCE ROW LEVEL SECURITY")
        conn.execute("UPDATE personas SET is_active = false WHERE code = 'devils_advocate'")
        # What bo1_app may do to itself: a setting every new app connection would inherit.
        conn.execute("ALTER ROLE bo1_app IN DATABASE " + database + " SET statement_timeout = 0")
        # The newest restore drill failed (backups are on in this check: see the env below).
        conn.execute(
            "INSERT INTO bo1_backup_drills (ok, detail) VALUES (true, 'older'),"
            " (false, 'the restore failed: lz4 error')"
        )
    # A Redis that drifted from the stack file: 512mb and allkeys-lfu where dev says 256mb, LRU.
    drifted = from_config(
        "dev",
        {"redisMaxmemory": "512mb", "redisMemoryMb": "1024", "redisMaxmemoryPolicy": "allkeys-lfu"},
    )
    with running_stack_redis(scratch_root / "drifted-redis", drifted, stack_secrets) as other:
        ops_url = other.server.url("bo1_ops", stack_secrets["redisOpsPassword"])
        result = run_cli(
            "verify", "--stack", "staging", "--env-file", str(env_file),
            env={**boot_env, "REDIS_URL": ops_url},
        )  # fmt: skip
    assert result.returncode == 1
    failed = {
        line.split("  ")[0].strip() for line in result.stdout.splitlines() if " FAIL " in line
    }
    with psycopg.connect(cluster.dsn(database), autocommit=True) as conn:
        conn.execute("ALTER ROLE bo1_app IN DATABASE " + database + " RESET ALL")
    assert failed == {
        "row-level security", "personas", "role settings", "redis maxmemory", "redis eviction",
        "backup drill", "WAL archiving",
    }, result.stdout  # fmt: skip
    assert "archive_mode is off: no WAL reaches the repository" in result.stdout
    assert "FAILED: the restore failed: lz4 error" in result.stdout
    assert "bo1_app: statement_timeout=0" in result.stdout
    assert "not enforced: votes.votes_user_isolation" in result.stdout
    assert "44 active" in result.stdout
    assert "536870912 bytes (want 268435456: 256mb)" in result.stdout
    assert "maxmemory-policy allkeys-lfu (want allkeys-lru)" in result.stdout


def test_verify_names_an_unknown_stack(boot_env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli("verify", "--stack", "qa", "--env-file", str(tmp_path / "e"), env=boot_env)
    assert_one_line_error(result, "Pulumi.qa.yaml", "dev, prod, prod-ha, staging")
    assert result.returncode == 2


def test_status_is_one_screen(boot_env: dict[str, str], tmp_path: Path) -> None:
    assert boot(boot_env, tmp_path / "app.env")[0] == 0
    out = run_cli("status", env=boot_env).stdout
    latest = discover(MIGRATIONS_DIR)[-1]
    assert f"migrations  {latest.version} applied (latest {latest.label}), 0 pending" in out
    assert "personas    45 active, 0 inactive" in out
    assert "backups     no restore drill recorded" in out
    assert "of 256.0 MB" in out and "policy allkeys-lru" in out and "AOF on" in out
    assert len(out.splitlines()) <= 10


def test_rendered_env_files_are_gitignored() -> None:
    import subprocess

    root = paths.ROOT
    # ...and so is the temp file a crash could leave behind (write_secret_file's naming).
    for name in ("secrets/.env.dev", "secrets/.env.prod", "secrets/.env.dev.k2j4x9_a.tmp"):
        assert subprocess.run(["git", "check-ignore", "-q", name], cwd=root).returncode == 0, name
    assert (
        subprocess.run(["git", "check-ignore", "-q", "secrets/catalogue.toml"], cwd=root).returncode
        == 1
    )


def test_verify_names_what_the_env_file_lacks(boot_env: dict[str, str], tmp_path: Path) -> None:
    env_file = tmp_path / "app.env"
    assert boot(boot_env, env_file)[0] == 0
    env_file.write_text(
        "\n".join(
            line
            for line in env_file.read_text().splitlines()
            if not line.startswith(("DATABASE_URL", "REDIS_URL"))
        )
    )
    result = run_cli("verify", "--env-file", str(env_file), env=boot_env)
    assert result.returncode == 1
    assert "DATABASE_URL is missing from the env file" in result.stdout
    assert "REDIS_URL is missing from the env file" in result.stdout


def test_dev_bootstraps_without_the_api_keys_and_says_so(
    boot_env: dict[str, str], tmp_path: Path
) -> None:
    keyless = {
        k: v
        for k, v in boot_env.items()
        if k not in ("BO1_ANTHROPIC_API_KEY", "BO1_VOYAGE_API_KEY")
    }
    env_file = tmp_path / "app.env"
    rc, _, err = boot(keyless, env_file)
    assert rc == 0, err
    warnings = err.strip().splitlines()
    assert len(warnings) == 2 and all(w.startswith("bo1-infra: warning:") for w in warnings)
    assert "BO1_ANTHROPIC_API_KEY is not set for stack dev" in warnings[0]
    assert "bash scripts/pulumi.sh dev config set --secret anthropicApiKey" in warnings[0]
    text = env_file.read_text()
    assert "# ANTHROPIC_API_KEY is not set for this stack" in text
    assert read_env(env_file)["ANTHROPIC_API_KEY"] == ""
    refused = run_cli("bootstrap", "--stack", "staging", "--env-file", str(env_file), env=keyless)
    assert_one_line_error(
        refused, "2 secret(s) missing", "BO1_ANTHROPIC_API_KEY", "BO1_VOYAGE_API_KEY"
    )


def test_verify_and_status_report_a_pooler_that_is_down(
    boot_env: dict[str, str], tmp_path: Path
) -> None:
    env_file = tmp_path / "app.env"
    assert boot(boot_env, env_file)[0] == 0
    down = {**boot_env, "BO1_POOLER_PORT": str(free_port())}  # nothing listens there
    result = run_cli("verify", "--env-file", str(env_file), env=down)
    assert result.returncode == 1, result.stdout + result.stderr
    assert re.search(r"^pooler\s+FAIL\s+127\.0\.0\.1:\d+: cannot connect", result.stdout, re.M)
    # the env file still points at the pooler the stack had: that row says where
    assert re.search(r"^app through pooler\s+FAIL", result.stdout, re.M)
    status = run_cli("status", env=down)
    assert "pools       UNREACHABLE: cannot connect" in status.stdout, status.stdout
