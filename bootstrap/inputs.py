"""What ``bo1-infra bootstrap`` reads from its environment: the Pulumi hook sets exactly these.

Declared once: the hook (infra/components/bootstrap_hook.py) builds its clean
environment from this list, docs/ENVIRONMENT_VARIABLES.md lists it, and the tests
check both. The catalogue's BO1_* secrets come on top (secrets/catalogue.toml).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Input:
    name: str
    kind: str  # connection, setting, or passed through from the user's shell
    meaning: str


INPUTS = (
    Input("PGHOST", "connection", "Postgres host as the Docker host sees it (or `--dsn`)"),
    Input("PGPORT", "connection", "Postgres port published on that host"),
    Input("PGUSER", "connection", "the superuser, `postgres`"),
    Input("PGDATABASE", "connection", "the stack's database"),
    Input("BO1_POOLER_PORT", "connection",
          "PgBouncer's port on the Postgres host (or `--pooler-port`); DATABASE_URL goes there"),
    Input("REDIS_URL", "connection", "Redis as `bo1_ops` (or `--redis-url`)"),
    Input("DOCKER_HOST", "connection",
          "the stack's Docker host (`docker:host`): `ssh://` opens a tunnel, `tcp://` connects"
          " to that host"),
    Input("BO1_DOCKER_SSH_OPTS", "connection",
          "JSON list of ssh options for an `ssh://` host (`docker:sshOpts`)"),
    Input("BO1_APP_SETTINGS", "setting",
          "JSON object of plain app settings overriding the defaults above"),
    Input("BO1_POSTGRES_LOCAL_PSQL", "setting",
          "command that opens psql as the superuser over the database's local socket, used only"
          " to re-key a rotated superuser password; on an ha stack a JSON object of node"
          " address to command (the leader's is used)"),
    Input("PATH", "passed through", "to find `docker` and `ssh`"),
    Input("HOME", "passed through", "for ssh's and docker's own configuration"),
)  # fmt: skip

NAMES = tuple(i.name for i in INPUTS)
