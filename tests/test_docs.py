"""Docs that mirror code are checked against it, so they cannot drift."""

from __future__ import annotations

import psycopg
import pytest

from bootstrap import paths
from bootstrap.appenv.env_file import read as read_env
from bootstrap.ops.docs import GENERATED
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.markdown import all_tables_rows, section

DOCS = paths.DOCS_DIR


@pytest.fixture(scope="module")
def schema_doc() -> str:
    return (DOCS / "DATABASE_SCHEMA.md").read_text()


def test_schema_doc_lists_every_table_and_column(
    schema_doc: str, db_conn: psycopg.Connection
) -> None:
    actual: dict[str, list[str]] = {}
    for table, column in db_conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns"
        " WHERE table_schema = 'public' ORDER BY table_name, ordinal_position"
    ):
        actual.setdefault(table, []).append(column)
    tables = section(schema_doc, "## Tables")
    documented = {
        t: [row[0] for row in all_tables_rows(section(tables, f"### `{t}`"))] for t in actual
    }
    assert documented == actual


def test_schema_doc_lists_every_index(schema_doc: str, db_conn: psycopg.Connection) -> None:
    actual = {
        r[0]: r[1]
        for r in db_conn.execute(
            "SELECT indexname, tablename FROM pg_indexes WHERE schemaname = 'public'"
        )
    }
    documented = {row[0]: row[1] for row in all_tables_rows(section(schema_doc, "## Indexes"))}
    assert documented == actual


def test_schema_doc_lists_every_policy(schema_doc: str, db_conn: psycopg.Connection) -> None:
    actual = {
        (r[0], r[1])
        for r in db_conn.execute(
            "SELECT p.polname, c.relname FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid"
        )
    }
    rows = all_tables_rows(section(schema_doc, "## Row-level security"))
    assert {(r[0], r[1]) for r in rows} == actual


def test_schema_doc_grants_match(schema_doc: str, db_conn: psycopg.Connection) -> None:
    actual = {
        (r[0], r[1], frozenset(r[2]))
        for r in db_conn.execute(
            "SELECT grantee, table_name, array_agg(privilege_type::text) FROM information_schema.role_table_grants"
            " WHERE table_schema = 'public' AND grantee IN ('bo1_app', 'bo1_service') GROUP BY 1, 2"
        )
    }
    rows = all_tables_rows(section(schema_doc, "## Roles and grants"))
    documented = {
        (r[0], r[1], frozenset(p.strip() for p in r[2].split(","))) for r in rows if len(r) == 3
    }
    assert documented == actual
    # Column privileges the role has without the table-wide one.
    columns = {
        (r[0], r[1], r[2], frozenset(r[3]))
        for r in db_conn.execute(
            "SELECT c.grantee, c.table_name, c.privilege_type, array_agg(c.column_name::text)"
            " FROM information_schema.column_privileges c"
            " WHERE c.table_schema = 'public' AND c.grantee IN ('bo1_app', 'bo1_service')"
            " AND NOT EXISTS (SELECT 1 FROM information_schema.role_table_grants t"
            "   WHERE t.grantee = c.grantee AND t.table_schema = c.table_schema"
            "   AND t.table_name = c.table_name AND t.privilege_type = c.privilege_type)"
            " GROUP BY 1, 2, 3"
        )
    }
    documented_columns = {
        (r[0], r[1], r[2], frozenset(c.strip() for c in r[3].split(",")))
        for r in rows
        if len(r) == 4 and r[2] in ("SELECT", "INSERT", "UPDATE", "DELETE")
    }
    assert documented_columns == columns


def test_deploying_doc_lists_every_setting_with_its_default() -> None:
    from infra.settings import PROJECT, StackSettings

    text = (DOCS / "DEPLOYING.md").read_text()
    documented = {row[0]: row[1] for row in all_tables_rows(section(text, "## Settings"))}
    defaults = {
        f"{PROJECT}:{field.alias}": field.get_default(call_default_factory=True)
        for name, field in StackSettings.model_fields.items()
        if name != "stack"
    }
    actual = {key: "(none)" if value is None else str(value) for key, value in defaults.items()}
    assert documented == actual


@pytest.mark.parametrize("name", [g.name for g in GENERATED])
def test_every_generated_file_matches_the_code_it_mirrors(name: str) -> None:
    generated = next(g for g in GENERATED if g.name == name)
    assert generated.path.read_text() == generated.render(), (
        f"{generated.path} is stale: run `bo1-infra docs --write`"
    )


def test_docs_command_checks_and_shows_the_generated_files() -> None:
    checked = run_cli("docs")
    assert checked.returncode == 0, checked.stdout
    assert [line.split(": ")[1] for line in checked.stdout.splitlines()] == ["up to date"] * len(
        GENERATED
    )
    shown = run_cli("docs", "--show", "env-example")
    assert shown.returncode == 0 and shown.stdout == paths.ENV_EXAMPLE.read_text()
    assert_one_line_error(run_cli("docs", "--show", "nope"), "'nope'", "env, env-example")


def test_env_example_lists_every_variable_without_a_secret() -> None:
    from bootstrap.appenv.model import VARIABLES

    values = read_env(paths.ENV_EXAMPLE)
    assert set(values) == {v.name for v in VARIABLES}
    for var in VARIABLES:
        if var.secret_key:
            assert values[var.name] == "", var.name  # an API key is never an example
        elif var.default is not None:
            assert values[var.name] == var.default


def test_every_catalogue_secret_and_app_variable_is_in_the_environment_doc() -> None:
    from bootstrap.appenv.model import VARIABLES
    from bootstrap.stack_secrets.catalogue import load

    text = (DOCS / "ENVIRONMENT_VARIABLES.md").read_text()
    for var in VARIABLES:
        assert f"| `{var.name}` |" in text
    for spec in load().secrets:
        assert f"| `{spec.env}` |" in text


def test_every_pulumi_command_in_the_docs_works_in_a_fresh_shell() -> None:
    """A bare `pulumi ...` acts on whatever backend and stack the shell has: the docs use
    scripts/pulumi.sh (or up.sh), which set this project's."""
    import re

    for path in [paths.ROOT / "README.md", *sorted(DOCS.glob("*.md"))]:
        blocks = re.findall(r"```(?:sh|bash)?\n(.*?)```", path.read_text(), re.S)
        for line in "\n".join(blocks).splitlines():
            assert not re.match(r"\s*(\w+=\S+\s+)*pulumi\s", line), (path.name, line)
