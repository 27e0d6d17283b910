"""Network namespaces: a "host" of its own for a server, reached over a veth pair.

A client in the test's namespace reaches the server at the namespace's address,
from its own veth address: never loopback, as a client through Docker's published
port or from another machine arrives. Needs root (ip netns, from iproute2).

Addresses come from 10.231.0.0/16, one /30 per namespace (the machine's own
interfaces sit elsewhere: check with `ip -br addr`). Every namespace and link is
removed on exit, whatever happens; leftovers of a killed run are swept first.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

PREFIX = "bo1t"
_counter = itertools.count(1)


@dataclass(frozen=True)
class Namespace:
    name: str
    host_ip: str  # the test's end of the veth pair: where clients come from
    ip: str  # the namespace's end: where its servers listen

    def run(self, *argv: str) -> list[str]:
        """``argv`` to start a process inside the namespace."""
        return ["ip", "netns", "exec", self.name, *argv]

    def wait_listening(self, port: int, host: str = "127.0.0.1", timeout: float = 30) -> None:
        """Until something accepts TCP at ``host:port`` inside the namespace (its loopback)."""
        probe = self.run("bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}")
        deadline = time.monotonic() + timeout
        while subprocess.run(probe, capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {host}:{port} in {self.name}")
            time.sleep(0.1)


def available() -> str | None:
    """None when namespaces can be made here, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root (ip netns)"
    probe = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True)
    return None if probe.returncode == 0 else f"ip netns does not work here: {probe.stderr}"


def _ip(*args: str, check: bool = True) -> None:
    subprocess.run(["ip", *args], check=check, capture_output=True)


def sweep() -> None:
    """Remove the namespaces and bridges a killed run left behind. Only those of test runs
    that are gone: a second test session on the machine keeps its own (their names carry
    the pid of the process that made them)."""
    listed = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for line in listed.splitlines():
        name = line.split()[0] if line.strip() else ""
        owner = re.match(rf"{PREFIX}(\d+)[ln]\d+$", name)
        if name.startswith(PREFIX) and not (owner and _alive(int(owner.group(1)))):
            _ip("netns", "del", name, check=False)  # takes the veth pairs into it along
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    for line in links.splitlines():
        link = line.split(":")[1].strip().split("@")[0]
        if link.startswith(PREFIX) and link.endswith("br") and not _ports(link):
            _ip("link", "del", link, check=False)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ports(bridge: str) -> str:
    """The links attached to ``bridge`` (a live lan's veths)."""
    return subprocess.run(
        ["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def namespace() -> Iterator[Namespace]:
    n = next(_counter)
    index = (os.getpid() % 200) * 64 + n  # distinct across concurrent runs, within /16
    name = f"{PREFIX}{os.getpid()}n{n}"
    outside, inside = f"{PREFIX}{index}a", f"{PREFIX}{index}b"
    third, fourth = divmod(index * 4, 256)  # the /30's network address
    host_ip, ip = f"10.231.{third}.{fourth + 1}", f"10.231.{third}.{fourth + 2}"
    try:
        _ip("netns", "add", name)
        _ip("link", "add", outside, "type", "veth", "peer", "name", inside)
        _ip("link", "set", inside, "netns", name)
        _ip("addr", "add", f"{host_ip}/30", "dev", outside)
        _ip("link", "set", outside, "up")
        _ip("-n", name, "addr", "add", f"{ip}/30", "dev", inside)
        _ip("-n", name, "link", "set", inside, "up")
        _ip("-n", name, "link", "set", "lo", "up")
        yield Namespace(name, host_ip, ip)
    finally:
        _ip("netns", "del", name, check=False)  # takes the inside end with it
        _ip("link", "del", outside, check=False)


@dataclass(frozen=True)
class Lan:
    """Hosts of their own on one network segment: a bridge in the test's namespace with a
    veth to each. The hosts reach each other directly; the test reaches each from the
    bridge's address. ``cut(host)`` takes one host's link down (a partition); ``heal``
    brings it back."""

    bridge: str
    bridge_ip: str
    hosts: tuple[Namespace, ...]
    links: tuple[str, ...]  # the test's end of each host's veth, by host index

    def cut(self, index: int) -> None:
        _ip("link", "set", self.links[index], "down")

    def heal(self, index: int) -> None:
        _ip("link", "set", self.links[index], "up")


@contextmanager
def lan(count: int) -> Iterator[Lan]:
    """``count`` namespaces on a bridge, addresses from 10.232.<run>.0/24 (.1: the bridge)."""
    run = os.getpid() % 250 + 1
    bridge = f"{PREFIX}{run}br"
    names = [f"{PREFIX}{os.getpid()}l{i}" for i in range(count)]
    outside = [f"{PREFIX}{run}l{i}a" for i in range(count)]
    hosts = tuple(
        Namespace(name, f"10.232.{run}.1", f"10.232.{run}.{10 + i}") for i, name in enumerate(names)
    )
    made: list[tuple[str, ...]] = []  # what to delete: only what this call created
    try:
        _ip("link", "add", bridge, "type", "bridge")
        made.append(("link", "del", bridge))
        _ip("addr", "add", f"10.232.{run}.1/24", "dev", bridge)
        _ip("link", "set", bridge, "up")
        for host, out in zip(hosts, outside, strict=True):
            inside = out[:-1] + "b"
            _ip("netns", "add", host.name)
            made.append(("netns", "del", host.name))  # takes the inside end with it
            _ip("link", "add", out, "type", "veth", "peer", "name", inside)
            made.append(("link", "del", out))
            _ip("link", "set", inside, "netns", host.name)
            _ip("link", "set", out, "master", bridge)
            _ip("link", "set", out, "up")
            _ip("-n", host.name, "addr", "add", f"{host.ip}/24", "dev", inside)
            _ip("-n", host.name, "link", "set", inside, "up")
            _ip("-n", host.name, "link", "set", "lo", "up")
        yield Lan(bridge, f"10.232.{run}.1", hosts, tuple(outside))
    finally:
        for command in reversed(made):
            _ip(*command, check=False)
