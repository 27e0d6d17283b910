"""The stack's Docker host: every ``docker:*`` setting, given to the explicit provider.

An explicit ``docker.Provider`` reads no ``docker:*`` stack config by itself, so a
setting left out here would be silently ignored (``docker:sshOpts``,
``docker:certPath``, ...). Every key pulumi-docker's provider takes is passed on;
an unknown ``docker:*`` key stops the run, like an unknown ``bo1-infra:*`` key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from bootstrap.errors import Bo1Error
from bootstrap.remote.route import string_list

# The provider's configuration keys (pulumi-docker 5.x), and which carry secrets.
PLAIN = ("host", "sshOpts", "certPath", "caMaterial", "certMaterial", "context",
         "disableDockerDaemonCheck")  # fmt: skip
SECRET = ("keyMaterial", "registryAuth")


@dataclass(frozen=True)
class DockerHost:
    """Where the stack's containers run, as bootstrap needs to reach them."""

    host: str | None  # unix:///..., tcp://host:2376, ssh://user@host[:port], or None (local)
    ssh_opts: tuple[str, ...]


def check_keys(config: Mapping[str, str]) -> None:
    unknown = sorted(
        key for key in config if key.startswith("docker:") and key[7:] not in (*PLAIN, *SECRET)
    )
    if unknown:
        raise pulumi.RunError(
            f"{', '.join(unknown)}: not a setting of the Docker provider;"
            f" known: {', '.join(f'docker:{k}' for k in (*PLAIN, *SECRET))}"
        )


def provider(name: str, config: Mapping[str, str]) -> tuple[docker.Provider, DockerHost]:
    """The explicit provider with every docker:* setting of the stack, and the host it names."""
    check_keys(config)
    docker_config = pulumi.Config("docker")
    ssh_opts = _string_list(config.get("docker:sshOpts"), "docker:sshOpts")
    host = DockerHost(docker_config.get("host"), tuple(ssh_opts))
    return (
        docker.Provider(
            name,
            host=host.host,
            ssh_opts=ssh_opts or None,
            cert_path=docker_config.get("certPath"),
            ca_material=docker_config.get("caMaterial"),
            cert_material=docker_config.get("certMaterial"),
            context=docker_config.get("context"),
            disable_docker_daemon_check=docker_config.get_bool("disableDockerDaemonCheck"),
            key_material=docker_config.get_secret("keyMaterial"),
            registry_auth=docker_config.get_secret_object("registryAuth"),
        ),
        host,
    )


def _string_list(raw: str | None, key: str) -> list[str]:
    if raw is None:
        return []
    try:
        return string_list(raw, key)
    except Bo1Error as exc:
        raise pulumi.RunError(exc.message) from None
