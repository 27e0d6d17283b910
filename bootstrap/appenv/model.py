"""The application's environment: every variable the env file carries, where its value
comes from, and whether Board of One reads it.

The list follows the app's own settings (``bo1/config.py`` at the report's era,
87a0b497, and ``RedisSaver(redis_url=REDIS_URL)`` from Week 4): those variables,
plus a few the app does not read yet, each with a note saying so.

One model serves four readers: ``bo1-infra bootstrap`` writes it to the env
file (bootstrap/appenv/env_file.py), the Pulumi program exports it as a secret
output, and docs/ENVIRONMENT_VARIABLES.md and secrets/.env.example are
generated from it (bootstrap/ops/docs.py).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from bootstrap.appenv.urls import LEADER_QUERY, POOLERS_QUERY, connection_url, multi_host_url
from bootstrap.errors import UsageError
from bootstrap.postgres.tenancy import APP_ROLE, SERVICE_ROLE

GROUPS = ("LLM keys", "Postgres", "Redis", "Application")
REDIS_DB = "0"
BOOLEAN = ("true", "false")


@dataclass(frozen=True)
class EnvVar:
    name: str
    group: str
    description: str
    default: str | None = None  # a plain setting, overridable per stack (appSettings)
    secret_key: str | None = None  # taken from the secret catalogue
    computed: str | None = None  # derived by bootstrap; says from what
    note: str | None = None  # set when the report-era app does not read it (yet)
    allowed: tuple[str, ...] | None = None  # the values the app accepts, when it restricts them

    @property
    def app_reads(self) -> bool:
        return self.note is None


VARIABLES = (
    EnvVar("ANTHROPIC_API_KEY", "LLM keys", "Anthropic API key (the personas' deliberation)",
           secret_key="anthropicApiKey"),
    EnvVar("VOYAGE_API_KEY", "LLM keys", "Voyage AI API key (embeddings)", secret_key="voyageApiKey"),
    EnvVar("DATABASE_URL", "Postgres",
           "PostgreSQL URL as bo1_app, bound by row-level security, through the stack's PgBouncer"
           " (transaction pooling: set the tenant per transaction, no session state, no"
           " server-side prepared statements; docs/POOLING.md); on an ha stack, a multi-host"
           " URL over every node's pooler, each of which reaches the leader"
           " (docs/HIGH_AVAILABILITY.md)",
           computed="postgresAppPassword + the stack's pooler address"),
    EnvVar("DATABASE_DIRECT_URL", "Postgres",
           "PostgreSQL URL as bo1_app straight to Postgres, for what needs a session of its own"
           " (LISTEN, advisory locks, long cursors, the app's own migrations); on an ha stack,"
           " a multi-host URL that keeps the leader",
           computed="postgresAppPassword + the stack's Postgres address",
           note="not read by the app yet; DATABASE_URL is what it uses"),
    EnvVar("DATABASE_SERVICE_URL", "Postgres",
           "PostgreSQL URL as bo1_service (BYPASSRLS) for admin work and background jobs,"
           " straight to Postgres",
           computed="postgresServicePassword + the stack's Postgres address",
           note="not read by the app yet; give it only to trusted background jobs"),
    EnvVar("REDIS_HOST", "Redis", "Redis host (empty on an ha stack: the master moves; use"
           " REDIS_SENTINELS)", computed="the stack's Redis address"),
    EnvVar("REDIS_PORT", "Redis", "Redis port (empty on an ha stack)",
           computed="the stack's Redis port"),
    EnvVar("REDIS_DB", "Redis", "Redis database number", computed="always 0"),
    EnvVar("REDIS_PASSWORD", "Redis", "password of the app's Redis user (`default`)",
           computed="redisAppPassword",
           note="read by app releases after the report; the report-era RedisManager sends no"
                " password, so it cannot use any secured Redis"),
    EnvVar("REDIS_URL", "Redis", "Redis URL with the password only (`redis://:password@...`),"
           " as the app's LangGraph RedisSaver takes it (empty on an ha stack)",
           computed="redisAppPassword + address"),
    EnvVar("REDIS_SENTINELS", "Redis",
           "an ha stack's Sentinels, `host:port,host:port,...`: ask them for the master"
           " (redis-py: `Sentinel([...], sentinel_kwargs={'password': REDIS_PASSWORD},"
           " password=REDIS_PASSWORD).master_for(REDIS_SENTINEL_MASTER)`); empty on a"
           " single-host stack", computed="the ha stack's node addresses",
           note="not read by the app yet; an ha stack needs it (docs/HIGH_AVAILABILITY.md)"),
    EnvVar("REDIS_SENTINEL_MASTER", "Redis", "the name the Sentinels know the master by"
           " (`bo1`); empty on a single-host stack", computed="always bo1 on an ha stack",
           note="not read by the app yet; an ha stack needs it"),
    EnvVar("DEBUG", "Application", "debug-level logging for bo1 modules", default="false",
           allowed=BOOLEAN),
    EnvVar("LOG_LEVEL", "Application", "overall log level", default="INFO",
           allowed=("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")),
    EnvVar("VERBOSE_LIBS", "Application", "debug logs from third-party libraries", default="false",
           allowed=BOOLEAN),
    EnvVar("MAX_COST_PER_SESSION", "Application", "hard LLM spend limit per session, USD",
           default="1.00"),
    EnvVar("AB_TESTING_ENABLED", "Application", "A/B testing of experimental features",
           default="true", allowed=BOOLEAN),
)  # fmt: skip

OVERRIDABLE = frozenset(v.name for v in VARIABLES if v.default is not None)
_BY_NAME = {v.name: v for v in VARIABLES}


@dataclass(frozen=True)
class Endpoints:
    """Where the app reaches the services (the stack's published addresses)."""

    postgres_host: str
    postgres_port: int
    database: str
    pooler_port: int  # PgBouncer, on the Postgres host
    redis_host: str
    redis_port: int
    # An ha stack: every Postgres node (each with its PgBouncer; the URLs become libpq
    # multi-host URLs that keep the leader), and the Sentinels in place of a Redis host.
    postgres_hosts: tuple[str, ...] = ()
    sentinels: tuple[str, ...] = ()  # host:port
    sentinel_master: str = ""


def check_overrides(overrides: Mapping[str, str]) -> None:
    unknown = sorted(set(overrides) - OVERRIDABLE)
    if unknown:
        raise UsageError(
            f"appSettings: {', '.join(unknown)} cannot be set;"
            f" settable: {', '.join(sorted(OVERRIDABLE))}"
        )
    for name, value in overrides.items():
        check_value(name, value, "appSettings: ")
        allowed = _BY_NAME[name].allowed
        if allowed and value not in allowed:
            raise UsageError(f"appSettings: {name} must be one of {', '.join(allowed)}")


def check_value(name: str, value: str, where: str = "") -> None:
    """An env file holds one value per line: refuse control characters, naming the variable."""
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise UsageError(
            f"{where}{name} holds a control character (a newline?); an env file cannot carry it"
        )


def render(
    secrets: Mapping[str, str],
    at: Endpoints,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every variable's value, in model order. ``secrets`` maps catalogue keys to values."""
    overrides = dict(overrides or {})
    check_overrides(overrides)
    redis_password = secrets["redisAppPassword"]

    def pg_url(role: str, password: str, port: int, query: str = LEADER_QUERY) -> str:
        if at.postgres_hosts:
            hosts = [(host, port) for host in at.postgres_hosts]
            return multi_host_url(role, password, hosts, at.database, query)
        return connection_url("postgresql", role, password, at.postgres_host, port, at.database)

    ha = bool(at.sentinels)
    computed = {
        "DATABASE_URL": pg_url(
            APP_ROLE, secrets["postgresAppPassword"], at.pooler_port, POOLERS_QUERY
        ),
        "DATABASE_DIRECT_URL": pg_url(APP_ROLE, secrets["postgresAppPassword"], at.postgres_port),
        "DATABASE_SERVICE_URL": pg_url(
            SERVICE_ROLE, secrets["postgresServicePassword"], at.postgres_port
        ),
        "REDIS_HOST": "" if ha else at.redis_host,
        "REDIS_PORT": "" if ha else str(at.redis_port),
        "REDIS_DB": REDIS_DB,
        "REDIS_PASSWORD": redis_password,
        # No user name: the app authenticates as Redis's `default` user, password only.
        "REDIS_URL": "" if ha else connection_url(
            "redis", "", redis_password, at.redis_host, at.redis_port, REDIS_DB
        ),
        "REDIS_SENTINELS": ",".join(at.sentinels),
        "REDIS_SENTINEL_MASTER": at.sentinel_master,
    }  # fmt: skip
    values = {}
    for var in VARIABLES:
        if var.secret_key:
            values[var.name] = secrets[var.secret_key]
        elif var.computed:
            values[var.name] = computed[var.name]
        else:
            values[var.name] = overrides.get(var.name, str(var.default))
        check_value(var.name, values[var.name])
    return values
