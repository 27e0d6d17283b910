"""Patroni + etcd on real binaries, three hosts on one segment, with the rendered configs.

Each node is a network namespace on a bridge (tests/support/netns.py ``lan``): etcd
(Debian's 3.4) and Patroni (4.1.5 from PyPI, as the image runs it) running PostgreSQL 15, every file from
bootstrap/ha/config.py (tests/support/ha.py starts them). A writer goes through a libpq
multi-host URL with ``target_session_attrs=read-write``, as the application would.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import psycopg
import pytest

from bootstrap.ha import config
from tests.support.ha import (
    PATRONI,
    POSTGRES_RESUME_S,
    REQUIRES,
    Cluster,
    Load,
    Writer,
    connect_when_up,
    ha_cluster,
    postgres_failover,
)
from tests.support.tls import make_ca, node_tls

pytestmark = REQUIRES


@pytest.mark.parametrize("loss", ["postgres", "node"])
def test_a_killed_leader_is_replaced_and_no_acknowledged_write_is_lost(
    scratch_root: Path, loss: str
) -> None:
    """``postgres``: kill -9 of the leader's postmaster (Patroni fails over at once in
    synchronous mode). ``node``: its Patroni too, as when the host dies: the leader key
    lives out its ttl (20 s, Patroni's floor) first, so no 15 s target applies."""
    with ha_cluster(scratch_root / f"ha-kill-{loss}", synchronous=True) as cluster:
        failover = postgres_failover(cluster, loss)
    assert failover.new != failover.old
    lost = failover.lost
    assert lost == (), f"{len(lost)} acknowledged writes lost: {lost[:10]}"
    resumed = failover.resumed
    limit = POSTGRES_RESUME_S if loss == "postgres" else config.Timing().ttl + POSTGRES_RESUME_S
    assert resumed <= limit, f"writes resumed after {resumed:.1f} s"
    print(f"{loss} lost: writes resumed after {resumed:.1f} s; {failover.acked} acked")


class StrayWriter(Load):
    """Inserts into ``stray`` on one node over its own loopback, as a client that can
    still reach a cut-off leader would: every acknowledged insert there is split brain.
    Also records, per attempt, whether the node was then a writable primary."""

    def __init__(self, cluster: Cluster, node: config.Node) -> None:
        super().__init__()
        self.cluster, self.node = cluster, node
        self.writable: list[tuple[float, bool]] = []

    def _run(self) -> None:
        n = 0
        while not self.stop.is_set():
            n += 1
            if self.cluster.psql_on(self.node, f"INSERT INTO stray VALUES ({n})") is not None:
                self.ok(n)
            else:
                self.failures.append(time.monotonic())
            # down (no answer) or in recovery: not a primary any more
            state = self.cluster.psql_on(self.node, "SELECT pg_is_in_recovery()")
            self.writable.append((time.monotonic(), state == "f"))
            time.sleep(0.1)

    def primary_until(self, since: float) -> float | None:
        """The last moment after ``since`` the node still answered as a primary."""
        seen = [t for t, writable in self.writable if writable and t > since]
        return seen[-1] if seen else None


def test_a_partitioned_leader_stops_taking_writes_and_rejoins_as_a_replica(
    scratch_root: Path,
) -> None:
    with ha_cluster(scratch_root / "ha-cut", synchronous=True) as cluster:
        cluster.complete()
        with connect_when_up(cluster.url(), timeout=60) as conn:
            conn.execute("CREATE TABLE acked (id int PRIMARY KEY)")
            conn.execute("CREATE TABLE stray (id int PRIMARY KEY)")
        writer = Writer(cluster.url())
        writer.thread.start()
        try:
            writer.first_ack_after(time.monotonic(), 30)
            cluster.complete()
            time.sleep(1)
            old = cluster.leader()
            stray = StrayWriter(cluster, old)
            cut_at = time.monotonic()
            cluster.lan.cut(cluster.nodes.index(old))
            stray.thread.start()
            resumed = writer.outage(cut_at, 60)
            new = cluster.leader()
            time.sleep(2)
            stray.stop.set()
            stray.thread.join(30)
            cluster.lan.heal(cluster.nodes.index(old))
            cluster.complete(timeout=120)  # the old leader streams again: rejoined
            time.sleep(1)
        finally:
            writer.stop.set()
            writer.thread.join(30)
        assert cluster.role(old) == "replica", cluster.role(old)
        # the healed member must not unsettle the majority (etcd's pre-vote)
        assert cluster.leader() == new, f"the heal moved the leader from {new.name}"
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            stored = {r[0] for r in conn.execute("SELECT id FROM acked")}
            strays = {r[0] for r in conn.execute("SELECT id FROM stray")}
    assert new != old
    assert stray.acked == [], f"the cut-off leader acknowledged writes: {stray.acked[:10]}"
    assert len(stray.writable) >= 5, "the probe on the cut-off leader hardly ran"
    assert not stray.writable[-1][1], "the cut-off leader was still a primary at the end"
    assert strays == set()
    lost = sorted(set(writer.acked) - stored)
    assert lost == [], f"{len(lost)} acknowledged writes lost: {lost[:10]}"
    # a cut-off leader is a lost node to the others: its key lives out its ttl first
    limit = config.Timing().ttl + POSTGRES_RESUME_S
    assert resumed <= limit, f"writes resumed after {resumed:.1f} s"
    last_primary = stray.primary_until(cut_at)
    print(
        "cut-off leader a primary until"
        f" {'-' if last_primary is None else f'{last_primary - cut_at:.1f} s'} after the cut;"
        " writes resumed"
        f" on {new.name} after {resumed:.1f} s; {len(writer.acked)} acked, 0 lost"
    )


def _post(url: str, auth: tuple[str, str] | None) -> int:
    request = urllib.request.Request(url, method="POST", data=b"{}")
    if auth:
        token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def _etcdctl(node: config.Node, scheme: str, tls: list[str], *args: str) -> tuple[int, str]:
    argv = ["etcdctl", f"--endpoints={scheme}://{node.address}:{config.ETCD_CLIENT_PORT}",
            "--dial-timeout=3s", "--command-timeout=5s", *tls, *args]  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return done.returncode, (done.stdout + done.stderr).strip()


def test_etcd_and_the_rest_api_change_nothing_for_a_stranger(scratch_root: Path) -> None:
    """etcd decides who leads: it answers only a certificate of the stack's CA (plain HTTP,
    no certificate and another CA's are refused); the REST API's writes need its password."""
    work = scratch_root / "ha-rest"
    with ha_cluster(work, synchronous=True) as cluster:
        leader = cluster.leader()
        key = "/service/bo1-test/leader"
        own = config.etcdctl_tls(cluster.tls[leader.name])
        stranger = node_tls(work / "stranger", make_ca(work / "other-ca"), leader)
        strange = [*own[:1], *config.etcdctl_tls(stranger)[1:]]  # our CA, their certificate
        put = ("put", key, "stranger")
        tries = {
            "plain http": _etcdctl(leader, "http", [], *put),
            "no certificate": _etcdctl(leader, "https", own[:1], *put),
            "another CA's": _etcdctl(leader, "https", strange, *put),
        }
        held = _etcdctl(leader, "https", own, "get", key, "--print-value-only")
        base = f"http://{leader.address}:{config.PATRONI_PORT}"
        anonymous = _post(f"{base}/reload", None)
        wrong = _post(f"{base}/reload", (config.REST_USER, "wrong"))
        right = _post(f"{base}/reload", (config.REST_USER, cluster.rest_password))
        switchover = _post(f"{base}/switchover", None)
        still = cluster.leader()
    assert held == (0, leader.name), held  # the stack's own certificate reads the leader key
    assert all(code != 0 for code, _ in tries.values()), tries
    assert still == leader  # no stranger's put took the leader key
    assert (anonymous, wrong, switchover) == (401, 401, 401)
    assert right in (200, 202)
    assert still == leader  # role reads stay open (cluster.leader uses GET /patroni)


def test_the_leader_keeps_taking_writes_while_etcd_is_down(scratch_root: Path) -> None:
    """Every etcd member killed at once (as when one `pulumi up` replaces them all): with
    Patroni's failsafe mode the leader, still reaching every member's REST API, stays the
    primary past the leader key's ttl; etcd back, the cluster carries on, same leader."""
    with ha_cluster(scratch_root / "ha-dcs-down", synchronous=True) as cluster:
        cluster.complete()
        leader = cluster.leader()
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE acked (id int PRIMARY KEY)")
        writer = Writer(cluster.url())
        writer.thread.start()
        try:
            writer.first_ack_after(time.monotonic(), timeout=30)
            for node in cluster.nodes:
                proc = cluster.procs[f"etcd-{node.name}"]
                proc.kill()
                proc.wait(timeout=30)
            down_at = time.monotonic()
            time.sleep(config.Timing().ttl + 10)  # well past the leader key's expiry
            during = [t for t in writer.times if t > down_at]
            roles = {n.name: cluster.role(n) for n in cluster.nodes}
            for node in cluster.nodes:
                cluster.start_etcd(node)
            back_at = time.monotonic()
            after = writer.first_ack_after(back_at + 10, timeout=30)
        finally:
            writer.stop.set()
            writer.thread.join(timeout=30)
        still = cluster.leader()
        with connect_when_up(cluster.url(), timeout=30) as conn:
            stored = {r[0] for r in conn.execute("SELECT id FROM acked")}
    assert roles[leader.name] == "primary", roles
    assert not set(writer.acked) - stored, "acknowledged writes lost"
    gaps = [b - a for a, b in zip([down_at, *during], during, strict=False)]
    assert during and max(gaps) < 5 and during[-1] > down_at + config.Timing().ttl, (
        f"{len(during)} writes acknowledged while etcd was down, longest pause"
        f" {max(gaps, default=0):.1f} s"
    )
    assert after < 5 and still == leader
    print(
        f"etcd down {config.Timing().ttl + 10} s: {len(during)} writes acknowledged meanwhile,"
        f" longest pause {max(gaps):.2f} s; {len(writer.acked)} acked, 0 lost"
    )


def _ready(cluster: Cluster, node: config.Node) -> tuple[int, str]:
    """The Patroni container's healthcheck (config.readiness_probe, as infra/specs/ha.py
    renders it) run inside ``node``'s namespace, with the tests' Patroni interpreter."""
    python = str(Path(PATRONI).with_name("python3"))
    argv = cluster.lan.hosts[cluster.nodes.index(node)].run(*config.readiness_probe(node, python))
    done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
    return done.returncode, done.stderr.strip()


def _until_ready(cluster: Cluster, node: config.Node, want: bool, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while True:
        code, err = _ready(cluster, node)
        if (code == 0) == want or time.monotonic() > deadline:
            assert (code == 0) == want, f"{node.name}: ready is {code == 0}, not {want}: {err}"
            return err
        time.sleep(0.5)


def test_a_replica_is_healthy_only_while_it_could_take_over(scratch_root: Path) -> None:
    """The Patroni container's healthcheck, the gate of the rolling order: the leader
    passes; a replica passes while it streams and replays within maximum_lag_on_failover,
    fails while its replay is held back behind the leader's writes, passes again once it
    catches up."""
    with ha_cluster(scratch_root / "ha-ready", synchronous=True) as cluster:
        cluster.complete()
        leader = cluster.leader()
        replica = next(n for n in cluster.nodes if n != leader)
        for node in cluster.nodes:
            _until_ready(cluster, node, want=True)
        assert cluster.psql_on(replica, "SELECT pg_wal_replay_pause()") is not None
        # 8 MB of WAL: the replica receives it (the sync standby may be either), replays none
        statement = (
            "CREATE TABLE ballast AS SELECT repeat('x', 800) AS x FROM generate_series(1, 10000)"
        )
        assert cluster.psql_on(leader, statement, timeout=30) is not None
        held = _until_ready(cluster, replica, want=False)
        _until_ready(cluster, leader, want=True)
        assert cluster.psql_on(replica, "SELECT pg_wal_replay_resume()") is not None
        _until_ready(cluster, replica, want=True)
    assert "503" in held, held
    print(f"the replay-paused replica's healthcheck: {held}")


def _members(cluster: Cluster, via: config.Node) -> dict[str, tuple[str, str]]:
    """etcd's member list as ``via`` answers it: name -> (id, status)."""
    tls = config.etcdctl_tls(cluster.tls[via.name])
    code, out = _etcdctl(via, "https", tls, "member", "list")
    assert code == 0, out
    rows = [line.split(", ") for line in out.splitlines() if line.count(", ") >= 5]
    return {row[2]: (row[0], row[1]) for row in rows}


def _lead_etcd(cluster: Cluster, node: config.Node) -> None:
    """Move etcd's leadership to ``node`` (``etcdctl move-leader``, asked of the leader)."""
    members = _members(cluster, node)
    code, out = _etcdctl(node, "https", config.etcdctl_tls(cluster.tls[node.name]),
                         "endpoint", "status", "-w", "json")  # fmt: skip
    assert code == 0, out
    leader_id = f"{json.loads(out)[0]['Status']['leader']:x}"
    if leader_id == members[node.name][0]:
        return
    leader = next(n for n in cluster.nodes if members[n.name][0] == leader_id)
    code, out = _etcdctl(leader, "https", config.etcdctl_tls(cluster.tls[leader.name]),
                         "move-leader", members[node.name][0])  # fmt: skip
    assert code == 0, out


def test_a_node_rebuilt_with_no_etcd_data_takes_its_place_again(scratch_root: Path) -> None:
    """A node's etcd data lost (the node rebuilt on a fresh Docker host), the others
    running: the rendered entry point removes its old member and adds it anew, and etcd
    rejoins; Patroni's leader never moves and writes go on. The lost member was etcd's
    leader and comes back at once, inside the others' election (the harshest timing: its
    first membership change finds no leader to take it), and its data directory holds
    what a failed join leaves (a member directory without a log), which is not data."""
    work = scratch_root / "ha-etcd-rebuilt"
    with ha_cluster(work, synchronous=True) as cluster:
        cluster.complete()
        leader = cluster.leader()
        lost = next(n for n in cluster.nodes if n != leader)
        _lead_etcd(cluster, lost)
        before = _members(cluster, leader)
        with psycopg.connect(cluster.url(), autocommit=True) as conn:
            conn.execute("CREATE TABLE acked (id int PRIMARY KEY)")
        writer = Writer(cluster.url())
        writer.thread.start()
        try:
            proc = cluster.procs[f"etcd-{lost.name}"]
            proc.kill()
            proc.wait(timeout=30)
            data = work / f"etcd-{lost.name}"
            shutil.rmtree(data)
            # and what a join that failed leaves: etcd's database directory, no log
            data.mkdir(mode=0o700)
            (data / "member" / "snap").mkdir(mode=0o700, parents=True)
            rebuilt_at = time.monotonic()
            cluster.start_etcd(lost)
            deadline = time.monotonic() + 60
            while True:
                code, out = _etcdctl(lost, "https", config.etcdctl_tls(cluster.tls[lost.name]),
                                     "endpoint", "health")  # fmt: skip
                if code == 0 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            rejoined = time.monotonic() - rebuilt_at
            log = (work / f"etcd-{lost.name}.log").read_text()
            assert code == 0, f"{out}\n--- etcd-{lost.name}.log ---\n{log[-4000:]}"
            after = _members(cluster, lost)
            writer.first_ack_after(time.monotonic(), timeout=30)
        finally:
            writer.stop.set()
            writer.thread.join(timeout=30)
        still = cluster.leader()
    assert sorted(after) == sorted(before) and all(s == "started" for _, s in after.values())
    assert after[lost.name][0] != before[lost.name][0]  # a new member in its place
    assert "replacing it" in log and "joined the running cluster" in log
    assert still == leader and not [t for t in writer.failures if t > rebuilt_at]
    steps = [line for line in log.splitlines() if line.startswith(("bo1-etcd:", "Error:"))]
    print(f"etcd member {lost.name} rebuilt from nothing: healthy again after {rejoined:.1f} s;"
          f" its entry point: {' / '.join(steps)}")  # fmt: skip
