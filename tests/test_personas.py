"""The persona catalogue: the shipped data, its validation, and idempotent seeding on real PostgreSQL."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bootstrap.paths import PERSONAS_FILE
from bootstrap.personas.catalogue import load
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.postgres_server import PostgresServer

NAMED = {
    "ai_architect": "Dr. Yuki Tanaka",
    "angel_investor": "James Park",
    "bi_strategist": "Emma Clark",
    "bootstrap_advisor": "Aisha Thompson",
    "community_builder": "Noor Al-Farsi",
}


def catalogue_json() -> dict[str, Any]:
    return json.loads(PERSONAS_FILE.read_text())


def write(tmp_path: Path, data: object, name: str = "personas.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def table_bytes(conn: psycopg.Connection) -> bytes:
    """The personas table exactly as stored, with each row's xmin (which changes on any rewrite)."""
    with conn.cursor().copy(
        "COPY (SELECT xmin::text::bigint, * FROM personas ORDER BY id) TO STDOUT"
    ) as copy:
        return b"".join(bytes(block) for block in copy)


@pytest.fixture
def seed_env(pg_server: PostgresServer, db: str) -> dict[str, str]:
    return pg_server.libpq_env(db)


@pytest.fixture
def seed(seed_env: dict[str, str]) -> Callable[..., Any]:
    def run(*args: str) -> Any:
        result = run_cli("seed", "personas", *args, env=seed_env)
        assert result.returncode == 0, result.stderr
        return result

    return run


# -- the shipped data ---------------------------------------------------------------


def test_the_file_has_45_valid_personas_with_the_named_five() -> None:
    personas = load()
    assert len(personas) == 45
    by_code = {p.code: p for p in personas}
    for code, name in NAMED.items():
        assert by_code[code].name == name


def test_the_catalogue_carries_the_apps_codes_names_and_categories() -> None:
    """Board of One's foreign keys and UI depend on these identifiers; prompts are our own."""
    app = json.loads((Path(__file__).parent / "fixtures" / "app_persona_ids.json").read_text())
    ours = [(p.code, p.name, p.category) for p in load()]
    assert sorted(ours) == sorted((p["code"], p["name"], p["category"]) for p in app["personas"])


def test_every_prompt_has_substance_and_is_its_own() -> None:
    personas = load()
    for p in personas:
        assert len(p.system_prompt) >= 300, p.code
        assert len(re.findall(r"[.!?](\s|$)", p.system_prompt)) >= 4, p.code
        assert p.name.split()[-1] in p.system_prompt, p.code  # the prompt introduces this persona
    assert len({p.system_prompt for p in personas}) == 45
    assert len({p.name for p in personas}) == 45


# -- seeding ---------------------------------------------------------------------


def test_seed_inserts_all_45(seed: Callable[..., Any], db_conn: psycopg.Connection) -> None:
    out = seed().stdout
    assert "Personas: 45 inserted, 0 updated, 0 unchanged, 0 deactivated, 0 removed." in out
    assert db_conn.execute("SELECT count(*) FROM personas WHERE is_active").fetchone() == (45,)
    names = dict(
        db_conn.execute(
            "SELECT code, name FROM personas WHERE code = ANY(%s)", [list(NAMED)]
        ).fetchall()
    )
    assert names == NAMED


def test_seeding_twice_changes_nothing(
    seed: Callable[..., Any], db_conn: psycopg.Connection
) -> None:
    seed()
    before = table_bytes(db_conn)
    out = seed().stdout
    assert (
        out.strip()
        == "Personas: 0 inserted, 0 updated, 45 unchanged, 0 deactivated, 0 removed; nothing changed."
    )
    assert table_bytes(db_conn) == before  # same rows, same created_at, not even rewritten


def test_editing_one_prompt_updates_exactly_that_row(
    seed: Callable[..., Any], db_conn: psycopg.Connection, tmp_path: Path
) -> None:
    seed()
    before = dict(
        db_conn.execute(
            "SELECT code, (xmin::text, system_prompt, created_at, updated_at) FROM personas"
        ).fetchall()
    )
    data = catalogue_json()
    data["personas"][7]["system_prompt"] += " You always end with one question for the founder."
    code = data["personas"][7]["code"]
    out = seed("--file", str(write(tmp_path, data))).stdout
    assert f"~ {code} (system_prompt)" in out
    assert "0 inserted, 1 updated, 44 unchanged" in out
    after = dict(
        db_conn.execute(
            "SELECT code, (xmin::text, system_prompt, created_at, updated_at) FROM personas"
        ).fetchall()
    )
    changed = {c for c in after if after[c] != before[c]}
    assert changed == {code}
    assert after[code][2] == before[code][2]  # created_at kept
    assert after[code][3] > before[code][3]  # updated_at moved


def test_removed_persona_that_is_referenced_is_deactivated_not_deleted(
    seed: Callable[..., Any], db_conn: psycopg.Connection, tmp_path: Path
) -> None:
    seed()
    db_conn.execute(
        "INSERT INTO users (id, email, auth_provider) VALUES ('u1', 'u1@x.io', 'email')"
    )
    db_conn.execute(
        "INSERT INTO sessions (id, user_id, problem_statement) VALUES ('s1', 'u1', 'p')"
    )
    db_conn.execute(
        "INSERT INTO contributions (session_id, persona_code, content, round_number) VALUES ('s1', 'devils_advocate', 'but what if', 1)"
    )
    db_conn.execute(
        "INSERT INTO votes (session_id, persona_code, vote_choice) VALUES ('s1', 'synthesist', 'go')"
    )
    data = catalogue_json()
    data["personas"] = [
        p
        for p in data["personas"]
        if p["code"] not in {"devils_advocate", "synthesist", "web_researcher"}
    ]
    out = seed("--file", str(write(tmp_path, data))).stdout
    assert "0 inserted, 0 updated, 42 unchanged, 2 deactivated, 1 removed." in out
    rows = dict(
        db_conn.execute(
            "SELECT code, is_active FROM personas WHERE code IN ('devils_advocate', 'synthesist', 'web_researcher')"
        )
    )
    assert rows == {"devils_advocate": False, "synthesist": False}
    assert db_conn.execute("SELECT persona_code, content FROM contributions").fetchall() == [
        ("devils_advocate", "but what if")
    ]
    assert db_conn.execute("SELECT count(*) FROM votes").fetchone() == (1,)
    # Back in the file: reactivated.
    out = seed().stdout
    assert "1 inserted, 2 updated, 42 unchanged" in out
    assert db_conn.execute("SELECT count(*) FROM personas WHERE is_active").fetchone() == (45,)


def test_dry_run_reports_the_real_plan_and_writes_nothing(
    seed: Callable[..., Any], db_conn: psycopg.Connection, tmp_path: Path
) -> None:
    seed()
    data = catalogue_json()
    data["personas"][0]["name"] = "Dr. Helen Brooks-Ward"
    del data["personas"][1]
    path = write(tmp_path, data)
    before = table_bytes(db_conn)
    dry = seed("--file", str(path), "--dry-run").stdout
    assert table_bytes(db_conn) == before
    real = seed("--file", str(path)).stdout
    assert dry.replace("[dry run] ", "") == real


# -- bad files: one clear line naming persona and field, table untouched ------------------


def code_at(index: int) -> str:
    return str(catalogue_json()["personas"][index]["code"])


def _break(mutate: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    data = catalogue_json()
    mutate(data)
    return data


BAD_FILES: dict[str, tuple[Callable[[], object], tuple[str, ...]]] = {
    "duplicate code": (
        lambda: _break(lambda d: d["personas"][9].update(code=d["personas"][2]["code"])),
        ("personas[9]", "field 'code'", "duplicate code", "personas[2]"),
    ),
    "missing field": (
        lambda: _break(lambda d: d["personas"][4].pop("expertise")),
        (f"personas[4] (code '{code_at(4)}')", "field 'expertise'", "Field required"),
    ),
    "over-long expertise": (
        lambda: _break(lambda d: d["personas"][5].update(expertise="x" * 501)),
        (f"personas[5] (code '{code_at(5)}')", "field 'expertise'", "at most 500"),
    ),
    "over-long code": (
        lambda: _break(lambda d: d["personas"][6].update(code="a" * 51)),
        ("personas[6]", "field 'code'", "at most 50"),
    ),
    "code not snake_case": (
        lambda: _break(lambda d: d["personas"][6].update(code="Bad-Code")),
        ("personas[6] (code 'Bad-Code')", "field 'code'"),
    ),
    "thin prompt": (
        lambda: _break(lambda d: d["personas"][3].update(system_prompt="You are an expert. " * 3)),
        ("personas[3]", "field 'system_prompt'"),
    ),
    "category not snake_case": (
        lambda: _break(lambda d: d["personas"][0].update(category="Astrology & Stars")),
        (f"personas[0] (code '{code_at(0)}')", "field 'category'"),
    ),
    "unknown field": (
        lambda: _break(lambda d: d["personas"][1].update(colour="blue")),
        ("personas[1]", "field 'colour'", "Extra inputs"),
    ),
    "invalid JSON": (
        lambda: PERSONAS_FILE.read_text().replace(
            '"code": "growth_hacker",', '"code": "growth_hacker"', 1
        ),
        ("invalid JSON at line", "column"),
    ),
    "not personas": (lambda: "[1, 2, 3]", ("personas[0] (no code)", "valid dictionary")),
    "neither shape": (lambda: '"personas"', ("personas.json", "or the app's own list")),
    "empty list": (lambda: {"personas": []}, ("field 'personas'", "at least 1")),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_bad_file_is_rejected_and_nothing_is_written(
    kind: str,
    seed_env: dict[str, str],
    seed: Callable[..., Any],
    db_conn: psycopg.Connection,
    tmp_path: Path,
) -> None:
    seed()
    db_conn.execute("UPDATE personas SET name = name || ' (edited)' WHERE code = 'cto_advisor'")
    before = table_bytes(db_conn)
    make, needles = BAD_FILES[kind]
    result = run_cli("seed", "personas", "--file", str(write(tmp_path, make())), env=seed_env)
    assert_one_line_error(result, *needles)
    assert table_bytes(db_conn) == before


def test_missing_file(seed_env: dict[str, str], tmp_path: Path) -> None:
    assert_one_line_error(
        run_cli("seed", "personas", "--file", str(tmp_path / "nope.json"), env=seed_env),
        "cannot read",
    )


def test_seed_before_migrations_says_what_to_do(pg_server: PostgresServer, empty_db: str) -> None:
    result = run_cli("seed", "personas", env=pg_server.libpq_env(empty_db))
    assert_one_line_error(result, "migrate up")


def test_app_role_may_not_seed(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    env = {**pg_server.libpq_env(db), "PGUSER": "bo1_app", "PGPASSWORD": role_passwords["bo1_app"]}
    result = run_cli("seed", "personas", env=env)
    assert_one_line_error(result, "'bo1_app'", "not permitted")
    assert role_passwords["bo1_app"] not in result.stderr + result.stdout


# -- the application's own personas.json, as it is -----------------------------------------


def app_format(data: dict[str, Any]) -> list[dict[str, Any]]:
    """Our catalogue in the shape of Board of One's bo1/data/personas.json (every field it has)."""
    return [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, p["code"])),
            "code": p["code"],
            "name": p["name"],
            "archetype": p["name"].split()[-1] + " archetype",
            "category": p["category"],
            "description": p["expertise"],
            "emoji": "🧭",
            "color_hex": "#EF4444",
            "traits": json.dumps({"analytical": 0.7, "creative": 0.5}),
            "default_weight": 0.9,
            "temperature": 0.85,
            "system_prompt": p["system_prompt"],
            "response_style": "technical",
            "is_active": True,
            "persona_type": "standard",
            "is_visible": True,
            "display_name": p["name"].split()[0],
            "domain_expertise": "{technical,strategic}",
        }
        for p in data["personas"]
    ]


def test_the_apps_own_file_seeds_as_is_and_a_second_run_changes_nothing(
    seed: Callable[..., Any], db_conn: psycopg.Connection, tmp_path: Path
) -> None:
    path = write(tmp_path, app_format(catalogue_json()), name="app-personas.json")
    first = seed("--file", str(path)).stdout
    assert "45 inserted" in first
    again = seed("--file", str(path)).stdout
    assert again.strip().endswith("45 unchanged, 0 deactivated, 0 removed; nothing changed.")
    # The same table as from our own file: description became expertise.
    assert seed().stdout.strip().endswith("nothing changed.")


def test_an_app_file_entry_without_a_code_is_named(
    seed_env: dict[str, str], tmp_path: Path
) -> None:
    entries = app_format(catalogue_json())
    del entries[3]["code"]
    result = run_cli("seed", "personas", "--file", str(write(tmp_path, entries)), env=seed_env)
    assert_one_line_error(result, "personas[3] (no code)", "field 'code'", "Field required")
