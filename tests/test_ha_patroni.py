"""Patroni + etcd on real binaries, three hosts on one segment, with the rendered configs.

Each node is a network namespace on a bridge (tests/support/netns.py ``lan``): etcd
(Debian's 3.4) and Patroni (Debian's 3.0) running PostgreSQL 15, every file from
bootstrap/ha/config.py. A writer goes through a libpq multi-host URL with
``target_session_attrs=read-write``, as the application would. Set
BO1_KEEP_HA_LOGS=DIR to keep the etcd and Patroni logs of a run.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from bootstrap.ha import config
from tests.support import netns
from tests.support.postgres_server import PG_BINDIR

MISSING = [b for b in ("etcd", "patroni") if shutil.which(b) is None]
pytestmark = [
    pytest.mark.skipif(netns.available() is not None, reason=str(netns.available())),
    pytest.mark.skipif(bool(MISSING), reason=f"not installed: {', '.join(MISSING)}"),
]
WRITES_RESUME_S = 15.0


@dataclass
class Cluster:
    lan: netns.Lan
    nodes: tuple[config.Node, ...]
    workdir: Path
    password: str
    procs: dict[str, subprocess.Popen[bytes]]

    def url(self) -> str:
        hosts = ",".join(n.address for n in self.nodes)
        return (
            f"host={hosts} port=5432 dbname=postgres user=postgres password={self.password}"
            " target_session_attrs=read-write connect_timeout=2"
        )

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

    def kill(self, node: config.Node) -> None:
        """kill -9 of the node's Patroni and every Postgres process it started."""
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


def _as_postgres(host: netns.Namespace, *argv: str) -> list[str]:
    return host.run("setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", *argv)


@contextmanager
def ha_cluster(workdir: Path, synchronous: bool) -> Iterator[Cluster]:
    workdir.mkdir(parents=True)
    workdir.chmod(0o755)
    password = secrets.token_urlsafe(18)
    passwords = {"superuser": password, "replication": secrets.token_urlsafe(18)}
    with netns.lan(3) as lan, ExitStack() as stack:
        nodes = tuple(config.Node(f"node{i}", h.ip) for i, h in enumerate(lan.hosts))
        procs: dict[str, subprocess.Popen[bytes]] = {}
        token = secrets.token_hex(8)
        for node, host in zip(nodes, lan.hosts, strict=True):
            argv = config.etcd_args(node, nodes, str(workdir / f"etcd-{node.name}"), token)
            log = (workdir / f"etcd-{node.name}.log").open("wb")
            procs[f"etcd-{node.name}"] = subprocess.Popen(
                host.run(*argv), stdout=log, stderr=log, cwd=workdir
            )
        for node, host in zip(nodes, lan.hosts, strict=True):
            home = workdir / node.name
            home.mkdir(mode=0o700)
            shutil.chown(home, "postgres", "postgres")
            pg = config.PostgresNode(
                data_dir=str(home / "data"), bin_dir=str(PG_BINDIR), socket_dir=str(home),
                parameters={"fsync": "off", "shared_buffers": "32MB", "max_connections": "40"},
            )  # fmt: skip
            yml = home / "patroni.yml"
            rendered = config.patroni_config(
                "bo1-test", node, nodes, pg, passwords, synchronous=synchronous
            )
            yml.write_text(rendered)
            shutil.chown(yml, "postgres", "postgres")
            log = (workdir / f"patroni-{node.name}.log").open("wb")
            # cwd: its home, not the checkout, which the postgres user may not enter
            procs[node.name] = subprocess.Popen(
                _as_postgres(host, "patroni", str(yml)), stdout=log, stderr=log, cwd=home
            )
        cluster = Cluster(lan, nodes, workdir, password, procs)
        stack.callback(_stop_all, cluster)
        cluster.leader(timeout=120)
        yield cluster


def _stop_all(cluster: Cluster) -> None:
    keep = os.environ.get("BO1_KEEP_HA_LOGS")
    if keep:
        for log in cluster.workdir.glob("*.log"):
            shutil.copy(log, keep)
    for node in cluster.nodes:
        cluster.kill(node)
    for proc in cluster.procs.values():
        proc.kill()
        proc.wait(timeout=30)


class Writer:
    """Inserts 1, 2, 3, ... through the multi-host URL; records each acknowledged id.

    An insert whose commit reached the server but whose answer died with the leader is
    in doubt: it may or may not be there, so it is not retried under the same id."""

    def __init__(self, url: str) -> None:
        self.url, self.acked, self.stop = url, [], threading.Event()
        self.times: list[float] = []
        self.failures: list[float] = []
        self.thread = threading.Thread(target=self._run)

    def _run(self) -> None:
        conn, n = None, 0
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = psycopg.connect(self.url, autocommit=True)
                n += 1  # a new id per attempt: one in doubt (lost with its ack) is skipped
                conn.execute("INSERT INTO acked (id) VALUES (%s)", [n])
                self.acked.append(n)
                self.times.append(time.monotonic())
            except psycopg.Error:
                self.failures.append(time.monotonic())
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(0.1)
        if conn is not None:
            conn.close()

    def outage(self, killed_at: float, timeout: float) -> float:
        """Seconds from the first failed write after the kill to the next acknowledged one."""
        deadline = killed_at + timeout
        while time.monotonic() < deadline:
            failed = [t for t in self.failures if t > killed_at]
            if failed:
                return self.first_ack_after(failed[0], deadline - failed[0]) + (
                    failed[0] - killed_at
                )
            time.sleep(0.05)
        raise AssertionError("no write failed after the kill: the leader was not killed")

    def first_ack_after(self, moment: float, timeout: float) -> float:
        deadline = moment + timeout
        while time.monotonic() < deadline:
            later = [t for t in self.times if t > moment]
            if later:
                return later[0] - moment
            time.sleep(0.05)
        raise AssertionError(f"no write acknowledged within {timeout} s")


def connect_when_up(url: str, timeout: float) -> psycopg.Connection:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return psycopg.connect(url, autocommit=True)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def test_a_killed_leader_is_replaced_and_no_acknowledged_write_is_lost(
    scratch_root: Path,
) -> None:
    with ha_cluster(scratch_root / "ha-kill", synchronous=True) as cluster:
        # Patroni reports its role before Postgres accepts TCP: wait for both.
        cluster.complete()
        with connect_when_up(cluster.url(), timeout=60) as conn:
            conn.execute("CREATE TABLE acked (id int PRIMARY KEY)")
        writer = Writer(cluster.url())
        writer.thread.start()
        try:
            writer.first_ack_after(time.monotonic(), 30)
            cluster.complete()
            time.sleep(1)
            old = cluster.leader()
            killed_at = time.monotonic()
            cluster.kill(old)
            resumed = writer.outage(killed_at, 60)
            time.sleep(1)
        finally:
            writer.stop.set()
            writer.thread.join(30)
        new = cluster.leader()
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            stored = {r[0] for r in conn.execute("SELECT id FROM acked")}
    assert new != old
    lost = sorted(set(writer.acked) - stored)
    assert lost == [], f"{len(lost)} acknowledged writes lost: {lost[:10]}"
    assert resumed <= WRITES_RESUME_S, f"writes resumed after {resumed:.1f} s"
    print(f"writes resumed {resumed:.1f} s after the leader was killed; {len(writer.acked)} acked")
