"""An image the program builds on a Docker host (infra/specs/image.py says what is in each)."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from infra.specs.image import ImageBuild


class StackImage(pulumi.ComponentResource):
    image: docker.Image
    tag: str

    def __init__(
        self, name: str, build: ImageBuild, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("bo1:infra:StackImage", name, None, opts)
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
