"""The project root and every well-known file in it, named once.

bo1-infra is installed editable from its checkout (scripts/setup-venv.sh), so
the root is the folder above this package. Every other module asks here.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
ROOT = PACKAGE.parent

MIGRATIONS_DIR = ROOT / "sql" / "migrations"
PERSONAS_FILE = PACKAGE / "personas" / "personas.json"
SECRETS_DIR = ROOT / "secrets"
SECRET_CATALOGUE = SECRETS_DIR / "catalogue.toml"
ENV_EXAMPLE = SECRETS_DIR / ".env.example"
DOCS_DIR = ROOT / "docs"


def env_file(stack: str) -> Path:
    """Where bootstrap writes the app's env file for ``stack`` (gitignored, mode 0600)."""
    return SECRETS_DIR / f".env.{stack}"


def display(path: Path) -> str:
    """``path`` relative to the project root when it lies inside, for messages."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)
