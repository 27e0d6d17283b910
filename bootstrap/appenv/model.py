"""The application's environment: every variable Board of One reads, its group and default.

One model serves four readers: ``bo1-infra bootstrap`` writes it to the env
file (bootstrap/appenv/env_file.py), the Pulumi program exports it as a secret
output, and docs/ENVIRONMENT_VARIABLES.md and secrets/.env.example are
generated from it (bootstrap/ops/docs.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from bootstrap.appenv.urls import connection_url
from bootstrap.errors import UsageError
from bootstrap.postgres.tenancy import APP_ROLE
from bootstrap.redisdb.keys import PATTERNS
from bootstrap.redisdb.users import APP_USER as REDIS_APP_USER

GROUPS = (
    "LLM keys",
    "Postgres",
    "Redis",
    "Application",
    "Cost and safety limits",
    "Models",
    "Feature flags",
)


@dataclass(frozen=True)
class EnvVar:
    name: str
    group: str
    description: str
    default: str | None = None  # a plain setting, overridable per stack (appSettings)
    secret_key: str | None = None  # taken from the secret catalogue
    computed: str | None = None  # derived by bootstrap; says from what
    ttl_of: str | None = None  # a key pattern's prefix: the value is that pattern's TTL


def _ttl(prefix: str) -> str:
    return str(next(p.ttl_seconds for p in PATTERNS if p.prefix == prefix))


def _ttl_var(name: str, prefix: str) -> EnvVar:
    """A variable that tells the app a key pattern's TTL, straight from the registry."""
    return EnvVar(
        name,
        "Redis",
        f"TTL of {prefix}* keys",
        computed=f"key registry ({_ttl(prefix)})",
        ttl_of=prefix,
    )


VARIABLES = (
    EnvVar("ANTHROPIC_API_KEY", "LLM keys", "Anthropic API key", secret_key="anthropicApiKey"),
    EnvVar("VOYAGE_API_KEY", "LLM keys", "Voyage AI API key (embeddings)", secret_key="voyageApiKey"),
    EnvVar("DATABASE_URL", "Postgres", "PostgreSQL URL as the RLS-bound app role bo1_app",
           computed="postgresAppPassword + the stack's Postgres address"),
    EnvVar("DATABASE_POOL_SIZE", "Postgres", "connections in the app's pool", default="10"),
    EnvVar("REDIS_URL", "Redis", "Redis URL as the ACL user bo1_app",
           computed="redisAppPassword + the stack's Redis address"),
    _ttl_var("SESSION_TTL_SECONDS", "session:"),
    _ttl_var("CHECKPOINT_TTL_SECONDS", "checkpoint:"),
    _ttl_var("RATE_LIMIT_WINDOW_SECONDS", "ratelimit:"),
    _ttl_var("CACHE_TTL_SECONDS", "cache:"),
    EnvVar("BO1_ENV", "Application", "the stack the app runs against", computed="the stack name"),
    EnvVar("LOG_LEVEL", "Application", "DEBUG, INFO, WARNING or ERROR", default="INFO"),
    EnvVar("PERSONAS_PER_SESSION", "Application", "experts seated on each board", default="5"),
    EnvVar("MAX_COST_PER_SESSION_USD", "Cost and safety limits", "a session stops at this LLM spend", default="2.00"),
    EnvVar("MAX_ROUNDS_PER_SESSION", "Cost and safety limits", "deliberation rounds before a forced vote", default="10"),
    EnvVar("MAX_SESSIONS_PER_USER_PER_DAY", "Cost and safety limits", "new sessions a user may start per day", default="20"),
    EnvVar("RATE_LIMIT_REQUESTS_PER_WINDOW", "Cost and safety limits", "API requests per user per window", default="60"),
    EnvVar("LLM_MODEL_DELIBERATION", "Models", "model the personas speak with", default="claude-sonnet-4-5"),
    EnvVar("LLM_MODEL_SUMMARY", "Models", "model for summaries and synthesis", default="claude-haiku-4-5"),
    EnvVar("EMBEDDING_MODEL", "Models", "Voyage model for embeddings", default="voyage-3.5"),
    EnvVar("FEATURE_VOTING", "Feature flags", "personas vote at the end of a session", default="true"),
    EnvVar("FEATURE_EMBEDDINGS", "Feature flags", "store embeddings for similar-session search", default="true"),
    EnvVar("FEATURE_KILL_SWITCH", "Feature flags", "users may kill a running session", default="true"),
)  # fmt: skip

OVERRIDABLE = frozenset(v.name for v in VARIABLES if v.default is not None)


@dataclass(frozen=True)
class Endpoints:
    """Where the app reaches the services (the stack's published addresses)."""

    postgres_host: str
    postgres_port: int
    database: str
    redis_host: str
    redis_port: int


def check_overrides(overrides: Mapping[str, str]) -> None:
    unknown = sorted(set(overrides) - OVERRIDABLE)
    if unknown:
        raise UsageError(
            f"appSettings: {', '.join(unknown)} cannot be set; settable: {', '.join(sorted(OVERRIDABLE))}"
        )
    for name, value in overrides.items():
        if "\n" in value or "\r" in value:
            raise UsageError(f"appSettings: {name} must be a single line")


def render(
    stack: str,
    secrets: Mapping[str, str],
    at: Endpoints,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Every variable's value, in model order. ``secrets`` maps catalogue keys to values."""
    overrides = dict(overrides or {})
    check_overrides(overrides)
    computed = {
        "DATABASE_URL": connection_url(
            "postgresql", APP_ROLE, secrets["postgresAppPassword"],
            at.postgres_host, at.postgres_port, at.database,
        ),
        "REDIS_URL": connection_url(
            "redis", REDIS_APP_USER, secrets["redisAppPassword"], at.redis_host, at.redis_port, "0"
        ),
        "BO1_ENV": stack,
    }  # fmt: skip
    values = {}
    for var in VARIABLES:
        if var.secret_key:
            values[var.name] = secrets[var.secret_key]
        elif var.ttl_of:
            values[var.name] = _ttl(var.ttl_of)
        elif var.computed:
            values[var.name] = computed[var.name]
        else:
            values[var.name] = overrides.get(var.name, str(var.default))
    return values
