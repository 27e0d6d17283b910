"""The migration runner, driven through the real ``bo1-infra`` CLI against real PostgreSQL 15."""

from __future__ import annotations

import re
import subprocess
import textwrap
import time
from pathlib import Path

import psycopg
import pytest

from bootstrap import paths
from bootstrap.migrate.files import discover
from bootstrap.migrate.lock import MIGRATION_LOCK_KEY
from bootstrap.paths import MIGRATIONS_DIR
from tests.support.cli import BO1_INFRA, assert_one_line_error, run_cli, start_cli
from tests.support.ports import free_port
from tests.support.postgres_server import PostgresServer

LATEST = discover(MIGRATIONS_DIR)[-1].version


def write_migrations(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text))
    return directory


def applied_versions(server: PostgresServer, dbname: str) -> list[int]:
    with psycopg.connect(server.dsn(dbname)) as conn:
        return [
            r[0] for r in conn.execute("SELECT version FROM bo1_schema_migrations ORDER BY version")
        ]


def table_names(server: PostgresServer, dbname: str) -> set[str]:
    with psycopg.connect(server.dsn(dbname)) as conn:
        return {
            r[0]
            for r in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }


def schema_dump(server: PostgresServer, dbname: str, *extra: str) -> str:
    out = subprocess.run(
        [server.bin("pg_dump"), "--schema-only", "--no-owner", *extra, "-d", server.dsn(dbname)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    # pg_dump >= 15.14 brackets its output with random \restrict keys; comments carry no schema.
    return "\n".join(
        line
        for line in out.splitlines()
        if not line.startswith(("\\restrict", "\\unrestrict", "--")) and line.strip()
    )


@pytest.fixture
def pg_env(pg_server: PostgresServer, empty_db: str) -> dict[str, str]:
    """libpq variables pointing at this test's empty database."""
    return pg_server.libpq_env(empty_db)


# -- the real schema ---------------------------------------------------------


def test_up_applies_every_migration_then_is_a_no_op(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str]
) -> None:
    first = run_cli("migrate", "up", env=pg_env)
    assert first.returncode == 0, first.stderr
    assert f"database is at version {LATEST}" in first.stdout
    assert applied_versions(pg_server, empty_db) == [m.version for m in discover(MIGRATIONS_DIR)]
    again = run_cli("migrate", "up", env=pg_env)
    assert again.returncode == 0
    assert again.stdout.strip() == f"Nothing to migrate; database is at version {LATEST}."


def test_round_trip_up_down_up_gives_the_identical_schema(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str]
) -> None:
    assert run_cli("migrate", "up", env=pg_env).returncode == 0
    first = schema_dump(pg_server, empty_db)
    down = run_cli("migrate", "down", "--to", "0", env=pg_env)
    assert down.returncode == 0, down.stderr
    assert table_names(pg_server, empty_db) == {"bo1_schema_migrations"}
    assert run_cli("migrate", "up", env=pg_env).returncode == 0
    assert schema_dump(pg_server, empty_db) == first
    assert "CREATE TABLE public.contributions" in first


def test_status_lists_applied_and_pending(pg_env: dict[str, str]) -> None:
    assert run_cli("migrate", "up", "--to", "1", env=pg_env).returncode == 0
    out = run_cli("migrate", "status", env=pg_env).stdout
    assert re.search(r"^1\s+initial_schema\s+applied\s+\d{4}-", out, re.M)
    pending = len(discover(MIGRATIONS_DIR)) - 1
    assert f"1 applied, {pending} pending" in out


# -- runner behaviour on small migration sets ---------------------------------


@pytest.fixture
def three(tmp_path: Path) -> Path:
    return write_migrations(
        tmp_path / "m",
        {
            "0001_a.up.sql": "CREATE TABLE a (id int);",
            "0001_a.down.sql": "DROP TABLE a;",
            "0002_b.up.sql": "CREATE TABLE b (id int);",
            "0002_b.down.sql": "DROP TABLE b;",
            "0003_c.up.sql": "CREATE TABLE c (id int);",
            "0003_c.down.sql": "DROP TABLE c;",
        },
    )


def test_up_to_and_down_steps_and_down_to(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str], three: Path
) -> None:
    d = ("--migrations-dir", str(three))
    assert run_cli("migrate", "up", "--to", "2", *d, env=pg_env).returncode == 0
    assert applied_versions(pg_server, empty_db) == [1, 2]
    assert run_cli("migrate", "up", *d, env=pg_env).returncode == 0
    assert applied_versions(pg_server, empty_db) == [1, 2, 3]
    assert run_cli("migrate", "down", *d, env=pg_env).returncode == 0  # default: one step
    assert applied_versions(pg_server, empty_db) == [1, 2]
    assert run_cli("migrate", "up", *d, env=pg_env).returncode == 0
    assert run_cli("migrate", "down", "--steps", "2", *d, env=pg_env).returncode == 0
    assert applied_versions(pg_server, empty_db) == [1]
    assert table_names(pg_server, empty_db) == {"bo1_schema_migrations", "a"}
    assert run_cli("migrate", "down", "--to", "0", *d, env=pg_env).returncode == 0
    assert applied_versions(pg_server, empty_db) == []


def test_version_table_records_name_checksum_time(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str], three: Path
) -> None:
    assert run_cli("migrate", "up", "--migrations-dir", str(three), env=pg_env).returncode == 0
    import hashlib

    with psycopg.connect(pg_server.dsn(empty_db)) as conn:
        rows = conn.execute(
            "SELECT version, name, checksum, applied_at, execution_ms"
            " FROM bo1_schema_migrations ORDER BY 1"
        ).fetchall()
    assert [(r[0], r[1]) for r in rows] == [(1, "a"), (2, "b"), (3, "c")]
    assert rows[0][2] == hashlib.sha256((three / "0001_a.up.sql").read_bytes()).hexdigest()
    assert all(r[3] is not None and r[4] >= 0 for r in rows)


def test_failure_halfway_leaves_nothing_behind(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str], tmp_path: Path
) -> None:
    d = write_migrations(
        tmp_path / "m",
        {
            "0001_ok.up.sql": "CREATE TABLE ok (id int);",
            "0002_broken.up.sql": """\
            CREATE TABLE half_a (id int);
            CREATE INDEX half_idx ON half_a (id);
            INSERT INTO half_a VALUES (1);
            SELEC 1;
            CREATE TABLE half_b (id int);
        """,
        },
    )
    result = run_cli("migrate", "up", "--migrations-dir", str(d), env=pg_env)
    line = assert_one_line_error(
        result, "0002_broken.up.sql", "syntax error", "line 4", "rolled back"
    )
    assert result.returncode == 1, line
    assert table_names(pg_server, empty_db) == {"bo1_schema_migrations", "ok"}
    with psycopg.connect(pg_server.dsn(empty_db)) as conn:
        assert conn.execute("SELECT to_regclass('half_idx')").fetchone() == (None,)
    assert applied_versions(pg_server, empty_db) == [1]


def test_concurrent_runners_apply_each_migration_exactly_once(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str], tmp_path: Path
) -> None:
    # Each migration is slow and not idempotent: a second application would fail loudly.
    d = write_migrations(
        tmp_path / "m",
        {
            f"000{i}_slow{i}.up.sql": f"CREATE TABLE slow{i} (id int); SELECT pg_sleep(0.4);"
            for i in (1, 2, 3)
        },
    )
    procs = [start_cli("migrate", "up", "--migrations-dir", str(d), env=pg_env) for _ in range(3)]
    results = [(*p.communicate(timeout=60), p.returncode) for p in procs]
    assert all(rc == 0 for _, _, rc in results), results
    applied_counts = [
        int(m.group(1)) for out, _, _ in results for m in [re.search(r"Applied (\d+)", out)] if m
    ]
    assert sum(applied_counts) == 3, results
    assert applied_versions(pg_server, empty_db) == [1, 2, 3]


def test_drift_is_refused_naming_the_file(pg_env: dict[str, str], three: Path) -> None:
    d = ("--migrations-dir", str(three))
    assert run_cli("migrate", "up", "--to", "2", *d, env=pg_env).returncode == 0
    (three / "0001_a.up.sql").write_text("CREATE TABLE a (id bigint);")
    for verb in (["up"], ["down"]):
        assert_one_line_error(
            run_cli("migrate", *verb, *d, env=pg_env),
            "0001_a.up.sql",
            "changed after it was applied",
        )
    status = run_cli("migrate", "status", *d, env=pg_env)
    assert re.search(r"^1\s+a\s+changed", status.stdout, re.M)


def test_a_migration_can_opt_out_of_the_transaction(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str], tmp_path: Path
) -> None:
    d = write_migrations(
        tmp_path / "m",
        {
            "0001_t.up.sql": "CREATE TABLE t (id int, note text);",
            "0002_idx.up.sql": """\
            -- bo1:no-transaction
            -- CREATE INDEX CONCURRENTLY refuses to run inside a transaction block.
            CREATE INDEX CONCURRENTLY IF NOT EXISTS t_id ON t (id);
            CREATE INDEX CONCURRENTLY IF NOT EXISTS t_note ON t (note);
        """,
            "0002_idx.down.sql": (
                "-- bo1:no-transaction\n"
                "DROP INDEX CONCURRENTLY t_id;\nDROP INDEX CONCURRENTLY t_note;\n"
            ),
        },
    )
    result = run_cli("migrate", "up", "--migrations-dir", str(d), env=pg_env)
    assert result.returncode == 0, result.stderr
    with psycopg.connect(pg_server.dsn(empty_db)) as conn:
        assert {
            r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 't'")
        } == {"t_id", "t_note"}
    assert run_cli("migrate", "down", "--migrations-dir", str(d), env=pg_env).returncode == 0
    assert applied_versions(pg_server, empty_db) == [1]


def test_lock_wait_times_out_with_a_clear_message(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str], three: Path
) -> None:
    with psycopg.connect(pg_server.dsn(empty_db), autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
        started = time.monotonic()
        result = run_cli(
            "migrate", "up", "--lock-timeout", "0.5", "--migrations-dir", str(three), env=pg_env
        )
        assert time.monotonic() - started < 10
        assert_one_line_error(
            result, "timed out after 0.5 s", "migration lock", f"pid {holder.info.backend_pid}"
        )
    assert run_cli("migrate", "up", "--migrations-dir", str(three), env=pg_env).returncode == 0


# -- bad input: one clear line, non-zero exit, never a traceback ------------------


def test_unreachable_database_names_host_and_port() -> None:
    port = free_port()  # nothing listens there
    result = run_cli(
        "migrate",
        "up",
        "--dsn",
        f"host=127.0.0.1 port={port} dbname=x user=u password=hunter2-secret",
    )
    line = assert_one_line_error(result, f"127.0.0.1:{port}", "cannot connect")
    assert "hunter2-secret" not in result.stderr + result.stdout, line


def test_wait_retries_then_reports_how_long_it_waited() -> None:
    port = free_port()
    started = time.monotonic()
    result = run_cli(
        "migrate", "up", "--wait", "1", "--dsn", f"postgresql://u:pw-secret-1@127.0.0.1:{port}/x"
    )
    assert 1 <= time.monotonic() - started < 10
    assert_one_line_error(result, f"127.0.0.1:{port}", "after waiting 1 s")
    assert "pw-secret-1" not in result.stderr


def test_wrong_password_names_the_user_not_the_password(
    pg_server: PostgresServer, empty_db: str
) -> None:
    env = {**pg_server.libpq_env(empty_db), "PGPASSWORD": "not-the-password-42"}
    result = run_cli("migrate", "status", env=env)
    assert_one_line_error(result, "password authentication failed", '"postgres"')
    assert "not-the-password-42" not in result.stderr + result.stdout


@pytest.mark.parametrize("args", [["up", "--to", "99"], ["down", "--to", "42"]])
def test_unknown_target_version(pg_env: dict[str, str], args: list[str]) -> None:
    result = run_cli("migrate", *args, env=pg_env)
    assert_one_line_error(result, f"unknown target version {args[-1]}", "one of: 1")
    assert result.returncode == 2


def test_malformed_dsn() -> None:
    result = run_cli("migrate", "status", "--dsn", "host=x password='sekrit-99 port=oops")
    assert_one_line_error(result, "invalid --dsn")
    assert "sekrit-99" not in result.stderr


def test_misnamed_migration_file_is_named(pg_env: dict[str, str], tmp_path: Path) -> None:
    d = write_migrations(
        tmp_path / "m", {"0001_a.up.sql": "SELECT 1;", "2_Bad-Name.sql": "SELECT 1;"}
    )
    assert_one_line_error(
        run_cli("migrate", "up", "--migrations-dir", str(d), env=pg_env), "2_Bad-Name.sql"
    )


def test_missing_migrations_dir(pg_env: dict[str, str], tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("migrate", "up", "--migrations-dir", str(tmp_path / "nope"), env=pg_env),
        "does not exist",
    )


def test_down_without_a_down_file_is_refused_before_anything_runs(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str], tmp_path: Path
) -> None:
    d = write_migrations(
        tmp_path / "m",
        {
            "0001_a.up.sql": "CREATE TABLE a (id int);",
            "0002_b.up.sql": "CREATE TABLE b (id int);",
            "0002_b.down.sql": "DROP TABLE b;",
        },
    )
    assert run_cli("migrate", "up", "--migrations-dir", str(d), env=pg_env).returncode == 0
    result = run_cli("migrate", "down", "--to", "0", "--migrations-dir", str(d), env=pg_env)
    assert_one_line_error(result, "0001_a.down.sql", "nothing was rolled back")
    assert applied_versions(pg_server, empty_db) == [1, 2]


def test_secrets_folder_never_shadows_the_stdlib_module() -> None:
    root = paths.ROOT
    assert not (root / "secrets" / "__init__.py").exists()
    out = subprocess.run(
        [str(BO1_INFRA.parent / "python"), "-c", "import secrets; print(secrets.__file__)"],
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    import sysconfig

    assert out.strip() == str(Path(sysconfig.get_paths()["stdlib"]) / "secrets.py")


@pytest.mark.parametrize("version", [m.version for m in discover(MIGRATIONS_DIR)])
def test_each_down_exactly_reverses_its_up(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str], version: int
) -> None:
    if version > 1:
        assert run_cli("migrate", "up", "--to", str(version - 1), env=pg_env).returncode == 0
    # The version table is the runner's, not the migration's: it stays after a down.
    without_version_table: tuple[str, ...] = ("--exclude-table=public.bo1_schema_migrations",)
    if version == 4:  # 0004 moves the version table of a database an older release migrated
        as_an_older_release_left_it(pg_server, empty_db)
        without_version_table = ()
    before = schema_dump(pg_server, empty_db, *without_version_table)
    assert run_cli("migrate", "up", "--to", str(version), env=pg_env).returncode == 0
    assert schema_dump(pg_server, empty_db, *without_version_table) != before
    result = run_cli("migrate", "down", env=pg_env)
    assert result.returncode == 0, result.stderr
    assert schema_dump(pg_server, empty_db, *without_version_table) == before


def as_an_older_release_left_it(server: PostgresServer, db: str) -> None:
    """The version table under the name releases before 0004 gave it."""
    with psycopg.connect(server.dsn(db), autocommit=True) as conn:
        conn.execute("ALTER TABLE bo1_schema_migrations RENAME TO schema_migrations")
        conn.execute(
            "ALTER TABLE schema_migrations"
            " RENAME CONSTRAINT bo1_schema_migrations_pkey TO schema_migrations_pkey"
        )


def test_a_database_migrated_by_an_older_release_upgrades_cleanly(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str]
) -> None:
    assert run_cli("migrate", "up", "--to", "3", env=pg_env).returncode == 0
    as_an_older_release_left_it(pg_server, empty_db)
    with psycopg.connect(pg_server.dsn(empty_db)) as conn:
        before = conn.execute("SELECT * FROM schema_migrations ORDER BY version").fetchall()
    later = len(discover(MIGRATIONS_DIR)) - 3
    status = run_cli("migrate", "status", env=pg_env)
    assert f"3 applied, {later} pending" in status.stdout  # the runner reads the old name
    up = run_cli("migrate", "up", env=pg_env)
    assert up.returncode == 0, up.stderr
    assert f"Applied {later} migration(s)" in up.stdout
    assert table_names(pg_server, empty_db) >= {"bo1_schema_migrations"}
    assert "schema_migrations" not in table_names(pg_server, empty_db)
    with psycopg.connect(pg_server.dsn(empty_db)) as conn:
        after = conn.execute("SELECT * FROM bo1_schema_migrations ORDER BY version").fetchall()
    assert after[:3] == before and [row[0] for row in after] == list(range(1, 4 + later))
    assert "Nothing to migrate" in run_cli("migrate", "up", env=pg_env).stdout


def test_another_tools_schema_migrations_is_never_touched(
    pg_server: PostgresServer, empty_db: str, pg_env: dict[str, str]
) -> None:
    with psycopg.connect(pg_server.dsn(empty_db), autocommit=True) as conn:
        conn.execute("CREATE TABLE schema_migrations (version varchar(128) PRIMARY KEY)")
        conn.execute("INSERT INTO schema_migrations VALUES ('20240101000000')")
    assert run_cli("migrate", "up", env=pg_env).returncode == 0
    assert run_cli("migrate", "down", "--to", "0", env=pg_env).returncode == 0
    with psycopg.connect(pg_server.dsn(empty_db)) as conn:
        assert conn.execute("SELECT * FROM schema_migrations").fetchall() == [("20240101000000",)]


def test_down_leaves_roles_that_other_databases_use(scratch_root: Path) -> None:
    # Roles are cluster-wide; a cluster of our own shows them dropped only when unused.
    from tests.support.postgres_server import running_postgres

    with running_postgres(scratch_root / "roles-cluster") as server:
        with psycopg.connect(server.dsn(), autocommit=True) as conn:
            conn.execute("CREATE DATABASE app_a")
            conn.execute("CREATE DATABASE app_b")
        for name in ("app_a", "app_b"):
            assert run_cli("migrate", "up", env=server.libpq_env(name)).returncode == 0

        def roles() -> set[str]:
            with psycopg.connect(server.dsn()) as conn:
                return {
                    r[0]
                    for r in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'bo1%'")
                }

        assert roles() == {"bo1_owner", "bo1_app", "bo1_service"}
        assert (
            run_cli("migrate", "down", "--to", "0", env=server.libpq_env("app_a")).returncode == 0
        )
        assert roles() == {"bo1_owner", "bo1_app", "bo1_service"}
        with psycopg.connect(server.dsn("app_b")) as conn:  # app_b is untouched
            assert conn.execute(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'sessions'"
            ).fetchone() == ("bo1_owner",)
        assert (
            run_cli("migrate", "down", "--to", "0", env=server.libpq_env("app_b")).returncode == 0
        )
        assert roles() == set()


@pytest.mark.parametrize(
    "args",
    [
        ["migrate", "up", "--to", "abc"],
        ["migrate", "sideways"],
        ["nonsense"],
        ["migrate", "down", "--to", "1", "--steps", "2"],
    ],
)
def test_usage_mistakes_are_one_line(args: list[str]) -> None:
    result = run_cli(*args)
    line = assert_one_line_error(result, "error:", "--help")
    assert result.returncode == 2, line


# -- migrate new ------------------------------------------------------------------------


def test_new_writes_the_next_numbered_pair_that_applies_as_is(
    pg_env: dict[str, str], three: Path
) -> None:
    result = run_cli("migrate", "new", "Add-Session Tags", "--migrations-dir", str(three))
    assert result.returncode == 0, result.stderr
    latest = max(m.version for m in discover(three))
    up = three / f"{latest:04d}_add_session_tags.up.sql"
    down = three / f"{latest:04d}_add_session_tags.down.sql"
    assert result.stdout.splitlines() == [f"Created {up}", f"Created {down}"]
    assert up.is_file() and down.is_file()
    assert "bo1:no-transaction" in up.read_text()  # says how to opt out, as a comment
    # The untouched pair is valid: it applies and rolls back.
    assert run_cli("migrate", "up", "--migrations-dir", str(three), env=pg_env).returncode == 0
    assert run_cli("migrate", "down", "--migrations-dir", str(three), env=pg_env).returncode == 0


def test_new_never_overwrites_and_refuses_bad_names(three: Path) -> None:
    before = sorted(p.name for p in three.iterdir())
    bad = run_cli("migrate", "new", "drop;table", "--migrations-dir", str(three))
    assert_one_line_error(bad, "'drop;table'", "lowercase letters")
    assert bad.returncode == 2
    assert sorted(p.name for p in three.iterdir()) == before
    # A stray half pair is reported, never completed or overwritten.
    stray = three / "0004_taken.down.sql"
    stray.write_text("-- someone's file\n")
    taken = run_cli("migrate", "new", "taken", "--migrations-dir", str(three))
    assert_one_line_error(taken, "0004_taken.down.sql", "no matching")
    assert stray.read_text() == "-- someone's file\n"
    assert not list(three.glob("*_taken.up.sql"))
