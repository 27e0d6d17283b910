"""PgBouncer's admin console, read by verify and status: mode, limits and pool usage.

The console speaks the simple query protocol only, so it is read through a
``ClientCursor`` (psycopg's default cursor sends the extended protocol, which the
console refuses). It logs in as ``bo1_pooler_stats`` (SHOW only), whose password
is the stack secret ``poolerStatsPassword`` ($BO1_POOLER_STATS_PASSWORD).
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

import psycopg

from bootstrap.errors import ConnectionFailed, UsageError
from bootstrap.pooler.config import CONSOLE_DATABASE, STATS_USER
from bootstrap.postgres.connect import connect

PORT_ENV = "BO1_POOLER_PORT"
PASSWORD_ENV = "BO1_POOLER_STATS_PASSWORD"


def port(args: argparse.Namespace) -> int:
    """--pooler-port, else $BO1_POOLER_PORT, else the stack file's poolerPort."""
    if args.pooler_port is not None:
        return int(args.pooler_port)
    raw = os.environ.get(PORT_ENV, "").strip()
    if raw:
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise UsageError(f"{PORT_ENV}={raw!r} is not a port; use a number such as 6432")
        return int(raw)
    from bootstrap.stack import stack_settings

    return stack_settings(args.stack).pooler_port


@dataclass(frozen=True)
class PoolerState:
    version: str
    pool_mode: str
    max_client_conn: int
    default_pool_size: int
    reset_always: bool  # server_reset_query_always: session state reset after each transaction
    clients_active: int
    clients_waiting: int
    servers_active: int
    servers_idle: int
    max_wait_s: float

    def summary(self) -> str:
        return (
            f"{self.pool_mode} mode, {'reset' if self.reset_always else 'NO reset'} after each"
            f" transaction; clients {self.clients_active} active,"
            f" {self.clients_waiting} waiting (max {self.max_client_conn}); servers"
            f" {self.servers_active} active, {self.servers_idle} idle"
            f" (pool {self.default_pool_size}); longest wait {self.max_wait_s:.1f} s"
        )


def read(
    at: tuple[str, int], database: str, password: str | None = None, wait: float = 0.0
) -> PoolerState:
    """The console's view of ``database``'s pools, as the stats user (password: argument,
    else $BO1_POOLER_STATS_PASSWORD)."""
    password = password or os.environ.get(PASSWORD_ENV, "")
    if not password:
        raise ConnectionFailed(
            f"{PASSWORD_ENV} is not set: the pooler's console needs the stack secret"
            " poolerStatsPassword"
        )
    # The address in the DSN, so an error names the pooler; the password only as an override.
    where = f"host={at[0]} port={at[1]} dbname={CONSOLE_DATABASE} user={STATS_USER}"
    with connect(where, wait=wait, overrides={"password": password}) as conn:
        config = {r["key"]: r["value"] for r in _rows(conn, "CONFIG")}
        version = _rows(conn, "VERSION")[0]["version"]
        pools = [r for r in _rows(conn, "POOLS") if r["database"] == database]
    return PoolerState(
        version=version,
        pool_mode=config.get("pool_mode", "?"),
        max_client_conn=int(config.get("max_client_conn", 0)),
        default_pool_size=int(config.get("default_pool_size", 0)),
        reset_always=config.get("server_reset_query_always") == "1"
        and bool(config.get("server_reset_query")),
        clients_active=sum(int(p["cl_active"]) for p in pools),
        clients_waiting=sum(int(p["cl_waiting"]) for p in pools),
        servers_active=sum(int(p["sv_active"]) for p in pools),
        servers_idle=sum(int(p["sv_idle"]) for p in pools),
        max_wait_s=max(
            (int(p["maxwait"]) + int(p.get("maxwait_us", 0)) / 1e6 for p in pools), default=0.0
        ),
    )


def _rows(conn: psycopg.Connection, what: str) -> list[dict[str, str]]:
    with psycopg.ClientCursor(conn) as cur:
        cur.execute(f"SHOW {what}")  # a fixed word, never input
        names = [c.name for c in cur.description or []]
        return [
            {name: str(value) for name, value in zip(names, row, strict=True)}
            for row in cur.fetchall()
        ]
