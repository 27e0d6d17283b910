"""Backups on the real binaries: pgBackRest 2.x and PostgreSQL 15 with the rendered files.

Every test drives the `bo1-infra backup` verbs against a server that archives
through the rendered archive_command into a repository read through the rendered
pgbackrest.conf; the drill is the rendered script.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from bootstrap.backup.policy import Policy, crontab, sidecar_script
from tests.support.backup_stack import BackedUp, backed_up_postgres, own_dirs
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.postgres_server import running_postgres

pytestmark = pytest.mark.skipif(
    shutil.which("pgbackrest") is None, reason="pgbackrest is not installed (setup-debian.sh)"
)


def backup(stack: BackedUp, *args: str, timeout: float = 300) -> object:
    return run_cli("backup", *args, *stack.cli_args(), env=stack.cli_env(), timeout=timeout)


@pytest.fixture(scope="module")
def stack(scratch_root: Path) -> Iterator[BackedUp]:
    """One archiving server for the tests that leave it running and whole."""
    with backed_up_postgres(scratch_root / "backups", Policy(archive_timeout_s=1)) as backed:
        yield backed


@dataclass
class Writer:
    """Commits one row carrying its own timestamp every 100 ms, as the issue's writer does.

    ``rows`` holds (id, written_at, acked): the server's clock when the row was
    written, and this machine's (the same clock) when its commit returned.
    """

    dsn: str
    rows: list[tuple[int, float, float]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.thread.start()

    def _write(self) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True) as conn:
                while not self.stop.wait(0.1):
                    row = conn.execute(
                        "INSERT INTO probe DEFAULT VALUES"
                        " RETURNING id, extract(epoch FROM written_at)::float8"
                    ).fetchone()
                    assert row is not None
                    self.rows.append((row[0], row[1], time.time()))
        except psycopg.OperationalError:
            pass  # the server was killed under us: that is the test

    def halt(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)


def _probe_table(stack: BackedUp) -> None:
    with stack.conn() as conn:
        conn.execute(
            "CREATE TABLE probe (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"
            " written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
        )


def _kill_and_lose(stack: BackedUp) -> float:
    """SIGKILL the postmaster and delete its data directory; the instant of the loss."""
    pid = int((stack.server.datadir / "postmaster.pid").read_text().split()[0])
    lost_at = time.time()
    os.kill(pid, signal.SIGKILL)
    shutil.rmtree(stack.server.datadir)
    return lost_at


@contextmanager
def _promoted(stack: BackedUp, workdir: Path) -> Iterator[psycopg.Connection]:
    """Start ``workdir/data``, restored from the stack; a connection once recovery is over."""
    with (
        running_postgres(workdir, restored=stack.server) as copy,
        psycopg.connect(copy.dsn("bo1"), autocommit=True) as conn,
    ):
        deadline = time.monotonic() + 120
        while conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,):
            assert time.monotonic() < deadline, "the restored cluster never promoted"
            time.sleep(0.1)
        yield conn


def _restored_rows(stack: BackedUp, workdir: Path) -> list[tuple[int, float]]:
    with _promoted(stack, workdir) as conn:
        query = "SELECT id, extract(epoch FROM written_at)::float8 FROM probe ORDER BY id"
        return [(r[0], r[1]) for r in conn.execute(query)]


def _prepare_restore_dir(workdir: Path) -> Path:
    own_dirs(workdir)
    return workdir / "data"


def _wait_archived_now(stack: BackedUp, timeout: float = 120) -> None:
    """Until the WAL segment being written now has reached the repository."""
    with stack.conn() as conn:
        row = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()
        assert row is not None
        deadline = time.monotonic() + timeout
        while True:
            archived = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()
            if archived and archived[0] and archived[0] >= row[0]:
                return
            assert time.monotonic() < deadline, f"{row[0]} was not archived in {timeout:g} s"
            time.sleep(0.1)


def test_point_in_time_restore_has_every_row_before_t_and_none_after(scratch_root: Path) -> None:
    rng = random.Random()
    with backed_up_postgres(scratch_root / "pitr", Policy(archive_timeout_s=1)) as stack:
        _probe_table(stack)
        assert backup(stack, "run", "--type", "full").returncode == 0
        writer = Writer(stack.server.dsn("bo1"))
        time.sleep(3)
        first, now = writer.rows[0][2], time.time()
        target = first + rng.uniform(0, now - first - 0.2)
        _wait_archived_now(stack)  # kill only once every commit before T is in the repository
        time.sleep(rng.uniform(0, 1))
        _kill_and_lose(stack)
        writer.halt()
    when = datetime.fromtimestamp(target, UTC)
    into = _prepare_restore_dir(scratch_root / "pitr-restored")
    done = backup(stack, "restore", "--to", when.isoformat(), "--target-dir", str(into))
    assert done.returncode == 0, done.stderr
    restored = _restored_rows(stack, into.parent)
    ids = {r[0] for r in restored}
    before = {r[0] for r in writer.rows if r[2] < target}
    assert before, "no row was committed between the backup and T"
    assert before <= ids, f"rows committed before T are missing: {sorted(before - ids)[:5]}"
    late = [r for r in restored if r[1] > target]
    assert not late, f"rows written after T came back: {late[:5]}"


RPO_ARCHIVE_TIMEOUT = 5
ARCHIVE_LATENCY_BOUND = 5  # archive-push of one segment; seconds even on a busy disk


def test_latest_restore_loses_at_most_archive_timeout_plus_latency(
    scratch_root: Path, record_property: pytest.RecordProperty
) -> None:
    policy = Policy(archive_timeout_s=RPO_ARCHIVE_TIMEOUT)
    with backed_up_postgres(scratch_root / "rpo", policy) as stack:
        _probe_table(stack)
        assert backup(stack, "run", "--type", "full").returncode == 0
        writer = Writer(stack.server.dsn("bo1"))
        time.sleep(random.uniform(2 * RPO_ARCHIVE_TIMEOUT, 3 * RPO_ARCHIVE_TIMEOUT))
        lost_at = _kill_and_lose(stack)
        writer.halt()
    into = _prepare_restore_dir(scratch_root / "rpo-restored")
    done = backup(stack, "restore", "--latest", "--target-dir", str(into))
    assert done.returncode == 0, done.stderr
    restored = _restored_rows(stack, into.parent)
    assert restored, "nothing written after the backup came back"
    newest_id, newest_at = restored[-1]
    loss = lost_at - newest_at
    record_property("rpo_seconds", round(loss, 2))
    print(f"RPO: {loss:.2f} s lost with archive_timeout={RPO_ARCHIVE_TIMEOUT} s")
    assert loss <= RPO_ARCHIVE_TIMEOUT + ARCHIVE_LATENCY_BOUND, loss
    # What came back is a prefix of what was committed: no hole before the newest row.
    assert [r[0] for r in restored] == [r[0] for r in writer.rows if r[0] <= newest_id]


def test_backup_run_and_list(stack: BackedUp) -> None:
    full = backup(stack, "run", "--type", "full", "--json")
    assert full.returncode == 0, full.stderr
    taken = json.loads(full.stdout)
    assert taken["type"] == "full" and taken["size_bytes"] > 0
    incr = backup(stack, "run", "--json")
    assert incr.returncode == 0, incr.stderr
    assert json.loads(incr.stdout)["based_on"] == taken["label"]
    listed = json.loads(backup(stack, "list", "--json").stdout)
    labels = [b["label"] for b in listed["backups"]]
    assert labels[-2:] == [taken["label"], json.loads(incr.stdout)["label"]]
    assert listed["restorable_from"] == listed["backups"][0]["stopped"]
    text = backup(stack, "list")
    assert text.returncode == 0 and taken["label"] in text.stdout
    assert stack.cipher_pass not in full.stdout + incr.stdout + text.stdout


def test_drill_restores_checks_and_records(stack: BackedUp) -> None:
    assert backup(stack, "run", "--type", "full").returncode == 0
    done = backup(stack, "drill", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    result = json.loads(done.stdout)
    assert result["ok"] is True and result["recorded"] is True
    assert "migrations 6/6" in result["detail"] and "personas 45/45" in result["detail"]
    assert "users 1/1" in result["detail"]
    restorable, newest = (
        datetime.fromisoformat(result[k]) for k in ("restorable_to", "newest_backup")
    )
    assert restorable >= newest
    with stack.conn() as conn:
        row = conn.execute(
            "SELECT ok, detail FROM bo1_backup_drills ORDER BY id DESC LIMIT 1"
        ).fetchone()
    assert row == (True, result["detail"])
    assert not Path(stack.paths.drill_dir, "data").exists(), "the scratch copy was left behind"


def test_drill_fails_when_the_newest_backup_is_older_than_the_policy(
    stack: BackedUp, scratch_root: Path
) -> None:
    from tests.support.backup_stack import write_config

    strict = replace(stack.paths, config_dir=str(scratch_root / "strict-drill"))
    write_config(strict, Policy(max_age_hours=0), stack.cipher_pass)
    assert backup(stack, "run").returncode == 0
    done = run_cli("backup", "drill", "--backup-config-dir", strict.config_dir, env=stack.cli_env())
    assert done.returncode == 1
    assert "Drill FAILED" in done.stdout and "the policy allows under 0 h" in done.stdout


@pytest.mark.parametrize(
    ("to", "needle"),
    [
        ("2026-11-27 15:04:05", "has no time zone"),
        ("yesterday", "is not a time"),
        ("2000-01-01T00:00:00Z", "before the oldest backup"),
        ((datetime.now(UTC) + timedelta(days=1)).isoformat(), "in the future"),
    ],
)
def test_restore_refuses_a_target_it_cannot_reach(
    stack: BackedUp, scratch_root: Path, to: str, needle: str
) -> None:
    assert backup(stack, "run").returncode == 0
    into = scratch_root / "never-restored"
    done = backup(stack, "restore", "--to", to, "--target-dir", str(into))
    assert_one_line_error(done, needle)
    assert not into.exists()


def test_restore_refuses_a_directory_that_is_not_empty(stack: BackedUp, scratch_root: Path) -> None:
    busy = scratch_root / "busy-dir"
    busy.mkdir()
    (busy / "keep-me").write_text("data")
    busy.chmod(0o777)
    done = backup(stack, "restore", "--latest", "--target-dir", str(busy))
    assert_one_line_error(done, "is not empty")
    assert (busy / "keep-me").read_text() == "data"


def test_a_wrong_cipher_passphrase_is_refused(stack: BackedUp, scratch_root: Path) -> None:
    from tests.support.backup_stack import write_config

    wrong = replace(stack.paths, config_dir=str(scratch_root / "wrong-pass"))
    write_config(wrong, Policy(), "not-the-passphrase")
    for verb in (["list"], ["restore", "--latest", "--target-dir", str(scratch_root / "nope")]):
        done = run_cli(
            "backup", *verb, "--backup-config-dir", wrong.config_dir, env=stack.cli_env()
        )
        assert_one_line_error(done, "cipher passphrase")
    assert not (scratch_root / "nope").exists()
    drilled = run_cli(
        "backup", "drill", "--backup-config-dir", wrong.config_dir, env=stack.cli_env()
    )
    assert drilled.returncode == 1 and "no readable backup" in drilled.stdout


def test_a_damaged_repository_file_fails_loudly_and_leaves_nothing(scratch_root: Path) -> None:
    with backed_up_postgres(scratch_root / "damaged", Policy(archive_timeout_s=1)) as stack:
        assert backup(stack, "run", "--type", "full").returncode == 0
        data = sorted(
            Path(stack.paths.repo, "backup", "bo1").glob("*F/pg_data/base/*/*"),
            key=lambda p: p.stat().st_size,
        )[-1]
        raw = bytearray(data.read_bytes())
        raw[len(raw) // 2 : len(raw) // 2 + 16] = bytes(16)  # sixteen zero bytes mid-file
        data.write_bytes(bytes(raw))
        into = _prepare_restore_dir(scratch_root / "damaged-restore")
        done = backup(stack, "restore", "--latest", "--target-dir", str(into))
        assert_one_line_error(done, "damaged")
        assert not into.exists(), "a partial restore was left behind"
        drilled = backup(stack, "drill", "--json")
        result = json.loads(drilled.stdout)
        assert drilled.returncode == 1 and result["ok"] is False
        assert result["detail"].startswith("the restore failed"), result
        with stack.conn() as conn:
            row = conn.execute("SELECT ok FROM bo1_backup_drills ORDER BY id DESC").fetchone()
        assert row == (False,)


def test_in_place_restore_keeps_the_current_data(scratch_root: Path) -> None:
    with backed_up_postgres(scratch_root / "in-place", Policy(archive_timeout_s=1)) as stack:
        assert backup(stack, "run", "--type", "full").returncode == 0
        with stack.conn() as conn:
            conn.execute("INSERT INTO users (id, email, auth_provider) VALUES ('u2', 'b@x', 'e')")
        _wait_archived_now(stack)
        running = backup(stack, "restore", "--latest", "--in-place")
        assert_one_line_error(running, "stop Postgres first")
    # Stopped (fast shutdown): the data directory is set aside, the backup goes in its place.
    done = backup(stack, "restore", "--latest", "--in-place", "--json")
    assert done.returncode == 0, done.stderr
    kept = Path(json.loads(done.stdout)["kept"])
    assert (kept / "PG_VERSION").exists() and kept.name.startswith("data.before-restore-")
    with _promoted(stack, stack.server.datadir.parent) as conn:
        users = {r[0] for r in conn.execute("SELECT id FROM users")}
    assert users == {"u1", "u2"}


def test_status_shows_the_last_drill(stack: BackedUp) -> None:
    from bootstrap.backup import last_drill

    assert backup(stack, "run").returncode == 0
    assert backup(stack, "drill").returncode == 0
    with stack.conn() as conn:
        drill = last_drill.newest(conn)
    assert drill is not None and drill.ok
    assert last_drill.check(drill, backups_on=True) == (True, drill.summary())
    assert "passed: restorable to" in drill.summary()
    stale = replace(drill, ran_at=drill.ran_at - timedelta(hours=last_drill.STALE_HOURS + 1))
    ok, detail = last_drill.check(stale, backups_on=True)
    assert not ok and "is the backup sidecar running?" in detail
    assert last_drill.check(None, backups_on=True)[0] is True
    assert last_drill.check(None, backups_on=False) == (
        True,
        "backups are off for this stack (backupEnabled)",
    )


as_root = pytest.mark.skipif(os.geteuid() != 0, reason="cron jobs and runuser need root")


def _cron_jobs(text: str) -> tuple[str, list[str]]:
    """The PATH a crontab sets, and each job's command (after the five times and the user)."""
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    path = next(line.split("=", 1)[1] for line in lines if line.startswith("PATH="))
    jobs = [line.split(None, 6)[6] for line in lines if "=" not in line.split()[0]]
    return path, jobs


@as_root
def test_every_cron_job_runs_as_cron_runs_it(stack: BackedUp, scratch_root: Path) -> None:
    """The rendered crontab's own command lines, in cron's bare environment (its PATH only)."""
    log = scratch_root / "cron-jobs.log"
    text = crontab(Policy(), stack.paths, redis=False, log=f">> {log} 2>&1")
    path, jobs = _cron_jobs(text)
    assert [j.split()[0] for j in jobs] == ["runuser"] * 3
    before = {b["label"] for b in json.loads(backup(stack, "list", "--json").stdout)["backups"]}
    home = scratch_root / "root-home"  # cron starts a job in its user's home: /root, mode 0700
    home.mkdir(mode=0o700)
    for job in jobs:
        done = subprocess.run(
            ["env", "-i", "SHELL=/bin/sh", f"PATH={path}", "/bin/sh", "-c", job],
            capture_output=True,
            text=True,
            cwd=home,
        )
        assert done.returncode == 0, (job, log.read_text() if log.exists() else "")
    listed = json.loads(backup(stack, "list", "--json").stdout)["backups"]
    # New labels only: retention (2 full) may have expired older ones meanwhile.
    assert [b["type"] for b in listed if b["label"] not in before] == ["full", "diff"]
    drill = json.loads(next(x for x in log.read_text().splitlines() if x.startswith('{"ok"')))
    assert drill["ok"] is True and "could not change directory" not in log.read_text()
    assert stack.cipher_pass not in log.read_text()


@as_root
def test_the_sidecar_entry_creates_the_stanza_and_takes_the_first_backup(
    scratch_root: Path,
) -> None:
    with backed_up_postgres(scratch_root / "sidecar", Policy(), stanza=False) as fresh:
        table = Path(fresh.paths.config_dir) / "crontab"
        table.write_text(crontab(Policy(), fresh.paths, redis=True))
        entry = Path(fresh.paths.config_dir) / "bo1-sidecar"
        # The scheduler's place is cron's; here the entry hands over to `true` instead.
        entry.write_text(sidecar_script(fresh.paths, str(table), scheduler="true"))
        entry.chmod(0o755)
        started = subprocess.run([str(entry)], capture_output=True, text=True, timeout=120)
        assert started.returncode == 0, started.stdout + started.stderr
        assert "taking the first full backup" in started.stdout
        assert "schedule: 4 jobs in" in started.stdout
        deadline = time.monotonic() + 180
        while not (listed := json.loads(backup(fresh, "list", "--json").stdout)["backups"]):
            assert time.monotonic() < deadline, "the first full backup never appeared"
            time.sleep(1)
        assert listed[0]["type"] == "full"
        again = subprocess.run([str(entry)], capture_output=True, text=True, timeout=120)
        assert again.returncode == 0 and "first full backup" not in again.stdout
