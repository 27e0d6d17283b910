"""Read the tables out of our markdown docs, so tests can check them against code."""

from __future__ import annotations

import re


def section(text: str, heading: str) -> str:
    """The body under ``heading`` (e.g. '## Indexes'), up to the next heading of that level or higher."""
    level = len(heading) - len(heading.lstrip("#"))
    match = re.search(rf"^{re.escape(heading)}\s*$", text, re.M)
    assert match, f"no {heading!r} heading"
    rest = text[match.end() :]
    end = re.search(rf"^#{{1,{level}}} ", rest, re.M)
    return rest[: end.start()] if end else rest


def table_rows(text: str) -> list[list[str]]:
    """Cells of every markdown table row in ``text``, header and separator rows excluded."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|") or re.match(r"^\|[\s:|-]+\|$", line):
            continue
        rows.append([cell.strip().strip("`") for cell in line.strip("|").split("|")])
    return [r for r in rows[1:] if r] if rows else []


def all_tables_rows(text: str) -> list[list[str]]:
    """Rows of every table in ``text``; each table's header row is dropped."""
    out: list[list[str]] = []
    for block in re.split(r"\n\s*\n", text):
        out += table_rows(block)
    return out
