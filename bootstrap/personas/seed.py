"""Seed the persona catalogue: upsert by code in one transaction, never delete history.

``plan`` is pure: from the file, the current rows and which of them are
referenced, it decides every change. ``apply`` reads that state under a lock,
then executes exactly the plan, so a dry run reports what a real run does.

A persona that left the file is deleted when nothing references it, and
deactivated (``is_active = false``) when contributions or votes do. The seed
must run as a role that sees every tenant's rows (the superuser or
bo1_service); under RLS it would miss references.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import psycopg

from bootstrap.errors import Bo1Error

if TYPE_CHECKING:
    from bootstrap.personas.catalogue import Persona

FIELDS = ("name", "category", "expertise", "system_prompt", "is_active")


@dataclass(frozen=True)
class Change:
    code: str
    fields: tuple[str, ...] = ()


@dataclass
class SeedPlan:
    insert: list[Persona] = field(default_factory=list)
    update: list[tuple[Persona, Change]] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    deactivate: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)

    @property
    def changes(self) -> int:
        return len(self.insert) + len(self.update) + len(self.deactivate) + len(self.remove)

    def summary(self) -> str:
        counts = (
            f"{len(self.insert)} inserted, {len(self.update)} updated, "
            f"{len(self.unchanged)} unchanged, {len(self.deactivate)} deactivated, "
            f"{len(self.remove)} removed"
        )
        return f"Personas: {counts}" + ("; nothing changed." if not self.changes else ".")

    def details(self) -> list[str]:
        return (
            [f"  + {p.code}" for p in self.insert]
            + [f"  ~ {c.code} ({', '.join(c.fields)})" for _, c in self.update]
            + [
                f"  - {code} (deactivated: contributions or votes reference it)"
                for code in self.deactivate
            ]
            + [f"  - {code} (removed)" for code in self.remove]
        )


def plan(
    personas: list[Persona], existing: dict[str, dict[str, object]], referenced: set[str]
) -> SeedPlan:
    """Decide every change. ``existing`` maps code to its current FIELDS values."""
    result = SeedPlan()
    for persona in personas:
        row = existing.get(persona.code)
        if row is None:
            result.insert.append(persona)
            continue
        changed = tuple(f for f in FIELDS if getattr(persona, f) != row[f])
        if changed:
            result.update.append((persona, Change(persona.code, changed)))
        else:
            result.unchanged.append(persona.code)
    in_file = {p.code for p in personas}
    for code, row in sorted(existing.items()):
        if code in in_file:
            continue
        if code not in referenced:
            result.remove.append(code)
        elif row["is_active"]:
            result.deactivate.append(code)
    return result


def apply(conn: psycopg.Connection, personas: list[Persona], *, dry_run: bool = False) -> SeedPlan:
    """Plan against the live table and, unless ``dry_run``, execute it in one transaction."""
    try:
        with conn.transaction(force_rollback=dry_run):
            # One seeder at a time; readers (the app) are not blocked.
            conn.execute("LOCK TABLE personas IN SHARE ROW EXCLUSIVE MODE")
            existing = _existing(conn)
            gone = [code for code in existing if code not in {p.code for p in personas}]
            the_plan = plan(personas, existing, _referenced(conn, gone))
            _execute(conn, the_plan)
    except psycopg.errors.InsufficientPrivilege as exc:
        raise Bo1Error(
            f"seeding personas as role {conn.info.user!r} is not permitted "
            f"({exc.diag.message_primary}); run it as the superuser or bo1_service"
        ) from None
    except psycopg.errors.UndefinedTable:
        raise Bo1Error("table personas does not exist; run `bo1-infra migrate up` first") from None
    except psycopg.errors.UndefinedColumn as exc:
        raise Bo1Error(f"{exc.diag.message_primary}; run `bo1-infra migrate up` first") from None
    return the_plan


def _existing(conn: psycopg.Connection) -> dict[str, dict[str, object]]:
    rows = conn.execute(f"SELECT code, {', '.join(FIELDS)} FROM personas").fetchall()
    return {row[0]: dict(zip(FIELDS, row[1:], strict=True)) for row in rows}


def _referenced(conn: psycopg.Connection, codes: list[str]) -> set[str]:
    if not codes:
        return set()
    rows = conn.execute(
        "SELECT p.code FROM personas p WHERE p.code = ANY(%s) AND ("
        " EXISTS (SELECT 1 FROM contributions c WHERE c.persona_code = p.code)"
        " OR EXISTS (SELECT 1 FROM votes v WHERE v.persona_code = p.code))",
        [codes],
    ).fetchall()
    return {row[0] for row in rows}


def _execute(conn: psycopg.Connection, the_plan: SeedPlan) -> None:
    with conn.cursor() as cur:
        if the_plan.insert:
            cur.executemany(
                f"INSERT INTO personas (code, {', '.join(FIELDS)})"
                f" VALUES (%s, {', '.join(['%s'] * len(FIELDS))})",
                [(p.code, *(getattr(p, f) for f in FIELDS)) for p in the_plan.insert],
            )
        if the_plan.update:
            cur.executemany(
                f"UPDATE personas SET {', '.join(f'{f} = %s' for f in FIELDS)} WHERE code = %s",
                [(*(getattr(p, f) for f in FIELDS), p.code) for p, _ in the_plan.update],
            )
        if the_plan.remove:
            cur.execute("DELETE FROM personas WHERE code = ANY(%s)", [the_plan.remove])
        if the_plan.deactivate:
            cur.execute(
                "UPDATE personas SET is_active = false WHERE code = ANY(%s)", [the_plan.deactivate]
            )
