"""``bo1-infra docs env``: docs/ENVIRONMENT_VARIABLES.md, generated from the models."""

from __future__ import annotations

import argparse
from pathlib import Path

from bootstrap.app_env import render_doc

ENV_DOC = Path(__file__).resolve().parents[1] / "docs" / "ENVIRONMENT_VARIABLES.md"


def env(args: argparse.Namespace) -> int:
    text = render_doc()
    if args.write:
        ENV_DOC.write_text(text)
        print(f"wrote {ENV_DOC}")
    else:
        print(text, end="")
    return 0
