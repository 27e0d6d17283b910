"""Files that mirror code, generated from it: ``bo1-infra docs [--write | --show NAME]``.

tests/test_docs.py fails when a committed file differs from what these render.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bootstrap import paths
from bootstrap.appenv import model as app_env
from bootstrap.errors import UsageError
from bootstrap.redisdb.keys import DAY, PATTERNS


def render_env_doc() -> str:
    """docs/ENVIRONMENT_VARIABLES.md, generated; tests/test_docs.py keeps the file equal to this."""
    out = [
        "# Environment variables",
        "",
        "Generated from `bootstrap/appenv/model.py` and `secrets/catalogue.toml` by",
        "`bo1-infra docs --write`; `tests/test_docs.py` fails when this file is out of date.",
        "`secrets/.env.example` lists the same variables as an env file.",
        "",
        "`bo1-infra bootstrap` writes these variables to `secrets/.env.<stack>` (mode 0600,",
        "gitignored, written atomically), and the Pulumi program exports the same values",
        "as the secret stack output `appEnv`. Plain settings can be changed per stack with",
        "`pulumi config set --path 'bo1-infra:appSettings.NAME' VALUE`.",
    ]
    for group in app_env.GROUPS:
        out += [
            "",
            f"## {group}",
            "",
            "| variable | default | source | meaning |",
            "|---|---|---|---|",
        ]
        for var in (v for v in app_env.VARIABLES if v.group == group):
            if var.secret_key:
                default, source = "(none)", f"secret `{var.secret_key}`"
            elif var.computed:
                default, source = "(computed)", var.computed
            else:
                default, source = f"`{var.default}`", "setting"
            out.append(f"| `{var.name}` | {default} | {source} | {var.description} |")
    out += _bootstrap_inputs()
    return "\n".join(out) + "\n"


def _bootstrap_inputs() -> list[str]:
    from bootstrap.stack_secrets import catalogue

    out = [
        "",
        "## Inputs of `bo1-infra bootstrap`",
        "",
        "The Pulumi hook sets these for the bootstrap process; secrets travel only in",
        "the environment, never in argv. Run by hand, set them yourself.",
        "",
        "| variable | kind | meaning |",
        "|---|---|---|",
        "| `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE` | connection | Postgres as the superuser (or `--dsn`) |",
        "| `REDIS_URL` | connection | Redis as `bo1_ops` (or `--redis-url`) |",
        "| `BO1_APP_SETTINGS` | setting | JSON object of plain settings overriding the defaults above |",
        "| `BO1_POSTGRES_LOCAL_PSQL` | setting | command that opens psql as the superuser over the database's local socket, used only to re-key a rotated superuser password |",
    ]  # fmt: skip
    for spec in catalogue.load().secrets:
        out.append(f"| `{spec.env}` | {spec.kind} secret `{spec.key}` | {spec.description} |")
    return out


def _duration(seconds: int) -> str:
    if seconds % DAY == 0:
        days = seconds // DAY
        return f"{days} day" if days == 1 else f"{days} days"
    return f"{seconds} s"


def render_redis_keys_doc() -> str:
    out = [
        "# Redis key patterns",
        "",
        "Generated from `bootstrap/redisdb/keys.py` by `bo1-infra docs --write`;",
        "`tests/test_docs.py` fails when this file is out of date. The same registry",
        "sets the app user's ACL key patterns, the TTL variables of the app's env file,",
        "and the rules of `bo1-infra redis-cleanup`.",
        "",
        "## Patterns",
        "",
        "| pattern | key | type | TTL | purpose | example |",
        "|---|---|---|---|---|---|",
    ]
    for p in PATTERNS:
        out.append(
            f"| `{p.glob}` | `{p.template}` | {p.redis_type} | {_duration(p.ttl_seconds)} |"
            f" {p.purpose} | `{p.example}` |"
        )
    out += [
        "",
        "Every key the application writes carries a TTL. The ACL user `bo1_app` may",
        "touch only these patterns; any other key is refused with NOPERM.",
        "",
        "## Cleanup strategy",
        "",
        "`bo1-infra redis-cleanup` walks the keyspace once with SCAN (never KEYS). Each",
        "batch, one SCAN step and the judgment of its keys, is a single call of a Lua",
        "script on the server: keys never cross the network, and the job's memory stays",
        "constant however many keys there are (measured figures: [BENCHMARKS.md](BENCHMARKS.md)).",
        "For each key:",
        "",
        "| pattern | no TTL | TTL too long | orphan |",
        "|---|---|---|---|",
    ]
    for p in PATTERNS:
        no_ttl = "deleted" if p.on_no_ttl == "delete" else f"gets {_duration(p.ttl_seconds)}"
        too_long = f"deleted above {_duration(p.max_ttl_seconds)}" if p.max_ttl_seconds else "kept"
        orphan = f"deleted when `{p.parent_prefix}{{id}}` is gone" if p.parent_prefix else "n/a"
        out.append(f"| `{p.glob}` | {no_ttl} | {too_long} | {orphan} |")
    out += [
        "",
        "A key that matches no pattern is counted and reported, and never touched.",
        "`--dry-run` reports exactly what a real run would do and changes nothing.",
        "The summary goes to stdout (`--json` for machines); `--verbose` lists each",
        "action on stderr. Exit codes: 0 clean, 1 memory at or above 80% of",
        "maxmemory, 2 an error (unreachable, refused login, read-only replica,",
        "missing ACL rights). For cron:",
        "",
        "```",
        "*/15 * * * *  REDIS_URL=redis://bo1_ops:...@127.0.0.1:6379/0 bo1-infra redis-cleanup --json >> /var/log/bo1-redis-cleanup.log",
        "```",
        "",
        "## Example queries",
        "",
        "```sh",
        "export REDISCLI_AUTH=...   # bo1_ops's password; never on the command line",
        "redis-cli --user bo1_ops --scan --pattern 'session:*' | head      # some live sessions",
        "redis-cli --user bo1_ops TTL session:5f0c1e9a                     # seconds left, -1 = no TTL",
        "redis-cli --user bo1_ops --scan --pattern 'checkpoint:5f0c1e9a:*' # one session's checkpoints",
        "redis-cli --user bo1_ops INFO memory | grep -E 'used_memory_human|maxmemory_human'",
        "bo1-infra redis-cleanup --dry-run --verbose                       # what cleanup would do",
        "```",
    ]
    return "\n".join(out) + "\n"


def render_env_example() -> str:
    """secrets/.env.example: the env file bootstrap writes, with placeholders for secrets."""
    from bootstrap.stack_secrets import catalogue

    placeholders = {spec.key: "" for spec in catalogue.load().secrets}
    placeholders |= {key: "change-me" for key in ("postgresAppPassword", "redisAppPassword")}
    at = app_env.Endpoints("127.0.0.1", 5432, "bo1", "127.0.0.1", 6379)
    values = app_env.render("dev", placeholders, at)
    out = [
        "# Board of One: every variable the app reads, with its default or an example.",
        "# Generated from bootstrap/appenv/model.py by `bo1-infra docs --write`; do not edit.",
        "# `bo1-infra bootstrap` writes the real file of a stack to secrets/.env.<stack>",
        "# (mode 0600, gitignored). Meanings: docs/ENVIRONMENT_VARIABLES.md.",
    ]
    for group in app_env.GROUPS:
        out += ["", f"# {group}"]
        for var in (v for v in app_env.VARIABLES if v.group == group):
            source = f"secret {var.secret_key}" if var.secret_key else var.computed or "setting"
            out += [f"# {var.description} ({source})", f"{var.name}={values[var.name]}"]
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Generated:
    name: str  # what --show takes
    path: Path
    render: Callable[[], str]


GENERATED = (
    Generated("env", paths.DOCS_DIR / "ENVIRONMENT_VARIABLES.md", render_env_doc),
    Generated("env-example", paths.ENV_EXAMPLE, render_env_example),
    Generated("redis-keys", paths.DOCS_DIR / "REDIS_KEY_PATTERNS.md", render_redis_keys_doc),
)


def docs(args: argparse.Namespace) -> int:
    if args.show:
        chosen = [g for g in GENERATED if g.name == args.show]
        if not chosen:
            names = ", ".join(g.name for g in GENERATED)
            raise UsageError(f"no generated file named {args.show!r}; use one of: {names}")
        print(chosen[0].render(), end="")
        return 0
    stale = 0
    for generated in GENERATED:
        text = generated.render()
        current = generated.path.read_text() if generated.path.is_file() else None
        shown = paths.display(generated.path)
        if current == text:
            print(f"{shown}: up to date")
        elif args.write:
            generated.path.write_text(text)
            print(f"{shown}: written")
        else:
            stale += 1
            print(f"{shown}: STALE")
    if stale:
        print(f"{stale} generated file(s) differ from the code; run `bo1-infra docs --write`")
    return 1 if stale else 0
