"""A stack on a remote Docker host (docker:host ssh://...): bootstrap reaches it through ssh.

The remote host is a network namespace running a real sshd; Postgres and Redis there
listen on its loopback only, as ports published on a remote host's 127.0.0.1 do. Only
the tunnel bootstrap opens (ssh -N -L, with the stack's docker:sshOpts) reaches them,
and the tunnel is gone when bootstrap ends.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from bootstrap.appenv.env_file import read as read_env
from bootstrap.migrate.files import discover
from bootstrap.paths import MIGRATIONS_DIR
from bootstrap.remote.route import DockerHost, parse
from bootstrap.remote.tunnel import ssh_argv
from bootstrap.stack_secrets.catalogue import load as load_catalogue
from infra.settings import from_config
from infra.specs import postgres_server
from tests.support import netns
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.pooler import running_pgbouncer, stack_auth_file
from tests.support.postgres_server import PostgresServer, running_postgres
from tests.support.pulumi_harness import stack_config
from tests.support.redis_server import RedisProcess, running_stack_redis

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
CATALOGUE = load_catalogue()
pytestmark = pytest.mark.skipif(
    netns.available() is not None or not Path(SSHD).exists(),
    reason=str(netns.available() or "no sshd (Debian's openssh-server)"),
)


@dataclass(frozen=True)
class Remote:
    ns: netns.Namespace
    postgres: PostgresServer
    redis: RedisProcess
    secrets: dict[str, str]
    ssh_opts: list[str]

    def hook_env(self) -> dict[str, str]:
        """What the hook sets for a stack on this host: addresses as the host sees them."""
        return {
            "PGHOST": "127.0.0.1",
            "PGPORT": "5432",
            "PGUSER": "postgres",
            "PGDATABASE": "postgres",
            "REDIS_URL": f"redis://bo1_ops:{self.secrets['redisOpsPassword']}@127.0.0.1:6379/0",
            "DOCKER_HOST": f"ssh://root@{self.ns.ip}:2222",
            "BO1_DOCKER_SSH_OPTS": json.dumps(self.ssh_opts),
            "BO1_POOLER_PORT": "6432",
            **{s.env: self.secrets[s.key] for s in CATALOGUE.secrets},
        }


def start_sshd(ns: netns.Namespace, workdir: Path) -> tuple[subprocess.Popen[bytes], list[str]]:
    workdir.mkdir(parents=True)
    for key in ("host_key", "client_key"):
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(workdir / key)], check=True
        )
    (workdir / "authorized_keys").write_text((workdir / "client_key.pub").read_text())
    (workdir / "sshd_config").write_text(
        f"Port 2222\nListenAddress {ns.ip}\nHostKey {workdir / 'host_key'}\n"
        f"AuthorizedKeysFile {workdir / 'authorized_keys'}\nPidFile {workdir / 'sshd.pid'}\n"
        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
        "PermitRootLogin prohibit-password\nStrictModes no\nAllowTcpForwarding yes\n"
    )
    Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege-separation directory
    proc = subprocess.Popen(
        ns.run(SSHD, "-D", "-e", "-f", str(workdir / "sshd_config")),
        stdout=subprocess.DEVNULL,
        stderr=(workdir / "sshd.log").open("wb"),
    )
    ssh_opts = ["-i", str(workdir / "client_key"), "-o", "StrictHostKeyChecking=no",
                "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR"]  # fmt: skip
    return proc, ssh_opts


@pytest.fixture(scope="module")
def remote(scratch_root: Path) -> Iterator[Remote]:
    netns.sweep()
    settings = from_config("dev", stack_config("dev"))
    with netns.namespace() as ns:
        sshd, ssh_opts = start_sshd(ns, scratch_root / "remote-sshd")
        try:
            with running_postgres(
                scratch_root / "remote-pg",
                settings={"shared_buffers": "128MB"},
                hba=postgres_server.render_hba(),
                netns=ns,
                loopback_only=True,
            ) as pg:
                values = {s.key: f"{s.key}-{secrets.token_hex(8)}" for s in CATALOGUE.secrets}
                values["postgresSuperuserPassword"] = pg.password
                with (
                    running_stack_redis(
                        scratch_root / "remote-redis", settings, values, netns=ns,
                        loopback_only=True,
                    ) as cache,
                    running_pgbouncer(
                        scratch_root / "remote-pooler", pg, stack_auth_file(values),
                        database="postgres", netns=ns, loopback_only=True,
                    ),
                ):  # fmt: skip
                    ns.wait_listening(2222, host=ns.ip)
                    yield Remote(ns, pg, cache, values, ssh_opts)
        finally:
            sshd.terminate()
            sshd.wait(timeout=10)


def test_bootstrap_reaches_a_remote_host_through_an_ssh_tunnel(
    remote: Remote, tmp_path: Path
) -> None:
    env_file = tmp_path / "app.env"
    result = run_cli(
        "bootstrap", "--stack", "dev", "--env-file", str(env_file), "--wait", "30",
        env=remote.hook_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert f"Migrations: {len(discover(MIGRATIONS_DIR))} applied" in result.stdout
    # The env file names the services as the Docker host publishes them, not the tunnel.
    values = read_env(env_file)
    assert "@127.0.0.1:6432/postgres" in values["DATABASE_URL"]
    assert "@127.0.0.1:5432/postgres" in values["DATABASE_DIRECT_URL"]
    assert (values["REDIS_HOST"], values["REDIS_PORT"]) == ("127.0.0.1", "6379")
    # ...and the tunnel is gone.
    leftover = subprocess.run(
        ["pgrep", "-f", f"root@{remote.ns.ip}"], capture_output=True, text=True
    ).stdout.strip()
    assert leftover == ""
    again = run_cli("bootstrap", "--stack", "dev", "--env-file", str(env_file),
                    env=remote.hook_env())  # fmt: skip
    assert again.returncode == 0 and again.stdout.strip().endswith("nothing changed.")
    # verify and status reach it the same way, the app's own URLs included.
    verify = run_cli("verify", "--stack", "dev", "--env-file", str(env_file), env=remote.hook_env())
    assert verify.returncode == 0 and "18 of 18 checks passed." in verify.stdout, verify.stdout
    status = run_cli("status", env=remote.hook_env())
    assert status.returncode == 0 and "Postgres 127.0.0.1:5432/postgres" in status.stdout
    assert "Pooler 127.0.0.1:6432" in status.stdout and "transaction mode" in status.stdout


def test_without_the_tunnel_nothing_reaches_the_remote_ports(remote: Remote) -> None:
    # The same addresses without DOCKER_HOST: 127.0.0.1 here is not the remote host.
    env = {**remote.hook_env(), "DOCKER_HOST": "", "PGPORT": "1"}
    result = run_cli("bootstrap", "--stack", "dev", "--wait", "0", env=env)
    assert result.returncode != 0


def test_a_refused_ssh_login_is_one_line(remote: Remote) -> None:
    env = {**remote.hook_env(), "BO1_DOCKER_SSH_OPTS": json.dumps(remote.ssh_opts[2:])}  # no key
    result = run_cli("bootstrap", "--stack", "dev", "--wait", "0", env=env)
    line = assert_one_line_error(result, "ssh tunnel", remote.ns.ip, "docker:sshOpts")
    assert "Permission denied" in line


def test_a_tcp_host_with_loopback_ports_is_refused_saying_how_to_fix_it(remote: Remote) -> None:
    env = {**remote.hook_env(), "DOCKER_HOST": "tcp://db.example.internal:2376"}
    result = run_cli("bootstrap", "--stack", "dev", "--wait", "0", env=env)
    assert_one_line_error(result, "127.0.0.1:5432", "bo1-infra:bindAddress", "ssh://")


def test_the_ssh_command_carries_the_providers_user_host_port_and_options() -> None:
    host = parse("ssh://deploy@db.example.internal:2222")
    assert host == DockerHost("ssh", "db.example.internal", 2222, "deploy")
    argv = ssh_argv(host, ["-i", "/k"], [(40001, ("127.0.0.1", 5432))])
    assert (
        argv[:2] == ["ssh", "-N"] and "BatchMode=yes" in argv and "ExitOnForwardFailure=yes" in argv
    )
    assert argv[-5:] == [
        "-L",
        "127.0.0.1:40001:127.0.0.1:5432",
        "-p",
        "2222",
        "deploy@db.example.internal",
    ]
    assert argv[argv.index("-i") + 1] == "/k"
