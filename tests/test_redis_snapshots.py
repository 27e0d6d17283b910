"""Redis snapshots on the real binaries: the rendered snapshot job copies the dataset out
through redis-cli --rdb as bo1_ops, and `bo1-infra backup restore-redis` puts it back into
a Redis that runs the stack's own redis.conf (AOF on)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from bootstrap.backup.policy import Paths, Policy, RedisSource, redis_snapshot_script
from bootstrap.redisdb.users import OPS_USER
from infra.settings import from_config
from tests.support.backup_stack import write_config
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.redis_server import running_stack_redis
from tests.test_redis_durability import PASSWORDS


def _snapshot_job(tmp_path: Path, port: int, keep: int) -> tuple[Path, Paths]:
    paths = Paths(config_dir=str(tmp_path / "conf"), repo=str(tmp_path / "repo"))
    password_file = tmp_path / "ops-password"
    password_file.write_text(PASSWORDS["redisOpsPassword"])
    source = RedisSource("127.0.0.1", port, OPS_USER, str(password_file))
    script = tmp_path / "bo1-redis-snapshot"
    script.write_text(redis_snapshot_script(Policy(redis_keep=keep), paths, source))
    script.chmod(0o755)
    write_config(paths, Policy(), "unused-passphrase")  # restore-redis reads repo1-path
    return script, paths


@pytest.mark.parametrize("line", ["8.8", "7.2"])
def test_a_snapshot_brings_back_every_key_with_its_expiry(tmp_path: Path, line: str) -> None:
    settings = from_config("prod", {"redisLine": line})
    with running_stack_redis(tmp_path / "redis", settings, PASSWORDS) as proc:
        r = proc.server.client()
        r.set("session:abc", "alive", ex=7 * 86400)
        r.hset("metadata:abc", mapping={"status": "running"})
        r.set("ratelimit:u1", 3, ex=60)
        expiry = r.pexpiretime("session:abc")
        # Each snapshot takes ~5 s: Redis waits repl-diskless-sync-delay for more replicas.
        script, paths = _snapshot_job(tmp_path, proc.server.port, keep=1)
        runs = [subprocess.run([str(script)], capture_output=True, text=True) for _ in range(2)]
        assert all(run.returncode == 0 for run in runs), runs
        reports = [json.loads(run.stdout) for run in runs]
        assert all(rep["ok"] and rep["bytes"] > 0 for rep in reports)
        kept = sorted(Path(paths.redis_dir).glob("dump-*.rdb"))
        assert [k.name for k in kept] == sorted(Path(r["snapshot"]).name for r in reports[1:])
        assert PASSWORDS["redisOpsPassword"] not in "".join(x.stdout + x.stderr for x in runs)
        r.set("session:after-the-snapshot", "x")
        proc.stop()
        # The loss: Redis's AOF is gone.
        subprocess.run(["rm", "-rf", str(proc.server.dir / "appendonlydir")], check=True)
        done = run_cli(
            "backup", "restore-redis", "--latest", "--redis-data-dir", str(proc.server.dir),
            "--backup-config-dir", paths.config_dir, "--json", env={"BO1_BACKUP_EXEC": ""},
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout)["snapshot"] == str(kept[-1])
        proc.start()
        r = proc.server.client()
        assert r.get("session:abc") == b"alive" and r.pexpiretime("session:abc") == expiry
        assert r.hgetall("metadata:abc") == {b"status": b"running"}
        assert r.exists("session:after-the-snapshot") == 0
        assert r.info("persistence")["aof_enabled"] == 1
        r.set("cache:new", "1")  # and it appends from there
        time.sleep(1.2)
        proc.kill()
        proc.start()
        assert proc.server.client().get("cache:new") == b"1"


def test_restore_redis_keeps_the_aof_it_replaces(tmp_path: Path) -> None:
    settings = from_config("prod", {"redisLine": "7.2"})
    with running_stack_redis(tmp_path / "redis", settings, PASSWORDS) as proc:
        proc.server.client().set("cache:x", "1")
        script, paths = _snapshot_job(tmp_path, proc.server.port, keep=3)
        assert subprocess.run([str(script)], capture_output=True).returncode == 0
        proc.stop()
    data = tmp_path / "redis"
    before = sorted(p.name for p in (data / "appendonlydir").iterdir())
    args = ["--redis-data-dir", str(data), "--backup-config-dir", paths.config_dir]
    missing = run_cli("backup", "restore-redis", "--snapshot", "dump-none.rdb", *args,
                      env={"BO1_BACKUP_EXEC": ""})  # fmt: skip
    assert_one_line_error(missing, "no snapshot dump-none.rdb")
    done = run_cli("backup", "restore-redis", "--latest", *args, "--json",
                   env={"BO1_BACKUP_EXEC": ""})  # fmt: skip
    assert done.returncode == 0, done.stderr
    kept = Path(json.loads(done.stdout)["kept"])
    assert sorted(p.name for p in kept.iterdir()) == before
