"""The stack's own image, built on its Docker host (infra/specs/image.py says what is in it)."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.settings import StackSettings
from infra.specs.image import image_build


class StackImage(pulumi.ComponentResource):
    image: docker.Image
    tag: str

    def __init__(
        self, name: str, settings: StackSettings, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bo1:infra:StackImage", name, None, opts)
        build = image_build(settings)
        self.tag = build.tag
        self.image = docker.Image(
            f"{name}-build",
            image_name=build.tag,
            build=docker.DockerBuildArgs(
                context=build.context, dockerfile=build.dockerfile, args=dict(build.args)
            ),
            skip_push=True,  # built on the stack's Docker host, used there
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"image": self.image.image_name})
