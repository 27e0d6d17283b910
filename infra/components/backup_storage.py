"""What backups need before Postgres starts: the image with pgBackRest and the shared volumes."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.settings import StackSettings
from infra.specs import backup


class BackupStorage(pulumi.ComponentResource):
    image: docker.Image
    volumes: dict[str, docker.Volume]  # by Docker name: the repository and the socket

    def __init__(
        self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bo1:infra:BackupStorage", name, None, opts)
        build = backup.image_build(settings)
        self.image = docker.Image(
            f"{name}-image",
            image_name=build.tag,
            build=docker.DockerBuildArgs(
                context=build.context, dockerfile=build.dockerfile, args=dict(build.args)
            ),
            skip_push=True,  # built on the stack's Docker host, used there
            opts=pulumi.ResourceOptions(parent=self),
        )
        labels = [docker.VolumeLabelArgs(label="com.bo1.stack", value=settings.stack)]
        self.volumes = {}
        for volume_name, retain in (
            # The repository outlives a `pulumi destroy` wherever the data does.
            (backup.repo_volume(settings), settings.protect_data),
            (backup.socket_volume(settings), False),
        ):
            self.volumes[volume_name] = docker.Volume(
                volume_name,
                name=volume_name,
                labels=labels,
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=retain),
            )
        self.register_outputs(
            {
                "image": self.image.image_name,
                "volumes": [v.name for v in self.volumes.values()],
            }
        )
