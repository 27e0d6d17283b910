"""What backups need before Postgres starts: the repository's volume."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.settings import StackSettings
from infra.specs import backup


class BackupStorage(pulumi.ComponentResource):
    volumes: dict[str, docker.Volume]  # by Docker name: the repository

    def __init__(
        self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bo1:infra:BackupStorage", name, None, opts)
        labels = [docker.VolumeLabelArgs(label="com.bo1.stack", value=settings.stack)]
        self.volumes = {}
        volume_name = backup.repo_volume(settings)
        self.volumes[volume_name] = docker.Volume(
            volume_name,
            name=volume_name,
            labels=labels,
            # The repository outlives a `pulumi destroy` wherever the data does.
            opts=pulumi.ResourceOptions(parent=self, retain_on_delete=settings.protect_data),
        )
        self.register_outputs({"volumes": [v.name for v in self.volumes.values()]})
