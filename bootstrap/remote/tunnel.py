"""An `ssh -N -L` tunnel: the same user, host and options the Docker provider uses.

The forwards listen on 127.0.0.1 here and lead to the published ports as the Docker
host sees them. The tunnel lives as long as the ``with`` block; it is closed on
every way out. ssh runs in batch mode: it never stops to ask for a password.
"""

from __future__ import annotations

import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from bootstrap.errors import ConnectionFailed
from bootstrap.remote.route import Address, DockerHost


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ssh_argv(
    docker_host: DockerHost, ssh_opts: Sequence[str], forwards: Sequence[tuple[int, Address]]
) -> list[str]:
    """The ssh command; pure, so the tests can check it."""
    argv = ["ssh", "-N", "-o", "ExitOnForwardFailure=yes", "-o", "BatchMode=yes"]
    argv += ["-o", "ServerAliveInterval=15", *ssh_opts]
    for local, (host, port) in forwards:
        argv += ["-L", f"127.0.0.1:{local}:{host}:{port}"]
    return [*argv, *docker_host.ssh_destination()]


@contextmanager
def ssh_tunnel(
    docker_host: DockerHost,
    ssh_opts: Sequence[str],
    targets: Sequence[Address],
    timeout: float = 30.0,
) -> Iterator[dict[Address, Address]]:
    """Forward each target; yields target -> the local address that reaches it."""
    forwards = [(_free_port(), target) for target in dict.fromkeys(targets)]
    argv = ssh_argv(docker_host, ssh_opts, forwards)
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait_open(proc, [local for local, _ in forwards], docker_host, timeout)
        yield {target: ("127.0.0.1", local) for local, target in forwards}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_open(
    proc: subprocess.Popen[str], ports: list[int], docker_host: DockerHost, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    waiting = set(ports)
    while waiting:
        if proc.poll() is not None:
            lines = (proc.stderr.read() if proc.stderr else "").strip().splitlines()
            said = lines[-1] if lines else "no output"
            raise ConnectionFailed(
                f"the ssh tunnel to {docker_host.host} ended: {said};"
                " check docker:host and docker:sshOpts (ssh must log in without a prompt)"
            )
        for port in list(waiting):
            with socket.socket() as s:
                s.settimeout(0.5)
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    waiting.discard(port)
        if waiting and time.monotonic() > deadline:
            raise ConnectionFailed(
                f"the ssh tunnel to {docker_host.host} did not open within {timeout:g} s"
            )
        time.sleep(0.1)
