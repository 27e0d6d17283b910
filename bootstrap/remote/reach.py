"""One context manager for the verbs: the addresses to use for the stack's published ports."""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

from bootstrap.remote.route import Address, direct, parse, string_list
from bootstrap.remote.tunnel import ssh_tunnel

SSH_OPTS_ENV = "BO1_DOCKER_SSH_OPTS"


def ssh_opts_from_env() -> list[str]:
    raw = os.environ.get(SSH_OPTS_ENV, "")
    return string_list(raw, SSH_OPTS_ENV) if raw.strip() else []


@contextmanager
def reach(docker_host: str | None, targets: Sequence[Address]) -> Iterator[dict[Address, Address]]:
    """target (as published on the Docker host) -> where to connect from here.

    Local and tcp:// hosts: the published address itself. ssh:// hosts: a tunnel
    for the duration of the block.
    """
    host = parse(docker_host)
    if host.kind != "ssh":
        yield {target: direct(host, target) for target in targets}
        return
    for address, _port in targets:
        if address.startswith("/"):
            direct(host, (address, _port))  # raises: a socket cannot be tunnelled
    with ssh_tunnel(host, ssh_opts_from_env(), list(targets)) as local:
        yield local


def tcp_host(host: str) -> str:
    # A socket directory is no address for the app; it reaches the published port.
    return "127.0.0.1" if host.startswith("/") else host


def url_at(url: str, address: Address) -> str:
    """``url`` (redis:// or postgresql://) with its host and port replaced, credentials kept."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@" if credentials else ""
    return urlunsplit(parts._replace(netloc=f"{netloc}{address[0]}:{address[1]}"))


def address_of(url: str, default_port: int) -> Address:
    parts = urlsplit(url)
    return parts.hostname or "127.0.0.1", parts.port or default_port
