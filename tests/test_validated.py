"""Validation once per content: identical files skip pydantic, changed or bad files never do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from bootstrap.errors import PersonaFileError
from bootstrap.paths import PERSONAS_FILE
from bootstrap.personas.catalogue import load

LOAD_BOTH = (
    "import sys, json\n"
    "from pathlib import Path\n"
    "from bootstrap.personas.catalogue import load\n"
    "from bootstrap.stack_secrets.catalogue import load as load_catalogue\n"
    "personas = load(Path(sys.argv[1]))\n"
    "load_catalogue()\n"
    "print(json.dumps({'count': len(personas), 'pydantic': 'pydantic' in sys.modules}))\n"
)


def load_in_fresh_process(path: Path, cache: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", LOAD_BOTH, str(path)],
        env={"BO1_CACHE_DIR": str(cache), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return dict(json.loads(out))


def test_second_load_of_the_same_content_does_not_import_pydantic(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    assert load_in_fresh_process(PERSONAS_FILE, cache) == {"count": 45, "pydantic": True}
    assert load_in_fresh_process(PERSONAS_FILE, cache) == {"count": 45, "pydantic": False}


def test_changed_content_is_validated_again(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    copy = tmp_path / "personas.json"
    data = json.loads(PERSONAS_FILE.read_text())
    copy.write_text(json.dumps(data))
    load_in_fresh_process(copy, cache)
    del data["personas"][0]
    copy.write_text(json.dumps(data))
    assert load_in_fresh_process(copy, cache) == {"count": 44, "pydantic": True}


def test_a_bad_file_is_never_cached(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BO1_CACHE_DIR", str(tmp_path / "cache"))
    bad = tmp_path / "personas.json"
    data = json.loads(PERSONAS_FILE.read_text())
    data["personas"][3]["expertise"] = "x" * 501
    bad.write_text(json.dumps(data))
    for _ in range(2):
        with pytest.raises(PersonaFileError, match="at most 500"):
            load(bad)
    assert not any((tmp_path / "cache").glob("*.json"))


def test_cache_hit_gives_exactly_the_validated_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BO1_CACHE_DIR", str(tmp_path / "cache"))
    first, second = load(), load()
    assert first == second and len(list((tmp_path / "cache").glob("personas.json.*.json"))) == 1


def test_an_unwritable_cache_only_costs_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    monkeypatch.setenv("BO1_CACHE_DIR", str(blocker / "cache"))
    assert len(load()) == 45


@pytest.mark.parametrize(
    ("record", "model"),
    [
        ("bootstrap.personas.catalogue:Persona", "bootstrap.personas.schema:Persona"),
        (
            "bootstrap.stack_secrets.catalogue:SecretSpec",
            "bootstrap.stack_secrets.schema:SecretSpec",
        ),
    ],
)
def test_plain_records_and_their_schema_declare_the_same_fields(record: str, model: str) -> None:
    """The cached path builds plain records from validated dicts: their fields must agree."""
    import dataclasses
    import importlib

    def find(ref: str) -> Any:
        module, name = ref.split(":")
        return getattr(importlib.import_module(module), name)

    plain = {f.name: f.default for f in dataclasses.fields(find(record))}
    schema = {n: f.default for n, f in find(model).model_fields.items()}
    assert plain.keys() == schema.keys()
    for name, default in plain.items():
        if default is not dataclasses.MISSING:
            same = list(default) if isinstance(default, tuple) else default
            assert schema[name] == same, name
