"""The database side of migrations: version table, lock, one transaction per migration.

A migration and its version-table row are written in the same transaction, so
a failure leaves neither. The no-op path (nothing pending) reads the version
table once without taking the lock and returns; only a runner with work to do
takes ``pg_advisory_lock`` and then re-reads, so two concurrent runners apply
each migration exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psycopg

from bootstrap.errors import MigrationFailed
from bootstrap.migrate import version_table
from bootstrap.migrate.files import Migration, Script
from bootstrap.migrate.lock import MIGRATION_LOCK_KEY, advisory_lock
from bootstrap.migrate.plan import (
    Applied,
    StatusRow,
    check_drift,
    plan_down,
    plan_up,
    status_rows,
)

VERSION_TABLE = version_table.TABLE


@dataclass
class Migrator:
    conn: psycopg.Connection
    migrations: list[Migration]
    lock_timeout: float = 60.0
    say: Callable[[str], None] = field(default=print)

    # -- reading ---------------------------------------------------------

    def applied(self) -> list[Applied]:
        try:
            return self._read(VERSION_TABLE)  # one round trip on the common path
        except psycopg.errors.UndefinedTable:
            pass
        legacy = version_table.resolve(self.conn)  # before migration 0004: the old name
        return self._read(legacy) if legacy else []  # none: no runner has touched it yet

    def _read(self, table: str) -> list[Applied]:
        rows = self.conn.execute(
            f"SELECT {', '.join(version_table.COLUMNS)} FROM {table} ORDER BY version"
        ).fetchall()
        return [Applied(*row) for row in rows]

    def status(self) -> list[StatusRow]:
        """Every migration's state: applied, pending, changed or file missing."""
        return status_rows(self.migrations, self.applied())

    # -- verbs -----------------------------------------------------------

    def up(self, to: int | None = None) -> list[Migration]:
        applied = self.applied()
        check_drift(self.migrations, applied)
        if not plan_up(self.migrations, applied, to):
            return []
        with advisory_lock(self.conn, MIGRATION_LOCK_KEY, self.lock_timeout):
            version_table.ensure(self.conn)
            applied = self.applied()  # another runner may have applied some meanwhile
            check_drift(self.migrations, applied)
            todo = plan_up(self.migrations, applied, to)
            for m in todo:
                self._run(m, m.up, self._record_applied)
        return todo

    def down(self, to: int | None = None, steps: int | None = None) -> list[Migration]:
        applied = self.applied()
        check_drift(self.migrations, applied)
        plan_down(self.migrations, applied, to, steps)  # validate before locking
        with advisory_lock(self.conn, MIGRATION_LOCK_KEY, self.lock_timeout):
            applied = self.applied()
            check_drift(self.migrations, applied)
            todo = plan_down(self.migrations, applied, to, steps)
            for m in todo:
                assert m.down is not None  # plan_down guarantees it
                self._run(m, m.down, self._record_rolled_back)
        return todo

    # -- applying one script ---------------------------------------------

    def _run(self, m: Migration, script: Script, record: Callable[[Migration, int], None]) -> None:
        verb = "applying" if script is m.up else "rolling back"
        started = time.perf_counter()
        if script.transactional:
            try:
                with self.conn.transaction():
                    self.conn.execute(script.text)
                    record(m, _elapsed_ms(started))
            except psycopg.Error as exc:
                raise MigrationFailed(
                    f"{verb} {script.display} failed: {_describe(exc, script.text)}; "
                    "rolled back, nothing from it was applied"
                ) from None
        else:
            self._run_outside_transaction(m, script, verb, started, record)
        self.say(f"{verb.capitalize()} {m.label} ... done in {_elapsed_ms(started)} ms")

    def _run_outside_transaction(
        self,
        m: Migration,
        script: Script,
        verb: str,
        started: float,
        record: Callable[[Migration, int], None],
    ) -> None:
        import sqlparse  # only migrations that opt out of transactions pay for this import

        statements = [
            s
            for s in sqlparse.split(script.text)
            if sqlparse.format(s, strip_comments=True).strip()
        ]
        for index, statement in enumerate(statements, start=1):
            try:
                self.conn.execute(statement)
            except psycopg.Error as exc:
                raise MigrationFailed(
                    f"{verb} {script.display} failed at statement {index} of {len(statements)}: "
                    f"{_describe(exc, statement)}; it runs outside a transaction, so statements "
                    f"1-{index - 1} stayed applied: make them idempotent (IF NOT EXISTS) and re-run"
                ) from None
        with self.conn.transaction():
            record(m, _elapsed_ms(started))

    # The table is resolved after the migration's SQL, in its transaction: 0004 renames it.

    def _record_applied(self, m: Migration, ms: int) -> None:
        self.conn.execute(
            f"INSERT INTO {version_table.ensure(self.conn)}"
            " (version, name, checksum, execution_ms) VALUES (%s, %s, %s, %s)",
            [m.version, m.name, m.up.checksum, ms],
        )

    def _record_rolled_back(self, m: Migration, _ms: int) -> None:
        self.conn.execute(
            f"DELETE FROM {version_table.ensure(self.conn)} WHERE version = %s", [m.version]
        )


def _elapsed_ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _describe(exc: psycopg.Error, sql: str) -> str:
    """The server's message plus the line it points at, when it points at one."""
    diag = exc.diag
    text = diag.message_primary or str(exc).splitlines()[0]
    if diag.statement_position:
        line = sql.count("\n", 0, int(diag.statement_position) - 1) + 1
        text += f" (line {line})"
    return text
