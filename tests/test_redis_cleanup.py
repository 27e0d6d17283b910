"""`bo1-infra redis-cleanup` on a real redis-server started with the stack's rendered config."""

from __future__ import annotations

import json
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from bootstrap.redisdb.cleanup.job import ACTIONS
from bootstrap.redisdb.keys import (
    FAMILIES,
    KeyFamily,
    family_for,
    parent_key,
    thread_anchor,
    with_extra,
)
from infra.settings import from_config
from tests.support.cli import run_cli
from tests.support.ports import free_port
from tests.support.redis_server import RedisProcess, running_redis, running_stack_redis

PASSWORDS = {
    "redisAppPassword": "app-Pw-18c2",
    "redisOpsPassword": "ops-Pw-7d41",
    "redisHealthPassword": "hc-Pw-02f9",
}
DAY = 86400


@pytest.fixture
def redis_proc(tmp_path: Path) -> Iterator[RedisProcess]:
    with running_stack_redis(tmp_path / "redis", from_config("dev", {}), PASSWORDS) as proc:
        yield proc


def ops(proc: RedisProcess) -> redis.Redis:
    return proc.server.client()


def cleanup(
    proc: RedisProcess, *args: str, user: str = "bo1_ops", password: str | None = None
) -> Any:
    url = proc.server.url(user, password or PASSWORDS["redisOpsPassword"])
    return run_cli("redis-cleanup", *args, env={"REDIS_URL": url})


def snapshot(r: redis.Redis) -> dict[bytes, tuple[bytes, Any, int]]:
    """Every key with its type, value (DUMP) and absolute expiry: the keyspace, byte for byte.

    PEXPIRETIME, not TTL: the seconds left change while the test runs, the expiry does not.
    """
    return {k: (r.type(k), r.dump(k), r.pexpiretime(k)) for k in r.scan_iter(count=1000)}


# Each case: keys to create (name -> ttl or None), and what a real run must leave:
# "deleted", "kept" (value and expiry untouched), "ttl=N" or "expires_with=KEY".
ANCHOR = "checkpoint_latest:{}:__empty__"
CASES: dict[str, tuple[dict[str, int | None], dict[str, str]]] = {
    "session without TTL gets 1 day": (
        {"session:bo1_s1": None}, {"session:bo1_s1": "ttl=86400"}),
    "metadata without TTL gets 1 day": (
        {"metadata:bo1_s1": None}, {"metadata:bo1_s1": "ttl=86400"}),
    "cache without TTL gets 30 days": ({"cache:k": None}, {"cache:k": "ttl=2592000"}),
    "thread key without TTL gets 7 days": (
        {"checkpoint:t1:__empty__:c1": None}, {"checkpoint:t1:__empty__:c1": "ttl=604800"}),
    "thread key without TTL takes its anchor's later expiry": (
        {ANCHOR.format("t2"): 9 * DAY, "write_keys_zset:t2:__empty__:c1": None},
        {"write_keys_zset:t2:__empty__:c1": f"expires_with={ANCHOR.format('t2')}",
         ANCHOR.format("t2"): "kept"}),
    "thread key expiring before its anchor follows it": (
        {ANCHOR.format("t3"): 7 * DAY, "checkpoint_write:t3:__empty__:c1:task:0": 100},
        {"checkpoint_write:t3:__empty__:c1:task:0": f"expires_with={ANCHOR.format('t3')}"}),
    "a namespace with colons still belongs to its thread": (
        {ANCHOR.format("t4"): 7 * DAY, "checkpoint:t4:child:5f0c:c9": 500},
        {"checkpoint:t4:child:5f0c:c9": f"expires_with={ANCHOR.format('t4')}"}),
    "a thread without any session key is never deleted": (
        {"checkpoint:t5:__empty__:c1": 500, ANCHOR.format("t5"): 500},
        {"checkpoint:t5:__empty__:c1": "kept", ANCHOR.format("t5"): "kept"}),
    "ratelimit without TTL is deleted": (
        {"ratelimit:u1:chat": None}, {"ratelimit:u1:chat": "deleted"}),
    "ratelimit with a TTL over a day is deleted": (
        {"ratelimit:u1:api": 3 * DAY}, {"ratelimit:u1:api": "deleted"}),
    "healthy keys are left alone": (
        {"ratelimit:u1:ok": 30, "session:bo1_s3": 100, "cache:c": 50},
        {"ratelimit:u1:ok": "kept", "session:bo1_s3": "kept", "cache:c": "kept"}),
    "unknown keys are never touched": (
        {"legacy:thing": None, "user:9": 77}, {"legacy:thing": "kept", "user:9": "kept"}),
}  # fmt: skip


def create(r: redis.Redis, keys: dict[str, int | None]) -> None:
    for name, ttl in keys.items():
        r.set(name, "v", ex=ttl)


def assert_ttl_set_by_the_run(r: redis.Redis, name: str, ttl: int, started: float) -> None:
    """The key expires ``ttl`` seconds after the moment the job set it (between start and now)."""
    expires = r.pexpiretime(name) / 1000
    assert started + ttl - 1 <= expires <= time.time() + ttl + 1, (name, expires - started)


@pytest.mark.parametrize("case", CASES)
def test_each_action_in_a_real_run(redis_proc: RedisProcess, case: str) -> None:
    keys, expected = CASES[case]
    r = ops(redis_proc)
    create(r, keys)
    before = snapshot(r)
    started = time.time()
    result = cleanup(redis_proc)
    assert result.returncode == 0, result.stderr
    for name, outcome in expected.items():
        if outcome == "deleted":
            assert not r.exists(name), name
        elif outcome == "kept":
            assert (r.dump(name), r.pexpiretime(name)) == before[name.encode()][1:], name
        elif outcome.startswith("expires_with="):
            anchor = outcome.removeprefix("expires_with=")
            assert r.pexpiretime(name) == r.pexpiretime(anchor) > 0, name
        else:
            assert_ttl_set_by_the_run(r, name, int(outcome.removeprefix("ttl=")), started)


@pytest.mark.parametrize("case", CASES)
def test_each_action_in_a_dry_run_changes_nothing(redis_proc: RedisProcess, case: str) -> None:
    keys, expected = CASES[case]
    r = ops(redis_proc)
    create(r, keys)
    before = snapshot(r)
    dry = cleanup(redis_proc, "--dry-run", "--json", "--verbose")
    assert dry.returncode == 0, dry.stderr
    assert snapshot(r) == before  # key by key: type, value and expiry
    reported = {
        line.split()[1]: line.split()[0] for line in dry.stderr.splitlines() if line.strip()
    }
    for name, outcome in expected.items():
        if outcome == "deleted":
            assert reported[name].startswith("delete"), (name, reported)
        elif outcome == "kept":
            assert name not in reported
        elif outcome.startswith("expires_with=") and name in keys and keys[name] is not None:
            assert reported[name] == "align_thread"
        else:
            assert reported[name] == "expire"
    real = cleanup(redis_proc, "--json")
    assert json.loads(real.stdout)["actions"] == json.loads(dry.stdout)["actions"]


def reference_action(name: str, keys: dict[str, int | None]) -> str | None:
    """What the registry's rules say for one key: an independent reading of them, in Python."""
    family = family_for(name)
    if family is None:
        return None
    ttl = keys[name]
    if family.thread:
        anchor = thread_anchor(family, name)
        anchor_ttl = -1 if anchor is None or anchor == name or anchor not in keys else (
            keys[anchor] or family.ttl_seconds)  # fmt: skip
        if ttl is None:
            return "expire"
        return "align_thread" if anchor_ttl > ttl + 60 else None
    parent = parent_key(family, name)
    if parent is not None and parent not in keys:
        return "delete_orphan"
    if ttl is None:
        return "delete_no_ttl" if family.on_no_ttl == "delete" else "expire"
    if family.max_ttl_seconds is not None and ttl > family.max_ttl_seconds:
        return "delete_long_ttl"
    return None


def test_a_mixed_keyspace_matches_the_reference_rules(redis_proc: RedisProcess) -> None:
    """The Lua script against an independent reading of the registry, over random keys."""
    rng = random.Random(7)
    r = ops(redis_proc)
    keys: dict[str, int | None] = {}
    for i in range(3000):
        thread = f"t{rng.randint(0, 60)}"
        name = rng.choice([
            f"session:bo1_{i}", f"metadata:bo1_{i}", f"ratelimit:u{i}:x", f"cache:{i}", f"misc:{i}",
            f"checkpoint:{thread}:__empty__:{i}", f"checkpoint_write:{thread}:child:{i}:n:{i}:0",
            f"write_keys_zset:{thread}:__empty__:{i}", ANCHOR.format(thread),
        ])  # fmt: skip
        keys[name] = rng.choice([None, 30, 5000, 3 * DAY, 8 * DAY])
    create(r, keys)
    expected = dict.fromkeys(ACTIONS, 0)
    for name in keys:
        action = reference_action(name, keys)
        if action:
            expected[action] += 1
    dry = json.loads(cleanup(redis_proc, "--dry-run", "--json", "--batch", "100").stdout)
    assert dry["actions"] == expected
    assert dry["unknown"] == sum(1 for k in keys if family_for(k) is None)
    assert dry["scanned"] >= len(keys)  # SCAN may repeat a key; never skips one
    real = json.loads(cleanup(redis_proc, "--json").stdout)
    assert real["actions"] == expected
    again = json.loads(cleanup(redis_proc, "--json").stdout)
    assert set(again["actions"].values()) == {0}  # converged
    for name in keys:  # and every thread key now expires with (or after) its anchor
        family = family_for(name)
        anchor = family and thread_anchor(family, name)
        if anchor and anchor in keys and anchor != name:
            assert r.pexpiretime(name) >= r.pexpiretime(anchor) - 60_000, name


def test_a_stack_family_with_a_parent_loses_its_orphans(redis_proc: RedisProcess) -> None:
    """The orphan rule, on a family a stack adds (the built-in ones have no parent)."""
    from bootstrap.redisdb.cleanup import job

    usage = KeyFamily(
        "usage:", "usage:{id}", "string", 3600, "stack", "counters", "usage:x",
        parent_prefix="session:",
    )  # fmt: skip
    r = ops(redis_proc)
    create(r, {"session:bo1_a": 100, "usage:bo1_a:tokens": 50, "usage:bo1_gone:tokens": 50})
    tally = job.run(r, dry_run=False, families=with_extra([usage]))
    assert tally.total("delete_orphan") == 1
    assert r.exists("usage:bo1_a:tokens") and not r.exists("usage:bo1_gone:tokens")


def test_text_summary_and_verbose(redis_proc: RedisProcess) -> None:
    create(ops(redis_proc), {"session:a": None, "misc:1": None})
    result = cleanup(redis_proc, "--dry-run", "--verbose")
    assert result.returncode == 0
    assert "dry run: nothing changed" in result.stdout
    assert "session:*" in result.stdout and "would 1 expire" in result.stdout
    assert "1 keys matched no family and were left untouched" in result.stdout
    assert "expire           session:a" in result.stderr
    assert "misc:1" not in result.stderr


def test_never_uses_keys(redis_proc: RedisProcess) -> None:
    r = ops(redis_proc)
    create(r, {f"cache:{i}": None for i in range(50)})

    def calls(name: str) -> int:
        return int(r.info("commandstats").get(f"cmdstat_{name}", {}).get("calls", 0))

    keys_before, scans_before = calls("keys"), calls("scan")
    assert cleanup(redis_proc).returncode == 0
    assert calls("keys") == keys_before
    assert calls("scan") > scans_before


def test_memory_warning_exits_1(tmp_path: Path) -> None:
    settings = from_config("dev", {"redisMaxmemory": "8mb"})
    with running_stack_redis(tmp_path / "small", settings, PASSWORDS) as proc:
        r = ops(proc)
        value = "x" * 1024
        while r.info("memory")["used_memory"] < 0.85 * 8 * 2**20:
            with r.pipeline(transaction=False) as pipe:
                for i in range(200):
                    pipe.set(f"cache:{r.dbsize()}:{i}", value, ex=600)
                pipe.execute()
        result = cleanup(proc, "--json")
        report = json.loads(result.stdout)
        assert result.returncode == 1
        assert report["memory"]["warning"] is True and report["memory"]["used_ratio"] >= 0.8
        assert "WARNING" in cleanup(proc).stdout


# -- bad input: clear errors, exit 2 -------------------------------------------------


def test_unreachable_redis_exits_2() -> None:
    port = free_port()
    result = run_cli(
        "redis-cleanup", "--redis-url", f"redis://bo1_ops:Secret-Pw-1@127.0.0.1:{port}/0"
    )
    assert result.returncode == 2
    assert f"cannot connect to Redis at 127.0.0.1:{port}" in result.stderr
    assert "Secret-Pw-1" not in result.stdout + result.stderr
    assert "Traceback" not in result.stderr


def test_wrong_password_exits_2_without_echoing_it(redis_proc: RedisProcess) -> None:
    result = cleanup(redis_proc, "--json", password="Not-The-Pw-42")
    assert result.returncode == 2
    assert "refused the login" in result.stderr and "bo1_ops" in result.stderr
    assert "Not-The-Pw-42" not in result.stdout + result.stderr
    assert result.stdout == ""  # no report: the job never ran


def test_missing_url_exits_2() -> None:
    result = run_cli("redis-cleanup")
    assert result.returncode == 2 and "REDIS_URL" in result.stderr


@pytest.mark.parametrize(
    ("user", "key"), [("default", "redisAppPassword"), ("healthcheck", "redisHealthPassword")]
)
def test_a_user_without_the_rights_exits_2(redis_proc: RedisProcess, user: str, key: str) -> None:
    create(ops(redis_proc), {"misc:outside-app-patterns": 100, "session:z": None})
    result = cleanup(redis_proc, user=user, password=PASSWORDS[key])
    assert result.returncode == 2
    assert "lacks a right" in result.stderr and "use bo1_ops" in result.stderr
    assert ops(redis_proc).ttl("session:z") == -1  # nothing done


def test_read_only_replica_is_refused_but_can_be_dry_run(
    redis_proc: RedisProcess, tmp_path: Path
) -> None:
    create(ops(redis_proc), {"session:r": None})
    primary = redis_proc.server
    conf = primary.conf.read_text().split("# per-test-run overrides")[0]
    conf = conf.replace(str(primary.dir), str(tmp_path / "replica"))
    conf += f"\nreplicaof {primary.host} {primary.port}\nmasteruser bo1_ops\nmasterauth {PASSWORDS['redisOpsPassword']}\n"
    (tmp_path / "replica").mkdir()
    shutil.copy(
        primary.dir / "users.acl", tmp_path / "replica" / "users.acl"
    )  # same users as the primary
    with running_redis(
        tmp_path / "replica",
        conf,
        password=PASSWORDS["redisOpsPassword"],
        username="bo1_ops",
        binary=redis_proc.binary,
    ) as replica:
        r = replica.server.client()
        for _ in range(100):
            if r.info("replication").get("master_link_status") == "up" and r.exists("session:r"):
                break
            time.sleep(0.1)
        refused = cleanup(replica)
        assert refused.returncode == 2 and "read-only replica" in refused.stderr
        dry = cleanup(replica, "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        assert json.loads(dry.stdout)["actions"]["expire"] == 1
    assert ops(redis_proc).ttl("session:r") == -1


def test_cleanup_path_imports_neither_psycopg_nor_pydantic() -> None:
    import subprocess
    import sys

    code = "import sys, bootstrap.cli as c, bootstrap.redisdb.cleanup.commands; print('psycopg' in sys.modules, 'pydantic' in sys.modules)"
    assert subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split() == ["False", "False"]


def test_every_family_has_a_rule_in_the_script() -> None:
    from bootstrap.redisdb.cleanup.job import rules

    assert [rule["prefix"] for rule in json.loads(rules())] == [f.prefix for f in FAMILIES]


def test_progress_shows_on_a_terminal_and_only_there(redis_proc: RedisProcess) -> None:
    import os
    import pty
    import subprocess

    from tests.support.cli import BO1_INFRA

    create(ops(redis_proc), {f"cache:{i}": 60 for i in range(20)})
    env = {
        "REDIS_URL": redis_proc.server.url("bo1_ops", PASSWORDS["redisOpsPassword"]),
        "PATH": "/usr/bin:/bin",
    }
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [str(BO1_INFRA), "redis-cleanup", "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=follower,
    )
    os.close(follower)
    stdout, _ = proc.communicate(timeout=60)
    terminal = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        terminal += chunk
    os.close(leader)
    assert proc.returncode == 0
    assert b"scanned" in terminal
    assert json.loads(stdout)["scanned"] >= 20  # stdout stays pure JSON
    assert "scanned" not in cleanup(redis_proc).stderr  # not a terminal: no progress


def test_stack_families_are_read_from_the_stack_file(redis_proc: RedisProcess) -> None:
    create(ops(redis_proc), {"session:bo1_x": None})
    result = cleanup(redis_proc, "--stack", "dev", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["actions"]["expire"] == 1
    unknown = cleanup(redis_proc, "--stack", "qa")
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert "Pulumi.qa.yaml" in unknown.stderr and len(unknown.stderr.splitlines()) == 1
