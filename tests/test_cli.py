"""One CLI vocabulary: every verb's --help and its error paths, walked from the verb table.

New verbs join these tests by being in ``bootstrap.cli.VERBS``; nothing here
lists them by hand.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from bootstrap.cli import VERBS, Verb, build_parser
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.ports import free_port
from tests.support.postgres_server import PostgresServer

# The flag for each thing, in every verb that takes it.
VOCABULARY = {
    "dsn": "--dsn",
    "redis_url": "--redis-url",
    "wait": "--wait",
    "migrations_dir": "--migrations-dir",
    "stack": "--stack",
    "env_file": "--env-file",
    "dry_run": "--dry-run",
    "json": "--json",
    "pooler_port": "--pooler-port",
}
IDS = [" ".join(v.words) for v in VERBS]


def verb_parser(verb: Verb) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = build_parser(verb.words[0])
    for word in verb.words:
        action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = action.choices[word]
    return parser


def options(verb: Verb) -> dict[str, argparse.Action]:
    parser = verb_parser(verb)
    return {a.dest: a for a in parser._actions if a.option_strings and a.dest != "help"}


@pytest.mark.parametrize("verb", VERBS, ids=IDS)
def test_help_describes_the_verb(verb: Verb) -> None:
    result = run_cli(*verb.words, "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert " ".join(verb.description.split()[:6]) in " ".join(result.stdout.split())
    assert "%%" not in result.stdout
    for action in options(verb).values():
        assert action.help and action.help != argparse.SUPPRESS, action.option_strings


@pytest.mark.parametrize("verb", VERBS, ids=IDS)
def test_the_same_thing_has_the_same_flag_everywhere(verb: Verb) -> None:
    found = options(verb)
    for dest, action in found.items():
        if dest in VOCABULARY:
            assert action.option_strings == [VOCABULARY[dest]], (dest, action.option_strings)
    assert "url" not in found, "Redis is --redis-url"
    if "dsn" in found or "redis_url" in found:
        assert "wait" in found, "every verb that connects can --wait"


def test_shared_flags_share_their_help() -> None:
    helps: dict[str, set[str]] = {}
    for verb in VERBS:
        for dest, action in options(verb).items():
            if dest in ("dsn", "redis_url", "migrations_dir", "env_file"):
                helps.setdefault(dest, set()).add(str(action.help))
    assert all(len(h) == 1 for h in helps.values()), helps


def test_every_group_lists_its_verbs() -> None:
    top = run_cli("--help")
    assert top.returncode == 0
    for verb in VERBS:
        assert verb.words[0] in top.stdout
    for group in {v.words[0] for v in VERBS if len(v.words) > 1}:
        listing = run_cli(group, "--help").stdout
        for verb in (v for v in VERBS if v.words[0] == group):
            assert verb.words[1] in listing and verb.summary in listing


@pytest.mark.parametrize("verb", VERBS, ids=IDS)
def test_an_unknown_flag_is_one_line(verb: Verb) -> None:
    parser = verb_parser(verb)
    positionals = [a for a in parser._actions if not a.option_strings and a.required]
    chosen: list[str] = []  # one option of each required group, so only the flag is wrong
    for group in (g for g in parser._mutually_exclusive_groups if g.required):
        first = group._group_actions[0]
        chosen += [first.option_strings[0]] + (["placeholder"] if first.nargs != 0 else [])
    for required in (a for a in parser._actions if a.option_strings and a.required):
        chosen += [required.option_strings[0], "placeholder"]
    result = run_cli(*verb.words, *["placeholder"] * len(positionals), *chosen, "--no-such-flag")
    assert_one_line_error(result, "unrecognized arguments: --no-such-flag", "--help")
    assert result.returncode == 2 and result.stdout == ""


def _needs(verb: Verb, dest: str) -> bool:
    return dest in options(verb)


@pytest.mark.parametrize(
    "verb", [v for v in VERBS if _needs(v, "dsn")], ids=lambda v: " ".join(v.words)
)
def test_an_unreachable_postgres_is_one_line(verb: Verb, tmp_path: Path) -> None:
    port = free_port()
    dsn = f"postgresql://postgres:Pw-Never-Shown-7@127.0.0.1:{port}/x"
    result = run_cli(*verb.words, *_filler(verb, tmp_path), "--dsn", dsn, env=_secrets(port))
    assert result.returncode != 0 and result.stdout == ""
    line = assert_one_line_error(result, "bo1-infra: error:")
    assert "Pw-Never-Shown-7" not in line
    assert f"127.0.0.1:{port}" in line or "missing" in line or "Pulumi" in line, line


@pytest.mark.parametrize(
    "verb", [v for v in VERBS if _needs(v, "redis_url")], ids=lambda v: " ".join(v.words)
)
def test_an_unreachable_redis_is_one_line(
    verb: Verb, pg_server: PostgresServer, db: str, tmp_path: Path
) -> None:
    port = free_port()
    url = f"redis://bo1_ops:Pw-Never-Shown-8@127.0.0.1:{port}/0"
    env = {**pg_server.libpq_env(db), **_secrets(port)}
    result = run_cli(*verb.words, *_filler(verb, tmp_path), "--redis-url", url, env=env)
    assert result.returncode != 0 and result.stdout == ""
    line = assert_one_line_error(result, "bo1-infra: error:")
    assert "Pw-Never-Shown-8" not in line


@pytest.mark.parametrize(
    "verb", [v for v in VERBS if _needs(v, "pooler_port")], ids=lambda v: " ".join(v.words)
)
def test_a_pooler_port_that_is_no_port_is_one_line(verb: Verb, tmp_path: Path) -> None:
    env = {**_secrets(1), "BO1_POOLER_PORT": "six-four-three-two"}
    result = run_cli(*verb.words, *_filler(verb, tmp_path), env=env)
    assert result.returncode == 2 and result.stdout == ""
    assert_one_line_error(result, "BO1_POOLER_PORT='six-four-three-two' is not a port")
    for bad in ("0", "70000", "-1"):
        flag = run_cli(*verb.words, *_filler(verb, tmp_path), f"--pooler-port={bad}", env=env)
        assert flag.returncode == 2 and flag.stdout == ""
        assert_one_line_error(flag, "--pooler-port", "is not a port")


@pytest.mark.parametrize(
    "verb", [v for v in VERBS if _needs(v, "dsn")], ids=lambda v: " ".join(v.words)
)
def test_a_malformed_dsn_is_one_line(verb: Verb, tmp_path: Path) -> None:
    result = run_cli(*verb.words, *_filler(verb, tmp_path), "--dsn", "host=x port", env=_secrets(1))
    assert result.returncode != 0 and result.stdout == ""
    assert_one_line_error(result, "bo1-infra: error:")


@pytest.mark.parametrize(
    "words", [("migrate", "status"), ("seed", "personas", "--dry-run")], ids=str
)
def test_the_superuser_is_postgres_unless_told_otherwise(
    words: tuple[str, ...], pg_server: PostgresServer, db: str
) -> None:
    # We run as root: libpq alone would log in as "root", which does not exist.
    env = {k: v for k, v in pg_server.libpq_env(db).items() if k != "PGUSER"}
    assert run_cli(*words, env=env).returncode == 0
    named = run_cli(*words, env={**env, "PGUSER": "nobody_here"})
    assert_one_line_error(named, '"nobody_here"')


def test_the_stack_password_variable_logs_the_superuser_in(
    pg_server: PostgresServer, db: str
) -> None:
    env = {k: v for k, v in pg_server.libpq_env(db).items() if k not in ("PGUSER", "PGPASSWORD")}
    refused = run_cli("migrate", "status", env=env)
    assert_one_line_error(refused, "as postgres", "no password supplied")
    env["BO1_POSTGRES_SUPERUSER_PASSWORD"] = pg_server.password
    assert run_cli("migrate", "status", env=env).returncode == 0


def _filler(verb: Verb, tmp_path: Path) -> list[str]:
    """Arguments a verb needs to get as far as connecting."""
    if verb.words[0] in ("verify", "bootstrap"):
        env_file = tmp_path / "app.env"
        env_file.write_text("DATABASE_URL=\nREDIS_URL=\n")
        return ["--env-file", str(env_file), "--wait", "0"]
    return []


def _secrets(port: int) -> dict[str, str]:
    """The BO1_* inputs bootstrap reads, so it gets as far as connecting."""
    from bootstrap.stack_secrets.catalogue import load

    values = {s.env: f"Secret-{s.key}-x1" for s in load().secrets}
    return {**values, "REDIS_URL": f"redis://bo1_ops:x@127.0.0.1:{port}/0"}


def test_the_readme_lists_exactly_the_verbs_there_are() -> None:
    from bootstrap import paths

    listed = set()
    for line in (paths.ROOT / "README.md").read_text().splitlines():
        if line.startswith("bo1-infra "):
            words = []
            for word in line.split()[1:]:
                if (
                    word.startswith("-")
                    or not word.replace("-", "").isalpha()
                    or not word.islower()
                ):
                    break
                words.append(word)
            listed.add(tuple(words))
    assert listed == {v.words for v in VERBS}


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("redis+sentinel://bo1_ops:s3cr3t-pw@127.0.0.1:1,127.0.0.1:2/bo1", "none answered"),
        ("redis+sentinel://bo1_ops:s3cr3t-pw@127.0.0.1:1", "names no master"),
        ("redis+sentinel://bo1_ops:s3cr3t-pw@127.0.0.1:x/bo1", "HOST:PORT[,HOST:PORT...]/MASTER"),
    ],
)
def test_a_bad_or_unreachable_sentinel_url_is_one_line_without_the_password(
    url: str, says: str
) -> None:
    result = run_cli("redis-cleanup", "--redis-url", url)
    message = assert_one_line_error(result, says)
    assert "s3cr3t-pw" not in message
