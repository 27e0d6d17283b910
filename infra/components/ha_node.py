"""One Docker host of an ``ha`` stack: its own provider, the images built there, and the
containers infra/specs/ha.py renders for it."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_docker as docker

from infra.components.container_service import ContainerService
from infra.components.stack_image import StackImage
from infra.settings import HaNodeSetting, StackSettings
from infra.specs import ha, postgres_server
from infra.specs.image import ha_image_build, image_build


class HaNode(pulumi.ComponentResource):
    provider: docker.Provider
    services: dict[str, ContainerService]

    def __init__(
        self,
        name: str,
        settings: StackSettings,
        node: HaNodeSetting,
        secrets: Mapping[str, pulumi.Output[str]],
        after: Mapping[str, ContainerService] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``after``: the services of the nodes before this one, by alias (the last of
        each): this node's same service waits for that one (ha.ROLLING)."""
        super().__init__("bo1:infra:HaNode", name, None, opts)
        after = after or {}
        # Its own engine: every resource below is created on this node's Docker host.
        self.provider = docker.Provider(
            f"{name}-docker",
            host=node.docker_host,
            ssh_opts=node.ssh_opts or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        on_node = pulumi.ResourceOptions(parent=self, providers={"docker": self.provider})
        base = StackImage(f"{name}-image", image_build(settings), on_node)
        image = StackImage(
            f"{name}-ha-image",
            ha_image_build(settings),
            pulumi.ResourceOptions.merge(on_node, pulumi.ResourceOptions(depends_on=[base])),
        )
        socket_name = postgres_server.socket_volume(settings)
        socket = docker.Volume(
            f"{name}-pgsocket",
            name=socket_name,
            labels=[docker.VolumeLabelArgs(label="com.bo1.stack", value=settings.stack)],
            opts=on_node,
        )
        self.services = {}
        shared: dict[str, docker.Volume] = {socket_name: socket}
        for spec in ha.node_containers(settings, node):
            previous = after.get(spec.alias) if spec.alias in ha.ROLLING else None
            waits: list[pulumi.Resource] = [previous.container] if previous else []
            if spec.alias in ha.AFTER_OWN_ETCD:  # its etcd answering (a majority) first
                waits.append(self.services["etcd"].container)
            service = ContainerService(
                spec.name,
                spec,
                None,
                secrets,
                retain_data=settings.protect_data,
                shared=dict(shared),
                built=image.image if spec.image == image.tag else None,
                depends_on=waits or None,
                opts=on_node,
            )
            self.services[spec.alias] = service
            if spec.volume_name and service.volume is not None:
                shared[spec.volume_name] = service.volume  # e.g. Patroni's, for pgBackRest
        self.register_outputs({"containers": [s.container.name for s in self.services.values()]})
