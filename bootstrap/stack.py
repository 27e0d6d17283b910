"""A stack's declared settings, read from its ``Pulumi.<stack>.yaml``.

verify, status and redis-cleanup compare the live services with what the stack
declares (Redis line and limits, extra key families) rather than with constants.
The settings model is the Pulumi program's own (``infra.settings``: pydantic, no
pulumi import), so both sides read one definition; importing it costs pydantic,
which only these verbs pay.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from infra.settings import StackSettings


def stack_settings(stack: str) -> StackSettings:
    """The settings ``Pulumi.<stack>.yaml`` declares, validated as the program validates them."""
    from bootstrap.stack_secrets import catalogue
    from infra.settings import load_stack

    return load_stack(stack, {s.key for s in catalogue.load().secrets})
