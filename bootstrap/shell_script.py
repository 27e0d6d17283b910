"""Shell scripts shipped with bo1-infra, rendered for a container: the script's settings
become assignments right under its shebang (pure)."""

from __future__ import annotations

import shlex
from pathlib import Path


def render(path: Path, settings: dict[str, str | int]) -> str:
    body = path.read_text()
    shebang, _, rest = body.partition("\n")
    assigned = [f"{key}={shlex.quote(str(value))}" for key, value in settings.items()]
    return "\n".join([shebang, "# rendered by bo1-infra (do not edit)", *assigned, rest])
