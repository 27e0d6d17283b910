"""Docs that mirror code are checked against it, so they cannot drift."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from tests.support.markdown import all_tables_rows, section

DOCS = Path(__file__).resolve().parents[1] / "docs"


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


def test_deploying_doc_lists_every_setting_with_its_default() -> None:
    from infra.settings import PROJECT, StackSettings

    text = (DOCS / "DEPLOYING.md").read_text()
    documented = {row[0]: row[1] for row in all_tables_rows(section(text, "## Settings"))}
    actual = {
        f"{PROJECT}:{field.alias}": str(field.get_default(call_default_factory=True))
        for name, field in StackSettings.model_fields.items()
        if name != "stack"
    }
    assert documented == actual


def test_environment_variables_doc_is_generated_from_the_models() -> None:
    from bootstrap.docs import render_env_doc

    assert (DOCS / "ENVIRONMENT_VARIABLES.md").read_text() == render_env_doc(), (
        "docs/ENVIRONMENT_VARIABLES.md is stale: run `bo1-infra docs env --write`"
    )


def test_every_catalogue_secret_and_app_variable_is_in_the_environment_doc() -> None:
    from bootstrap.app_env import VARIABLES
    from bootstrap.secret_catalogue import load

    text = (DOCS / "ENVIRONMENT_VARIABLES.md").read_text()
    for var in VARIABLES:
        assert f"| `{var.name}` |" in text
    for spec in load().secrets:
        assert f"| `{spec.env}` |" in text


def test_redis_key_patterns_doc_is_generated_from_the_registry() -> None:
    from bootstrap.docs import render_redis_keys_doc

    assert (DOCS / "REDIS_KEY_PATTERNS.md").read_text() == render_redis_keys_doc(), (
        "docs/REDIS_KEY_PATTERNS.md is stale: run `bo1-infra docs redis-keys --write`"
    )


def test_redis_key_patterns_doc_covers_every_pattern() -> None:
    from bootstrap.redis_keys import PATTERNS

    text = (DOCS / "REDIS_KEY_PATTERNS.md").read_text()
    rows = all_tables_rows(section(text, "## Patterns"))
    assert [(r[0], r[1]) for r in rows] == [(p.glob, p.template) for p in PATTERNS]
