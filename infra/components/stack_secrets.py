"""Every secret of the catalogue as a secret Output: from stack config, or generated once."""

from __future__ import annotations

import pulumi
import pulumi_random as random

from bootstrap.stack_secrets.catalogue import Catalogue


def missing_required(catalogue: Catalogue, config: pulumi.Config, stack: str) -> list[str]:
    """Required secrets the stack has not set, all of them, so one run reports every one."""
    return [
        s.key
        for s in catalogue.secrets
        if s.required_in(stack) and config.get_secret(s.key) is None
    ]


class StackSecrets(pulumi.ComponentResource):
    values: dict[str, pulumi.Output[str]]

    def __init__(
        self,
        name: str,
        catalogue: Catalogue,
        config: pulumi.Config,
        topology: str,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("bo1:infra:StackSecrets", name, None, opts)
        self.values = {}
        for spec in (s for s in catalogue.secrets if s.applies_to(topology)):
            given = config.get_secret(spec.key)
            if given is not None:
                self.values[spec.key] = pulumi.Output.secret(given)
                continue
            if spec.kind != "generated":
                # Optional on this stack (missing_required let it through): empty, and
                # bootstrap warns that the app will miss it.
                self.values[spec.key] = pulumi.Output.secret("")
                continue
            # Generated once and kept in state: stable across `up`s, rotated only by
            # setting the key (or replacing this resource).
            password = random.RandomPassword(
                f"{name}-{spec.key}",
                length=spec.length,
                special=False,  # safe in URLs, ACL files and shells without quoting
                opts=pulumi.ResourceOptions(parent=self),
            )
            self.values[spec.key] = pulumi.Output.secret(password.result)
        self.register_outputs({"keys": sorted(self.values)})
