"""No password ever comes back in an error, however badly its connection string is written.

Generated passwords full of URL and libpq metacharacters go unencoded or unquoted into
--dsn and REDIS_URL; the CLI must fail with one line (exit 2 for a malformed string)
that holds no 4-character piece of the password (issue #11).
"""

from __future__ import annotations

import contextlib
import io
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bootstrap.cli import main
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.ports import free_port

METACHARACTERS = "%/@ #?:&=;'\"\\"
# Letters that no message of ours strings together, so a match is a real echo.
PASSWORDS = st.text(st.sampled_from(METACHARACTERS + "QXZJKVW-_"), min_size=6, max_size=24).filter(
    lambda p: any(c in METACHARACTERS for c in p)
)
PORT = free_port()  # nothing listens there


def pieces(password: str, size: int = 4) -> set[str]:
    return {password[i : i + size] for i in range(len(password) - size + 1)}


def run_in_process(*argv: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.MonkeyPatch.context() as patch,
    ):
        for name in ("PGPASSWORD", "PGUSER", "REDIS_URL", "BO1_POSTGRES_SUPERUSER_PASSWORD"):
            patch.delenv(name, raising=False)
        for name, value in (env or {}).items():
            patch.setenv(name, value)
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def assert_never_echoed(password: str, code: int, out: str, err: str) -> None:
    assert code != 0
    assert len(err.strip().splitlines()) == 1, err
    leaked = [p for p in pieces(password) if p in out + err]
    assert not leaked, (leaked, err)


FORMS = {
    "postgres URL": lambda pw: ("migrate", "status", "--dsn",
                                f"postgresql://postgres:{pw}@127.0.0.1:{PORT}/bo1"),
    "key=value": lambda pw: ("migrate", "status", "--dsn",
                             f"host=127.0.0.1 port={PORT} user=postgres password={pw} dbname=bo1"),
    "redis URL": lambda pw: ("redis-cleanup", "--redis-url", f"redis://bo1_ops:{pw}@127.0.0.1:{PORT}/0"),
}  # fmt: skip


@pytest.mark.parametrize("form", FORMS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(password=PASSWORDS)
def test_a_password_in_a_malformed_string_is_never_echoed(form: str, password: str) -> None:
    code, out, err = run_in_process(*FORMS[form](password))
    assert_never_echoed(password, code, out, err)


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("migrate", "status", "--dsn", "postgresql://postgres:pa ss@127.0.0.1/x"), "encoded"),
        (("migrate", "status", "--dsn", "postgresql://postgres:pa/ss-word@127.0.0.1/x"), "encoded"),
        (("migrate", "status", "--dsn", "postgresql://postgres:pa%zzword@127.0.0.1/x"), "encoded"),
        (("migrate", "status", "--dsn", "host=x password=pass word"), "single quotes"),
        (
            ("redis-cleanup", "--redis-url", "redis://bo1_ops:pa/ss-word@127.0.0.1:6379/0"),
            "encoded",
        ),
        (
            ("redis-cleanup", "--redis-url", "redis://bo1_ops:pa#ss-word@127.0.0.1:6379/0"),
            "encoded",
        ),
        (
            ("redis-cleanup", "--redis-url", "redis://bo1_ops:pa?ss-word@127.0.0.1:6379/0"),
            "encoded",
        ),
    ],
)
def test_malformed_strings_are_usage_errors_with_the_fix(
    argv: tuple[str, ...], needle: str
) -> None:
    result = run_cli(*argv)
    line = assert_one_line_error(result, needle)
    assert result.returncode == 2, line
    assert "ss-word" not in line and "pass word" not in line


def test_a_newline_in_an_api_key_is_refused_naming_the_variable(tmp_path: object) -> None:
    from bootstrap.stack_secrets.catalogue import load

    env = {s.env: f"Value-{s.key}-x" for s in load().secrets}
    env["BO1_ANTHROPIC_API_KEY"] = "sk-real\nLD_PRELOAD=/tmp/evil.so"
    env["REDIS_URL"] = f"redis://bo1_ops:x@127.0.0.1:{PORT}/0"
    result = run_cli("bootstrap", "--stack", "dev", "--wait", "0", env=env)
    line = assert_one_line_error(result, "BO1_ANTHROPIC_API_KEY", "control character")
    assert "sk-real" not in line and "LD_PRELOAD" not in line
    assert result.returncode == 2


def test_app_settings_with_a_newline_are_refused(tmp_path: object) -> None:
    from bootstrap.stack_secrets.catalogue import load

    env = {s.env: f"Value-{s.key}-x" for s in load().secrets}
    env["BO1_APP_SETTINGS"] = json.dumps({"LOG_LEVEL": "INFO\nDATABASE_URL=postgresql://evil"})
    result = run_cli("bootstrap", "--stack", "dev", "--wait", "0", env=env)
    assert_one_line_error(result, "LOG_LEVEL")
