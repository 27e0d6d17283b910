"""PgBouncer's files for a stack: pgbouncer.ini, its hba file and its auth file (pure).

Transaction pooling is safe with this project's tenancy only because the tenant
is a transaction-local setting. Everything session-scoped (a session-level
``set_config``, temp tables, ``WITH HOLD`` cursors, prepared statements, LISTEN)
would otherwise pass from one client to the next on the same server connection,
so the pooler resets it after every transaction (``RESET_QUERY`` with
``server_reset_query_always``); session advisory locks are refused to bo1_app
outright (migration 0005). docs/POOLING.md has the
measured cost and what a client must not rely on.

Only the application's role goes through the pooler. verify and status read
PgBouncer's console (``pgbouncer`` database) as ``bo1_pooler_stats``, a user that
exists only in PgBouncer and may only SHOW. No superuser's verifier is in the auth
file: a flaw that lets one auth-file user pass for another (CVE-2026-107350, fixed
in PgBouncer 1.26.1) then reaches nothing beyond the app's own role. Migrations,
bootstrap and admin work connect to Postgres directly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bootstrap.postgres.tenancy import APP_ROLE

POOLED_ROLES = (APP_ROLE,)
STATS_USER = "bo1_pooler_stats"  # PgBouncer's own user: SHOW on the console, nothing else
CONSOLE_DATABASE = "pgbouncer"
# Whose verifier the auth file carries, from which catalogue secret.
AUTH_SECRETS = {APP_ROLE: "postgresAppPassword", STATS_USER: "poolerStatsPassword"}
# DISCARD ALL minus DISCARD PLANS and DISCARD SEQUENCES: dropping cached plans after
# every transaction halved throughput at 500 clients (plpgsql and RLS plans replanned).
# RESET ALL leaves the role alone, hence SET SESSION AUTHORIZATION DEFAULT. No
# pg_advisory_unlock_all(): bo1_app may not take advisory locks at all (0005), and one
# statement refused would roll the whole reset back, silently (PgBouncer ignores it).
RESET_QUERY = (
    "CLOSE ALL; DEALLOCATE ALL; DISCARD TEMP; RESET ALL; SET SESSION AUTHORIZATION DEFAULT;"
    " UNLISTEN *"
)


@dataclass(frozen=True)
class Pool:
    """The stack's pooling knobs (stack settings ``pooler*``)."""

    max_client_conn: int = 1000
    default_pool_size: int = 20
    reserve_pool_size: int = 5
    server_login_retry_s: int = 1
    query_wait_timeout_s: int = 30
    idle_transaction_timeout_s: int = 60
    server_idle_timeout_s: int = 600
    client_idle_timeout_s: int = 0

    @property
    def server_connections(self) -> int:
        """The most server connections the pooler opens (pool plus reserve, one pool)."""
        return self.default_pool_size + self.reserve_pool_size


# The image installs PgBouncer from the PostgreSQL project's apt repository and refuses
# anything older than this: 1.26.1 fixed CVE-2026-107350, CVE-2026-107349 and
# CVE-2026-107348 (infra/images/postgres/Dockerfile). The tests run Debian 12's 1.18.
IMAGE_PGBOUNCER = (1, 26, 1)


@dataclass(frozen=True)
class Layout:
    """Where the pooler listens, where Postgres is, where its files live, which PgBouncer.

    The container's values are the defaults; tests change only these.
    """

    listen_addr: str = "*"
    listen_port: int = 6432
    # Postgres's socket directory, a volume both containers mount: a round trip over a
    # socket costs less CPU than one over TCP, and the reset adds one per transaction.
    server_host: str = "/var/run/postgresql"
    server_port: int = 5432
    database: str = "bo1"
    config_dir: str = "/etc/pgbouncer"
    version: tuple[int, int, int] = IMAGE_PGBOUNCER

    @property
    def ini(self) -> str:
        return f"{self.config_dir}/pgbouncer.ini"

    @property
    def auth_file(self) -> str:
        return f"{self.config_dir}/userlist.txt"

    @property
    def hba_file(self) -> str:
        return f"{self.config_dir}/hba.conf"


def render_ini(pool: Pool, at: Layout) -> str:
    settings = {
        "listen_addr": at.listen_addr,
        "listen_port": str(at.listen_port),
        "unix_socket_dir": "",  # TCP only: the healthcheck and clients use the port
        "auth_type": "hba",
        "auth_hba_file": at.hba_file,
        "auth_file": at.auth_file,
        "stats_users": STATS_USER,  # and no admin_users: nobody may PAUSE, KILL or SHUTDOWN
        "pool_mode": "transaction",
        "max_client_conn": str(pool.max_client_conn),
        "default_pool_size": str(pool.default_pool_size),
        "min_pool_size": "0",
        "reserve_pool_size": str(pool.reserve_pool_size),
        "reserve_pool_timeout": "3",
        # A hard ceiling on what the pooler takes from Postgres's max_connections.
        "max_db_connections": str(pool.server_connections),
        "server_reset_query": RESET_QUERY,
        "server_reset_query_always": "1",
        # The default (15 s) is also how long the pooler stays away after Postgres restarts.
        "server_login_retry": str(pool.server_login_retry_s),
        "server_connect_timeout": "5",
        "query_wait_timeout": str(pool.query_wait_timeout_s),
        "idle_transaction_timeout": str(pool.idle_transaction_timeout_s),
        "server_idle_timeout": str(pool.server_idle_timeout_s),
        "client_idle_timeout": str(pool.client_idle_timeout_s),
        "server_lifetime": "3600",
        # JDBC and some drivers send it; anything else unknown (options=-c ...) is refused.
        "ignore_startup_parameters": "extra_float_digits",
        "log_connections": "0",  # the app's pools reconnect often; errors are still logged
        "log_disconnections": "0",
        "log_pooler_errors": "1",
        "stats_period": "60",
    }
    if at.version >= (1, 21, 0):
        # Since 1.24 PgBouncer tracks protocol-level prepared statements by default; off,
        # as in 1.18 (which rejects the key): the reset's DEALLOCATE ALL would pull
        # statements from under its cache.
        settings["max_prepared_statements"] = "0"
    lines = ["; bo1-infra pgbouncer.ini (generated; do not edit)", "[databases]"]
    lines.append(
        f"{at.database} = host={at.server_host} port={at.server_port} dbname={at.database}"
    )
    lines += ["", "[pgbouncer]"]
    lines += [f"{name} = {value}" for name, value in settings.items()]
    return "\n".join(lines) + "\n"


def render_hba(database: str) -> str:
    """Who may log in where: the app to its database, the stats user to the console only."""
    rows = [
        "# bo1-infra pgbouncer hba.conf (generated; do not edit)",
        "# TYPE  DATABASE   USER  ADDRESS    METHOD",
    ]
    for db, roles in ((database, POOLED_ROLES), (CONSOLE_DATABASE, (STATS_USER,))):
        for role in roles:
            for net in ("0.0.0.0/0", "::/0"):
                rows.append(f"host    {db}  {role}  {net}  scram-sha-256")
    return "\n".join(rows) + "\n"


def render_auth_file(verifiers: Mapping[str, str]) -> str:
    """``"role" "SCRAM-SHA-256$..."`` per line: verifiers only, never a password."""
    for role, verifier in verifiers.items():
        if not verifier.startswith("SCRAM-SHA-256$") or '"' in role + verifier:
            raise ValueError(f"the auth file takes SCRAM verifiers only (role {role})")
    return "".join(f'"{role}" "{verifier}"\n' for role, verifier in verifiers.items())


def auth_roles() -> tuple[str, ...]:
    """Every user the auth file lists: the pooled roles and the console's stats user."""
    return tuple(AUTH_SECRETS)
