"""Tenancy: the database roles and the one correct way to act as a tenant.

The tenant is a transaction-local setting. ``set_config(name, value, true)``
(the SQL form of ``SET LOCAL``) lasts until COMMIT or ROLLBACK, so a pooled
connection never carries one tenant's id into the next transaction.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

SUPERUSER = "postgres"  # the image's superuser: migrations, bootstrap, verify, status
OWNER_ROLE = "bo1_owner"  # owns the schema objects; NOLOGIN
APP_ROLE = "bo1_app"  # the application; LOGIN, NOBYPASSRLS, tenant-scoped DML
SERVICE_ROLE = "bo1_service"  # admin operations; LOGIN, BYPASSRLS, no DDL
ROLES = (OWNER_ROLE, APP_ROLE, SERVICE_ROLE)

TENANT_SETTING = "app.current_user_id"
TENANT_TABLES = ("users", "sessions", "contributions", "votes", "audit_log")
POLICIES = {
    "users": "users_self_access",
    "sessions": "sessions_user_isolation",
    "contributions": "contributions_user_isolation",
    "votes": "votes_user_isolation",
    "audit_log": "audit_log_user_isolation",
}


@contextmanager
def tenant_transaction(conn: psycopg.Connection, user_id: str) -> Iterator[psycopg.Connection]:
    """Run the block in one transaction of its own, acting as tenant ``user_id``.

    The block must own the whole transaction: the tenant is transaction-local, so on
    a connection already inside a transaction (psycopg's default autocommit=False
    opens one with the first statement) it would outlive the block, and the block's
    writes would not be committed when it ends. That, and nesting, are refused.
    """
    from psycopg import pq

    from bootstrap.errors import TenancyError

    if conn.info.transaction_status != pq.TransactionStatus.IDLE:
        raise TenancyError(
            "tenant_transaction needs a connection outside any transaction (the tenant would"
            " outlive the block): commit or roll back first, use an autocommit connection,"
            " and do not nest tenant blocks"
        )
    with conn.transaction():
        conn.execute("SELECT set_config(%s, %s, true)", [TENANT_SETTING, user_id])
        yield conn
