"""A long-running service container from a ContainerSpec: its image, data volume and container."""

from __future__ import annotations

from collections.abc import Mapping

import pulumi
import pulumi_docker as docker

from infra.specs.model import ContainerSpec, File, PortBinding, SecretFile
from infra.specs.readback import go_duration


class ContainerService(pulumi.ComponentResource):
    container_name: str
    image: docker.RemoteImage
    volume: docker.Volume | None
    container: docker.Container

    def __init__(
        self,
        name: str,
        spec: ContainerSpec,
        network: docker.Network | None,
        secrets: Mapping[str, pulumi.Output[str]],
        *,
        retain_data: bool,
        shared: Mapping[str, docker.Volume] | None = None,
        built: pulumi.Resource | None = None,
        depends_on: list[pulumi.Resource] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """``shared``: the program's shared volumes by name, for ``spec.mounts``;
        ``built``: the build of ``spec.image`` when the program builds it."""
        super().__init__("bo1:infra:ContainerService", name, None, opts)
        self.container_name = spec.name
        labels = [docker.VolumeLabelArgs(label=k, value=v) for k, v in spec.labels.items()]
        self.image = docker.RemoteImage(
            f"{name}-image",
            name=spec.image,
            keep_locally=True,  # another stack on the host may use it
            opts=pulumi.ResourceOptions(parent=self, depends_on=[built] if built else None),
        )
        self.volume = None
        mounts: list[docker.ContainerVolumeArgs] = []
        if spec.volume_name is not None:
            self.volume = docker.Volume(
                f"{name}-data",
                name=spec.volume_name,
                labels=labels,
                # retain_on_delete: `pulumi destroy` forgets the volume but Docker keeps it,
                # so prod data survives a destroy and a later `up` finds it again.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=retain_data),
            )
            mounts.append(
                docker.ContainerVolumeArgs(
                    volume_name=self.volume.name, container_path=spec.data_path
                )
            )
        for mount in spec.mounts:
            volume = (shared or {})[mount.volume_name]  # its name is an Output: a dependency
            mounts.append(
                docker.ContainerVolumeArgs(
                    volume_name=volume.name, container_path=mount.container_path
                )
            )
        self.container = docker.Container(
            name,
            name=spec.name,
            # image_id, not the tag: an `up` with nothing changed replaces nothing.
            image=self.image.image_id,
            command=list(spec.command),
            envs=[f"{k}={v}" for k, v in spec.env.items()],
            uploads=[_upload(f, secrets) for f in spec.files],
            ports=_ports(spec.port),
            network_mode="host" if spec.host_network else None,
            # Durations as the provider reads them back (Go's Duration.String()), so a
            # second `up` sees no change: see infra/specs/readback.py.
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=list(spec.healthcheck.test),
                interval=go_duration(spec.healthcheck.interval_s),
                timeout=go_duration(spec.healthcheck.timeout_s),
                retries=spec.healthcheck.retries,
                start_period=go_duration(spec.healthcheck.start_period_s),
            ),
            wait=True,  # on create, wait until the healthcheck passes
            wait_timeout=spec.healthcheck.start_period_s + 60,
            must_run=True,
            restart="unless-stopped",
            stop_timeout=spec.stop_grace_s,
            destroy_grace_seconds=spec.stop_grace_s,
            memory=spec.memory_mb,
            memory_swap=spec.memory_mb,  # unset, Docker would store twice the memory
            shm_size=spec.shm_size_mb,
            log_driver=spec.logs.driver,
            log_opts={"max-size": spec.logs.max_size, "max-file": str(spec.logs.max_files)},
            volumes=mounts,
            init=spec.init or None,
            user=spec.user,
            stop_signal=spec.stop_signal,
            ulimits=_open_files(spec.open_files),
            networks_advanced=(
                [docker.ContainerNetworksAdvancedArgs(name=network.name, aliases=[spec.alias])]
                if network is not None
                else None
            ),
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in spec.labels.items()],
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=depends_on,
                delete_before_replace=True,
                # The provider accepts a healthcheck change but never applies it to the
                # container: replace it instead, or the change would only be in state.
                replace_on_changes=["healthcheck"],
            ),
        )
        self.register_outputs(
            {
                "containerName": self.container.name,
                "imageId": self.image.image_id,
                "volumeName": self.volume.name if self.volume else None,
            }
        )


def _open_files(limit: int | None) -> list[docker.ContainerUlimitArgs] | None:
    if limit is None:
        return None
    return [docker.ContainerUlimitArgs(name="nofile", soft=limit, hard=limit)]


def _ports(port: PortBinding | None) -> list[docker.ContainerPortArgs]:
    if port is None:
        return []
    return [
        docker.ContainerPortArgs(
            internal=port.internal, external=port.external, ip=port.host_ip, protocol="tcp"
        )
    ]


def _upload(
    file: File | SecretFile, secrets: Mapping[str, pulumi.Output[str]]
) -> docker.ContainerUploadArgs:
    if isinstance(file, File):
        return docker.ContainerUploadArgs(
            file=file.path, content=file.content, permissions=file.mode
        )
    values = pulumi.Output.all(**{key: secrets[key] for key in file.secrets})
    rendered: pulumi.Output[str] = values.apply(file.render)
    content: pulumi.Output[str] = pulumi.Output.secret(rendered)
    return docker.ContainerUploadArgs(file=file.path, content=content, permissions=file.mode)
