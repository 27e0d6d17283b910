"""Docs that mirror code, generated from it: ``bo1-infra docs env|redis-keys [--write]``.

tests/test_docs.py fails when a committed file differs from what these render.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bootstrap import app_env
from bootstrap.redis_keys import DAY, PATTERNS

DOCS = Path(__file__).resolve().parents[1] / "docs"
ENV_DOC = DOCS / "ENVIRONMENT_VARIABLES.md"
REDIS_KEYS_DOC = DOCS / "REDIS_KEY_PATTERNS.md"


def render_env_doc() -> str:
    """docs/ENVIRONMENT_VARIABLES.md, generated; tests/test_docs.py keeps the file equal to this."""
    out = [
        "# Environment variables",
        "",
        "Generated from `bootstrap/app_env.py` and `secrets/catalogue.toml` by",
        "`bo1-infra docs env`; `tests/test_docs.py` fails when this file is out of date.",
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
    from bootstrap import secret_catalogue

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
    for spec in secret_catalogue.load().secrets:
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
        "Generated from `bootstrap/redis_keys.py` by `bo1-infra docs redis-keys`;",
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


def env(args: argparse.Namespace) -> int:
    return _emit(ENV_DOC, render_env_doc(), args.write)


def redis_keys(args: argparse.Namespace) -> int:
    return _emit(REDIS_KEYS_DOC, render_redis_keys_doc(), args.write)


def _emit(path: Path, text: str, write: bool) -> int:
    if write:
        path.write_text(text)
        print(f"wrote {path}")
    else:
        print(text, end="")
    return 0
