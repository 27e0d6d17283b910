"""What DOCKER_HOST names, and how a client here reaches a port published there. Pure."""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from bootstrap.errors import UsageError

Address = tuple[str, int]


@dataclass(frozen=True)
class DockerHost:
    kind: Literal["local", "tcp", "ssh"]
    host: str = ""
    port: int | None = None
    user: str | None = None

    def ssh_destination(self) -> list[str]:
        """``[-p PORT] [user@]host`` for ssh."""
        port = ["-p", str(self.port)] if self.port else []
        return [*port, f"{self.user}@{self.host}" if self.user else self.host]


def parse(docker_host: str | None) -> DockerHost:
    """DOCKER_HOST as the docker CLI reads it: unset or unix:// is this machine."""
    if not docker_host or docker_host.startswith(("unix://", "npipe://", "fd://")):
        return DockerHost("local")
    try:
        parts = urlsplit(docker_host)
        port = parts.port
    except ValueError:
        raise UsageError(f"DOCKER_HOST {docker_host!r} is not a valid URL") from None
    if parts.scheme not in ("tcp", "ssh") or not parts.hostname:
        raise UsageError(
            f"DOCKER_HOST {docker_host!r}: use unix://, tcp://HOST:PORT or ssh://[USER@]HOST[:PORT]"
        )
    return DockerHost(parts.scheme, parts.hostname, port, parts.username)  # type: ignore[arg-type]


def is_loopback(host: str) -> bool:
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def direct(docker_host: DockerHost, target: Address) -> Address:
    """Where to connect without a tunnel: as published, for a local or tcp:// host.

    A port published on the remote host's loopback cannot be reached over TCP from
    here: say how to fix that rather than fail to connect.
    """
    host, port = target
    if host.startswith("/"):
        if docker_host.kind == "local":
            return target
        raise UsageError(
            f"{host} is a socket directory on this machine, not an address on the Docker host"
            f" {docker_host.host}; connect over TCP (PGHOST) instead"
        )
    if docker_host.kind == "tcp" and is_loopback(host):
        raise UsageError(
            f"the stack publishes on {host}:{port} of the Docker host {docker_host.host},"
            " which no other machine can reach; set bo1-infra:bindAddress to an address of"
            f" {docker_host.host} that this machine reaches, or use an ssh:// docker:host"
        )
    return target


def string_list(raw: str, what: str) -> list[str]:
    """A JSON list of strings (ssh options), or a UsageError naming ``what``."""
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise UsageError(f'{what} must be a JSON list of strings, such as ["-i", "~/.ssh/key"]')
    return value
