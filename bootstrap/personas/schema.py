"""The pydantic model of the persona data file: validates the whole file before any write.

Two shapes are accepted: this project's (``{"personas": [...]}``) and Board of
One's own ``bo1/data/personas.json`` as it is (a top-level list with ``id``,
``archetype``, ``description``, ``traits``, ...), whose fields are mapped onto
ours: ``description`` (else ``archetype``) becomes ``expertise``, the others it
has are ignored. Imported only when a file's content has not been validated
before (see bootstrap/validated.py); the rest of the code uses plain ``Persona``
records.

Errors are one line naming the persona by position and code, and the field (wrapped here)::

    personas.json: personas[12] (code 'cfo_advisor'), field 'expertise':
    String should have at most 500 characters
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from bootstrap.errors import PersonaFileError

# The app owns its categories (tech, marketing, wellness, masked, meta, ...): any
# snake_case word the table's CHECK accepts.
Category = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]*$", max_length=50)]

# Prompts define how an expert thinks and argues: a name and one line is not a persona.
MIN_PROMPT_CHARS = 200
MIN_PROMPT_SENTENCES = 3
_SENTENCE_END = re.compile(r"[.!?](\s|$)")


class Persona(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    code: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*$", max_length=50)]
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    category: Category
    expertise: Annotated[str, StringConstraints(min_length=1, max_length=500)]
    system_prompt: Annotated[str, StringConstraints(min_length=MIN_PROMPT_CHARS, max_length=8000)]
    is_active: bool = True

    @field_validator("system_prompt")
    @classmethod
    def _has_substance(cls, prompt: str) -> str:
        sentences = len(_SENTENCE_END.findall(prompt))
        if sentences < MIN_PROMPT_SENTENCES:
            raise ValueError(
                f"needs at least {MIN_PROMPT_SENTENCES} sentences defining the expert's lens,"
                f" has {sentences}"
            )
        return prompt


class PersonaFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    personas: Annotated[list[Persona], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique_codes(self) -> PersonaFile:
        first_seen: dict[str, int] = {}
        for index, persona in enumerate(self.personas):
            if persona.code in first_seen:
                raise ValueError(
                    f"personas[{index}] (code {persona.code!r}), field 'code': duplicate code, "
                    f"already used by personas[{first_seen[persona.code]}]"
                )
            first_seen[persona.code] = index
        return self


def validate(raw: bytes, name: str) -> list[dict[str, Any]]:
    """Parse and validate the whole file; the normalized personas, or PersonaFileError."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise PersonaFileError(f"{name}: not UTF-8 text: {exc.reason}") from None
    except json.JSONDecodeError as exc:
        raise PersonaFileError(
            f"{name}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    if isinstance(data, list):
        data = {"personas": [_from_app_entry(entry) for entry in data]}
    try:
        return [p.model_dump() for p in PersonaFile.model_validate(data).personas]
    except ValidationError as exc:
        raise PersonaFileError(f"{name}: {_describe(exc, data)}") from None


# Board of One's own file: the fields our table has, by their names there.
_APP_FIELDS = ("code", "name", "category", "system_prompt", "is_active")


def _from_app_entry(entry: Any) -> Any:
    """One entry of the app's personas.json in our shape (anything else is left to fail)."""
    if not isinstance(entry, dict):
        return entry
    mapped = {field: entry[field] for field in _APP_FIELDS if field in entry}
    expertise = entry.get("description") or entry.get("archetype")
    if expertise is not None:
        mapped["expertise"] = expertise
    return mapped


def _describe(exc: ValidationError, raw: Any) -> str:
    problems = [_one(error, raw) for error in exc.errors()]
    more = f" (and {len(problems) - 3} more)" if len(problems) > 3 else ""
    return "; ".join(problems[:3]) + more


def _one(error: Any, raw: Any) -> str:
    loc = tuple(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    if len(loc) >= 2 and loc[0] == "personas" and isinstance(loc[1], int):
        index = loc[1]
        field = ".".join(str(part) for part in loc[2:]) or "entry"
        return f"personas[{index}] ({_code_of(raw, index)}), field {field!r}: {message}"
    if loc:
        return f"field {'.'.join(map(str, loc))!r}: {message}"
    if error["type"] == "model_type":
        return 'the file must be {"personas": [...]} or the app\'s own list of personas'
    return message  # whole-file checks already name the persona


def _code_of(raw: Any, index: int) -> str:
    try:
        code = raw["personas"][index]["code"]
    except (KeyError, IndexError, TypeError):
        return "no code"
    return f"code {code!r}" if isinstance(code, str) else "no code"
