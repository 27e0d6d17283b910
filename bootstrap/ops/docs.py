"""Files that mirror code, generated from it: ``bo1-infra docs [--write | --show NAME]``.

tests/test_docs.py fails when a committed file differs from what these render.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bootstrap import inputs, paths
from bootstrap.appenv import model as app_env
from bootstrap.errors import UsageError
from bootstrap.redisdb.keys import DAY, FAMILIES, THREAD_ANCHOR, acl_patterns


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
        "`bash scripts/pulumi.sh STACK config set --path 'bo1-infra:appSettings.NAME' VALUE`.",
        "",
        "The list follows what Board of One itself reads (its `bo1/config.py` at the",
        "Week 3.5 report, and `REDIS_URL` for its LangGraph checkpointer); a variable",
        "the app does not read yet says so in the last column. How the app uses them:",
        "[APPLICATION.md](APPLICATION.md).",
    ]
    for group in app_env.GROUPS:
        out += [
            "",
            f"## {group}",
            "",
            "| variable | default | source | meaning | app reads it |",
            "|---|---|---|---|---|",
        ]
        for var in (v for v in app_env.VARIABLES if v.group == group):
            if var.secret_key:
                default, source = "(none)", f"secret `{var.secret_key}`"
            elif var.computed:
                default, source = "(computed)", var.computed
            else:
                default, source = f"`{var.default}`", "setting"
            allowed = f" ({', '.join(var.allowed)})" if var.allowed else ""
            reads = "yes" if var.app_reads else f"no: {var.note}"
            out.append(
                f"| `{var.name}` | {default} | {source} | {var.description}{allowed} | {reads} |"
            )
    out += _bootstrap_inputs()
    return "\n".join(out) + "\n"


def _bootstrap_inputs() -> list[str]:
    from bootstrap.stack_secrets import catalogue

    out = [
        "",
        "## Inputs of `bo1-infra bootstrap`",
        "",
        "The Pulumi hook runs bootstrap in an environment holding exactly these",
        "(`env -i`), so nothing else in the shell that runs `pulumi up` changes what it",
        "does; secrets travel only in the environment, never in argv. Run by hand, set",
        "them yourself.",
        "",
        "| variable | kind | meaning |",
        "|---|---|---|",
        *(f"| `{i.name}` | {i.kind} | {i.meaning} |" for i in inputs.INPUTS),
    ]  # fmt: skip
    for spec in catalogue.load().secrets:
        optional = f" (may stay unset in {', '.join(spec.optional_in)})" if spec.optional_in else ""
        if spec.topology == "ha":
            optional = " (ha stacks only; bootstrap does not read it)"
        out.append(
            f"| `{spec.env}` | {spec.kind}{optional} secret `{spec.key}` | {spec.description} |"
        )
    return out


def _duration(seconds: int) -> str:
    if seconds % DAY == 0:
        days = seconds // DAY
        return f"{days} day" if days == 1 else f"{days} days"
    return f"{seconds} s"


def render_redis_keys_doc() -> str:
    out = [
        "# Redis key families",
        "",
        "Generated from `bootstrap/redisdb/keys.py` by `bo1-infra docs --write`;",
        "`tests/test_docs.py` fails when this file is out of date. The same registry",
        "sets the application user's ACL key patterns, the rules of",
        "`bo1-infra redis-cleanup` and what `verify` probes.",
        "",
        "## Families",
        "",
        "| pattern | key | type | TTL | owner | purpose | example |",
        "|---|---|---|---|---|---|---|",
    ]
    for f in FAMILIES:
        out.append(
            f"| `{f.glob}` | `{f.template}` | {f.redis_type} | {_duration(f.ttl_seconds)} |"
            f" {f.owner} | {f.purpose} | `{f.example}` |"
        )
    patterns = " ".join(f"`~{p}`" for p in acl_patterns(FAMILIES))
    out += [
        "",
        "The application logs in as Redis's `default` user with a password only, as",
        f"Board of One does. Its ACL key patterns are {patterns}; any other key is",
        "refused with NOPERM. `~checkpoint*` is broader than the checkpoint families:",
        "the saver names its two search indexes `checkpoint` and `checkpoint_write`, and",
        "index commands are checked against those names (see SECURITY.md).",
        "",
        "A key's id is the first segment after its prefix. The four LangGraph families",
        "belong to the thread in that segment, even though the namespace that follows",
        "(`__empty__`, or a subgraph's `node:task`) may itself hold colons.",
        "",
        "## More families per stack",
        "",
        "A later app release that writes a new family needs configuration, not code:",
        "",
        "```yaml",
        "config:",
        "  bo1-infra:redisKeyFamilies:",
        "    - prefix: 'usage:'",
        "      ttlSeconds: 2592000",
        "      purpose: per-user usage counters",
        "      redisType: hash            # optional, for the docs",
        "      onNoTtl: expire            # or delete",
        "      maxTtlSeconds: 5184000     # optional: a longer TTL is a bug, the key goes",
        "      parentPrefix: 'session:'   # optional: the key goes when session:{id} is gone",
        "```",
        "",
        "`pulumi up` adds the family's pattern to the application's ACL; run the",
        "cleanup with `--stack` to apply its rule.",
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
    for f in FAMILIES:
        if f.thread:
            no_ttl = f"gets {_duration(f.ttl_seconds)}, or its thread's expiry if later"
        elif f.on_no_ttl == "delete":
            no_ttl = "deleted"
        else:
            no_ttl = f"gets {_duration(f.ttl_seconds)}"
        too_long = f"deleted above {_duration(f.max_ttl_seconds)}" if f.max_ttl_seconds else "kept"
        orphan = f"deleted when `{f.parent_prefix}{{id}}` is gone" if f.parent_prefix else "never"
        out.append(f"| `{f.glob}` | {no_ttl} | {too_long} | {orphan} |")
    out += [
        "",
        "**LangGraph threads expire as one.** A thread's keys are never deleted by the",
        "cleanup. A thread key without a TTL gets 7 days; a thread key that would expire",
        f"before its thread's anchor (`{THREAD_ANCHOR}`, the pointer the",
        "saver rewrites on every step) is moved to the anchor's expiry (`align_thread`),",
        "so a thread's history never disappears before its latest checkpoint. Give the",
        'saver a TTL of its own (`RedisSaver(..., ttl={"default_ttl": 10080,',
        '"refresh_on_read": True})`, in minutes) and the cleanup has nothing to do.',
        "",
        "A key that matches no family is counted and reported, and never touched.",
        "`--dry-run` reports exactly what a real run would do and changes nothing.",
        "The summary goes to stdout (`--json` for machines); `--verbose` lists each",
        "action on stderr. Exit codes: 0 clean, 1 memory at or above 80% of",
        "maxmemory, 2 an error (unreachable, refused login, read-only replica,",
        "missing ACL rights). For cron:",
        "",
        "```",
        "*/15 * * * *  REDIS_URL=redis://bo1_ops:...@127.0.0.1:6379/0 bo1-infra redis-cleanup --stack prod --json >> /var/log/bo1-redis-cleanup.log",
        "```",
        "",
        "## Listing sessions without KEYS",
        "",
        "`KEYS` is refused to the application (it blocks the server while it walks every",
        "key). List with SCAN and the family's pattern instead, for example in Python:",
        "",
        "```python",
        # Already as ruff formats it: `ruff format` also formats code blocks in markdown.
        "session_ids = [",
        '    key.removeprefix("session:") for key in r.scan_iter(match="session:bo1_*", count=1000)',
        "]",
        "```",
        "",
        "## Example queries",
        "",
        "```sh",
        "export REDISCLI_AUTH=...   # bo1_ops's password; never on the command line",
        "redis-cli --user bo1_ops --scan --pattern 'session:*' | head          # some live sessions",
        "redis-cli --user bo1_ops TTL session:bo1_5f0c1e9a                     # seconds left, -1 = no TTL",
        "redis-cli --user bo1_ops --scan --pattern 'checkpoint*:5f0c1e9a-*'    # one thread's keys",
        "redis-cli --user bo1_ops INFO memory | grep -E 'used_memory_human|maxmemory_human'",
        "bo1-infra redis-cleanup --dry-run --verbose                           # what cleanup would do",
        "```",
    ]
    return "\n".join(out) + "\n"


def render_env_example() -> str:
    """secrets/.env.example: the env file bootstrap writes, with placeholders for secrets."""
    from bootstrap.stack_secrets import catalogue

    placeholders = {spec.key: "" for spec in catalogue.load().secrets}
    placeholders |= {
        key: "change-me"
        for key in ("postgresAppPassword", "postgresServicePassword", "redisAppPassword")
    }
    at = app_env.Endpoints(
        postgres_host="127.0.0.1",
        postgres_port=5432,
        database="bo1",
        pooler_port=6432,
        redis_host="127.0.0.1",
        redis_port=6379,
    )
    values = app_env.render(placeholders, at)
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
            out.append(f"# {var.description} ({source})")
            if var.note:
                out.append(f"# Not read by the app yet: {var.note}.")
            out.append(f"{var.name}={values[var.name]}")
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
