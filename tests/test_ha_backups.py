"""pgBackRest on an ``ha`` stack, on real binaries: a repository host of its own (a fourth
network namespace) and three Patroni nodes, every host's pgbackrest.conf rendered by
bootstrap/ha/backup.py, TLS between them with certificates of a throwaway CA.

WAL is archived from whichever node leads, a backup taken before a failover and one
after it come from the leader of the moment, and a restore of the repository on the
repository host holds the writes of both leaders.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path

import psycopg

from bootstrap.backup.policy import (
    STANZA,
    Paths,
    Policy,
    archive_settings,
    drill_script,
    leader_drill_script,
    repository_script,
)
from bootstrap.ha import backup
from bootstrap.ha.config import Node
from bootstrap.ha.tls import Tls, key_handover
from tests.support import netns
from tests.support.cli import run_cli
from tests.support.ha import REQUIRES, Cluster, as_postgres, connect_when_up, ha_cluster
from tests.support.postgres_server import PG_BINDIR
from tests.support.tls import make_ca, node_cert

pytestmark = REQUIRES

POLICY = Policy(process_max=1)
RESTORED_PORT = 54391


def _paths(home: Path) -> Paths:
    """A host's pgBackRest paths in the test: under its home, Postgres's as Patroni runs it."""
    return Paths(
        config_dir=str(home / "pgbackrest"), repo=str(home / "repo"), pg_data=str(home / "data"),
        socket=str(home), pg_bindir=str(PG_BINDIR), spool=str(home / "spool"),
        lock=str(home / "lock"),
    )  # fmt: skip


def _tls(home: Path, ca: tuple[Path, Path], node: Node) -> Tls:
    """The node's certificate; its key as a container upload leaves it (root's, 0400) at
    _upload(home), which key_handover installs for postgres at the key path."""
    crt, key = node_cert(home / "pgbackrest" / "tls", ca, node.name, node.address)
    key.chmod(0o400)
    return Tls(ca=str(ca[0]), cert=str(crt), key=_key(home))


def _upload(home: Path) -> str:
    return str(home / "pgbackrest" / "tls" / "node.key")


def _key(home: Path) -> str:
    return str(home / "run" / "node.key")


class Repository:
    """The repository host: pgbackrest run there as postgres, with its rendered file."""

    def __init__(self, host: netns.Namespace, paths: Paths) -> None:
        self.host, self.paths = host, paths

    def pgbackrest(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        argv = as_postgres(
            self.host, "pgbackrest", f"--config={self.paths.config}", f"--stanza={STANZA}", *args
        )
        done = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=300)
        if check:
            assert done.returncode == 0, f"pgbackrest {' '.join(args)}: {done.stdout}{done.stderr}"
        return done


@contextmanager
def backed_up_cluster(workdir: Path) -> Iterator[tuple[Cluster, Repository]]:
    """Three Patroni nodes archiving to a fourth host's repository, every host's pgBackRest
    TLS server running."""
    workdir.mkdir(parents=True)
    workdir.chmod(0o755)
    ca = make_ca(workdir / "ca")
    cipher = "test-cipher-passphrase-0123456789"
    with ExitStack() as stack:
        lan = stack.enter_context(netns.lan(4))
        repo_home = workdir / "repo-host"
        repo = Node("repo", lan.hosts[3].ip)
        pg_nodes = tuple(Node(f"node{i}", h.ip) for i, h in enumerate(lan.hosts[:3]))
        homes = {n.name: workdir / "pg" / n.name for n in pg_nodes}
        confs: dict[str, str] = {}
        repo_paths = _paths(repo_home)
        tls = {n.name: _tls(homes[n.name], ca, n) for n in pg_nodes}  # etcd's and pgBackRest's
        for node in pg_nodes:  # rendered before Patroni starts: it archives from the start
            paths = replace(_paths(homes[node.name]), repo=repo_paths.repo)
            confs[node.name] = backup.postgres_node_conf(
                POLICY, paths, node, repo, tls[node.name], cipher
            )
        there = tuple((n, _paths(homes[n.name])) for n in pg_nodes)
        confs[repo.name] = backup.repository_conf(
            POLICY, repo_paths, repo, there, _tls(repo_home, ca, repo), cipher
        )
        for name, home in [*homes.items(), (repo.name, repo_home)]:
            _write_as_postgres(home, confs[name])
        for node in pg_nodes:  # each pgbackrest container's drill and its leader-only wrapper
            _write_drill(homes[node.name])
        pg_hosts = list(zip(lan.hosts[:3], homes.values(), strict=True))
        for host, home in pg_hosts:  # as Patroni's container starts: the key first
            subprocess.run(host.run(*key_handover(_upload(home), _key(home), ["true"])),
                           check=True, cwd="/")  # fmt: skip
        running = ha_cluster(
            workdir / "pg", synchronous=True, lan=lan, archive=_archive_settings, tls=tls
        )
        cluster = stack.enter_context(running)
        for host, home in pg_hosts:  # each node's pgbackrest container: its TLS server
            server = ["pgbackrest", f"--config={_paths(home).config}", "server"]
            argv = host.run(*key_handover(_upload(home), _key(home), server))
            _start(stack, argv, home)
            host.wait_listening(backup.TLS_PORT, host.ip)
        # the repository container's entry point, as rendered (no cron daemon in a test)
        entry = repo_home / "bo1-repository"
        entry.write_text(repository_script(repo_paths, _upload(repo_home), _key(repo_home), "true"))
        _start(stack, lan.hosts[3].run("sh", str(entry)), repo_home)
        lan.hosts[3].wait_listening(backup.TLS_PORT, lan.hosts[3].ip)
        yield cluster, Repository(lan.hosts[3], repo_paths)


def _start(stack: ExitStack, argv: list[str], home: Path) -> None:
    log = (home / "pgbackrest-server.log").open("wb")
    proc = subprocess.Popen(argv, stdout=log, stderr=log, cwd="/")
    stack.callback(_stop, proc)


def _archive_settings(home: Path) -> dict[str, str]:
    """A node's archive_command and friends, as the stack renders them, with its paths."""
    return archive_settings(POLICY, _paths(home))


def _write_as_postgres(home: Path, conf: str) -> None:
    """The host's folders and pgbackrest.conf, the postgres user's (it runs pgBackRest)."""
    paths = _paths(home)
    for folder in (home, Path(paths.config_dir), Path(paths.repo), Path(paths.spool),
                   Path(paths.lock)):  # fmt: skip
        folder.mkdir(parents=True, exist_ok=True)
    Path(paths.config).write_text(conf)
    for path in [home, *home.rglob("*")]:
        if path.name not in ("ca.key", "node.key"):  # the uploads stay root's
            shutil.chown(path, "postgres", "postgres")
    home.chmod(0o700)


def _write_drill(home: Path) -> None:
    paths = _paths(home)
    drill, wrapper = Path(paths.config_dir) / "bo1-drill", Path(_leader_drill(home))
    drill.write_text(drill_script(POLICY, paths, "bo1", str(home / "drill")))
    wrapper.write_text(leader_drill_script(paths, "bo1", str(drill), str(home / "drill")))
    for script in (drill, wrapper):
        script.chmod(0o555)
        shutil.chown(script, "postgres", "postgres")


def _leader_drill(home: Path) -> str:
    return f"{_paths(home).config_dir}/bo1-leader-drill"


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.kill()
    proc.wait(timeout=30)


def _write(cluster: Cluster, label: str, rows: int) -> str:
    """``rows`` rows labelled ``label`` on the leader of the moment; its name."""
    with connect_when_up(cluster.url("bo1"), timeout=60) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS events (label text, n int)")
        conn.execute("INSERT INTO events SELECT %s, g FROM generate_series(1, %s) g", [label, rows])
        conn.execute("SELECT pg_switch_wal()")
        return str(conn.info.host)


def _backups(repo: Repository) -> list[dict[str, object]]:
    import json

    info = json.loads(repo.pgbackrest("--output=json", "info").stdout)
    return list(info[0]["backup"])


def _ping(host: netns.Namespace) -> int:
    """`pgbackrest server-ping ADDRESS`, as the pgBackRest containers' healthcheck runs it."""
    argv = as_postgres(host, "pgbackrest", "server-ping", host.ip)
    return subprocess.run(argv, capture_output=True, cwd="/", timeout=30).returncode


def _wait_first_backup(repo: Repository, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while True:
        done = repo.pgbackrest("--output=json", "info", check=False)
        if done.returncode == 0 and '"label"' in done.stdout:
            return
        assert time.monotonic() < deadline, f"no first backup: {done.stdout}{done.stderr}"
        time.sleep(2)


def _wait_archived(repo: Repository, timeout: float = 60) -> None:
    """Until `pgbackrest check` passes: it switches WAL on the primary and waits for it."""
    deadline = time.monotonic() + timeout
    while (done := repo.pgbackrest("check", check=False)).returncode != 0:
        assert time.monotonic() < deadline, done.stdout + done.stderr
        time.sleep(1)


def test_backups_and_wal_follow_the_leader_and_restore_both_leaders_writes(
    scratch_root: Path,
) -> None:
    with backed_up_cluster(scratch_root / "ha-backup") as (cluster, repo):
        cluster.complete()
        _wait_first_backup(repo)  # the entry point's: stanza-create, then a full backup
        pings = [_ping(host) for host in cluster.lan.hosts]  # the containers' healthcheck
        first = _write(cluster, "before", 1000)
        _wait_archived(repo)
        old = cluster.leader()
        assert old.address == first
        cluster.kill_postgres(old)
        deadline = time.monotonic() + 60
        while cluster.leader() == old and time.monotonic() < deadline:
            time.sleep(0.5)
        new = cluster.leader()
        second = _write(cluster, "after", 500)
        _wait_archived(repo)  # the new leader archives to the same repository
        cluster.complete()
        repo.pgbackrest("--type=diff", "backup")  # from the new leader
        third = _write(cluster, "latest", 10)
        _migrate(cluster)  # the drill compares the stack's tables
        _wait_archived(repo)
        drills = _drill_everywhere(cluster, scratch_root / "ha-backup" / "pg")
        leftovers = list((scratch_root / "ha-backup" / "pg").glob("*/drill/data"))
        recorded = cluster.psql_on(new, "SELECT ok, detail FROM bo1_backup_drills", db="bo1")
        backups = _backups(repo)
        refused = _as_intruder(repo, scratch_root / "ha-backup")
        restored = _restore(repo, scratch_root / "ha-backup" / "restored")
    assert new != old and second == third == new.address
    assert [b["type"] for b in backups] == ["full", "diff"]
    # the diff backup was taken on the new leader's timeline
    assert backups[1]["archive"]["start"][:8] > backups[0]["archive"]["start"][:8]
    assert restored == {"before": 1000, "after": 500, "latest": 10}
    # as cron starts it on every node: only the leader's runs the drill, and it passes
    for node, (code, out) in drills.items():
        assert code == 0, (node, out)
        if node == new.name:
            assert '"ok": true' in out and '"recorded": true' in out, out
        else:
            assert "not run here: this node's Postgres is a replica" in out, out
            assert "removed a scratch copy an earlier drill left" in out, out
    assert not leftovers, leftovers
    assert recorded is not None and recorded.startswith("t|migrations "), recorded
    assert pings == [0, 0, 0, 0]
    # a certificate of the same CA under another name is turned away by every node
    assert refused.returncode != 0
    for node in cluster.nodes:  # each node's TLS server, one by one
        assert f"tls protocol on '{node.address}': access denied" in refused.stdout, refused.stdout


def _migrate(cluster: Cluster) -> None:
    hosts = ",".join(f"{n.address}:5432" for n in cluster.nodes)
    dsn = f"postgresql://postgres@{hosts}/bo1?target_session_attrs=read-write"
    env = {"BO1_POSTGRES_SUPERUSER_PASSWORD": cluster.password}
    done = run_cli("migrate", "up", "--dsn", dsn, "--wait", "60", env=env)
    assert done.returncode == 0, done.stdout + done.stderr


def _drill_everywhere(cluster: Cluster, homes: Path) -> dict[str, tuple[int, str]]:
    """Each node's drill wrapper, run as its pgbackrest container's cron runs it."""
    out = {}
    for node in cluster.nodes:  # a scratch copy a drill cut short left on each node
        left = homes / node.name / "drill" / "data"
        left.mkdir(parents=True)
        for path in (left.parent, left):
            shutil.chown(path, "postgres", "postgres")
    for node, host in zip(cluster.nodes, cluster.lan.hosts[:3], strict=True):
        argv = as_postgres(host, _leader_drill(homes / node.name))
        done = subprocess.run(argv, capture_output=True, text=True, cwd="/", timeout=600)
        out[node.name] = (done.returncode, done.stdout + done.stderr)
    return out


def _as_intruder(repo: Repository, workdir: Path) -> subprocess.CompletedProcess[str]:
    """`pgbackrest check` from the repository host with the CA's certificate for a CN no
    node authorizes (the repository's file, its certificate swapped)."""
    ca = (workdir / "ca" / "ca.crt", workdir / "ca" / "ca.key")
    crt, key = node_cert(workdir / "intruder", ca, "intruder", repo.host.ip)
    shutil.chown(key, "postgres", "postgres")
    key.chmod(0o600)
    conf = Path(repo.paths.config).read_text()
    home = Path(repo.paths.config_dir).parent
    mine = home / "pgbackrest" / "tls" / "node.crt"
    conf = conf.replace(str(mine), str(crt)).replace(_key(home), str(key))
    rogue = workdir / "intruder" / "pgbackrest.conf"
    rogue.write_text(conf)
    shutil.chown(rogue, "postgres", "postgres")
    return Repository(repo.host, replace(repo.paths, config_dir=str(rogue.parent))).pgbackrest(
        "check", check=False
    )


def _restore(repo: Repository, target: Path) -> dict[str, int]:
    """The newest backup plus every archived WAL, restored on the repository host into
    ``target`` and started there (archiving off: a copy must not write to the repository)."""
    target.mkdir(mode=0o700)
    shutil.chown(target, "postgres", "postgres")
    repo.pgbackrest(f"--pg1-path={target}", "--reset-pg1-host", "restore")
    trust = target / "test_hba.conf"  # the copy answers this test over its socket only
    trust.write_text("local all all trust\n")
    shutil.chown(trust, "postgres", "postgres")
    options = (
        f"-c port={RESTORED_PORT} -c listen_addresses='' -c unix_socket_directories={target}"
        f" -c archive_mode=off -c synchronous_standby_names='' -c hba_file={trust}"
    )
    pg_ctl = [str(PG_BINDIR / "pg_ctl"), "-D", str(target), "-o", options, "-w", "-t", "120"]
    start = subprocess.run(
        as_postgres(repo.host, *pg_ctl, "-l", str(target / "restored.log"), "start"),
        capture_output=True, text=True, cwd="/",
    )  # fmt: skip
    assert start.returncode == 0, start.stdout + start.stderr + _log(target)
    try:
        dsn = f"host={target} port={RESTORED_PORT} dbname=bo1 user=postgres"
        deadline = time.monotonic() + 60
        while True:  # recovery replays the archive, then promotes
            with psycopg.connect(dsn, autocommit=True) as conn:
                if not conn.execute("SELECT pg_is_in_recovery()").fetchone()[0]:  # type: ignore[index]
                    rows = conn.execute("SELECT label, count(*) FROM events GROUP BY 1").fetchall()
                    return {str(label): int(n) for label, n in rows}
            assert time.monotonic() < deadline, _log(target)
            time.sleep(0.5)
    finally:
        subprocess.run(as_postgres(repo.host, *pg_ctl, "-m", "immediate", "stop"),
                       capture_output=True, cwd="/")  # fmt: skip


def _log(target: Path) -> str:
    log = target / "restored.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else ""
