"""What a container is, independent of Docker or Pulumi."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class File:
    """A file uploaded into the container before it starts; its content is not secret."""

    path: str
    content: str
    mode: str = "0444"


@dataclass(frozen=True)
class SecretFile:
    """A file whose content is rendered from secret values: ``render({key: value}) -> text``.

    ``secrets`` names catalogue keys; the program passes their (secret) values,
    the tests pass their own. The content never leaves a secret Output.
    """

    path: str
    secrets: tuple[str, ...]
    render: Callable[[Mapping[str, str]], str]
    mode: str = "0444"


@dataclass(frozen=True)
class PortBinding:
    internal: int
    external: int
    host_ip: str


@dataclass(frozen=True)
class Healthcheck:
    """Every field explicit: a zero one would be inherited from the image's HEALTHCHECK.

    No start interval: Docker Engines before 25 (API 1.44) refuse a container that
    sets one, and Debian 12's and Ubuntu 22.04's docker.io are older.
    """

    test: tuple[str, ...]  # Docker form: ("CMD", ...) or ("CMD-SHELL", "...")
    interval_s: int = 5
    timeout_s: int = 5
    retries: int = 10
    start_period_s: int = 60


@dataclass(frozen=True)
class Logs:
    """Docker's json-file driver, rotated: a container never fills the host's disk with logs."""

    driver: str = "json-file"
    max_size: str = "10m"
    max_files: int = 3


@dataclass(frozen=True)
class Mount:
    """A named volume the program creates once and several containers share."""

    volume_name: str
    container_path: str


@dataclass(frozen=True)
class ContainerSpec:
    name: str  # the Docker container name; carries the stack
    alias: str  # the name other containers on the stack's network use
    image: str
    command: tuple[str, ...]
    env: Mapping[str, str]  # never secret: secrets travel in SecretFiles
    files: tuple[File | SecretFile, ...]
    port: PortBinding | None  # None: reachable on the stack's network only
    healthcheck: Healthcheck
    volume_name: str | None  # the container's own data volume, if it has one
    data_path: str  # where that volume is mounted
    memory_mb: int  # also the memory + swap limit: the container does not swap
    stop_grace_s: int  # SIGTERM/SIGINT to SIGKILL: long enough for a clean shutdown
    shm_size_mb: int | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    logs: Logs = field(default_factory=Logs)
    mounts: tuple[Mount, ...] = ()  # shared volumes, created by the program
    init: bool = False  # an init process as PID 1 (reaps what a cron job leaves behind)
    user: str | None = None  # the OS user the entrypoint runs as; None: the image's
    stop_signal: str | None = None  # what `docker stop` sends first; None: the image's
    open_files: int | None = None  # the nofile limit, soft and hard; None: the engine's
    # On the Docker host's own network (ha stacks): it listens on its node's address, which
    # the other nodes reach, and announces that address; no port mapping, no stack network.
    host_network: bool = False
