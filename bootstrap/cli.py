"""The ``bo1-infra`` command line.

Each verb imports what it needs only when it runs: ``migrate up`` with nothing
pending should cost little more than importing psycopg and one round trip.
Command functions return an int exit code; a ``Bo1Error`` becomes one line on
stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

Command = Callable[[argparse.Namespace], int]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the usage block stays in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


def _connection_args(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection")
    group.add_argument(
        "--dsn",
        default="",
        help="libpq DSN or URL; default: libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE",
    )
    group.add_argument(
        "--wait",
        nargs="?",
        type=float,
        const=60.0,
        default=0.0,
        metavar="SECONDS",
        help="wait for the database to accept connections (default 60 s when given)",
    )


def _migrate_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    migrate = sub.add_parser("migrate", help="apply, roll back or list SQL migrations")
    verbs = migrate.add_subparsers(dest="verb", required=True, metavar="{up,down,status}")

    common = Parser(add_help=False)
    _connection_args(common)
    common.add_argument(
        "--migrations-dir",
        help="folder of NNNN_name.up.sql / .down.sql files; default: $BO1_MIGRATIONS_DIR "
        "or the project's sql/migrations",
    )
    common.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another runner's migration lock (default 60)",
    )

    up = verbs.add_parser("up", parents=[common], help="apply pending migrations")
    up.add_argument("--to", type=int, metavar="V", help="stop after version V")
    up.set_defaults(command=_lazy("bootstrap.migrate.commands", "up"))

    down = verbs.add_parser("down", parents=[common], help="roll back applied migrations")
    how = down.add_mutually_exclusive_group()
    how.add_argument("--to", type=int, metavar="V", help="roll back to version V (0: all)")
    how.add_argument("--steps", type=int, metavar="N", help="roll back the newest N (default 1)")
    down.set_defaults(command=_lazy("bootstrap.migrate.commands", "down"))

    st = verbs.add_parser("status", parents=[common], help="list applied and pending migrations")
    st.set_defaults(command=_lazy("bootstrap.migrate.commands", "status"))


def _seed_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    seed = sub.add_parser("seed", help="load reference data")
    what = seed.add_subparsers(dest="what", required=True, metavar="{personas}")
    personas = what.add_parser("personas", help="upsert the expert personas from their data file")
    _connection_args(personas)
    personas.add_argument(
        "--file", help="persona data file (default: the project's bootstrap/data/personas.json)"
    )
    personas.add_argument(
        "--dry-run", action="store_true", help="report what would change, change nothing"
    )
    personas.set_defaults(command=_lazy("bootstrap.personas.commands", "personas"))


def _redis_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        help="Redis URL as bo1_ops (default: $REDIS_URL); the password is never printed",
    )


def _stack_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        default=os.environ.get("BO1_STACK", "dev"),
        help="stack name (default: $BO1_STACK or dev)",
    )
    parser.add_argument(
        "--env-file", help="the app env file (default: secrets/.env.<stack> in the project)"
    )
    parser.add_argument("--migrations-dir", help=argparse.SUPPRESS)


def _operations_parsers(sub: argparse._SubParsersAction[Parser]) -> None:
    boot = sub.add_parser(
        "bootstrap",
        help="wait for the services, migrate, seed personas, set passwords, write the env file",
        description="Secrets come from the BO1_* variables of secrets/catalogue.toml, never argv.",
    )
    _connection_args(boot)
    boot.set_defaults(wait=60.0)
    _redis_args(boot)
    _stack_args(boot)
    boot.add_argument("--personas-file", help=argparse.SUPPRESS)
    boot.set_defaults(command=_lazy("bootstrap.run", "bootstrap"))

    verify = sub.add_parser(
        "verify", help="check the data layer end to end; non-zero on any failure"
    )
    _connection_args(verify)
    _redis_args(verify)
    _stack_args(verify)
    verify.add_argument(
        "--redis-maxmemory", default="256mb", help="expected Redis maxmemory (default 256mb)"
    )
    verify.set_defaults(command=_lazy("bootstrap.verify", "verify"))

    status = sub.add_parser("status", help="one screen: migrations, personas, Redis memory")
    _connection_args(status)
    _redis_args(status)
    status.add_argument("--migrations-dir", help=argparse.SUPPRESS)
    status.set_defaults(command=_lazy("bootstrap.status", "status"))

    docs = sub.add_parser("docs", help="generated documentation")
    what = docs.add_subparsers(dest="what", required=True, metavar="{env,redis-keys}")
    for name, function, source in (
        ("env", "env", "docs/ENVIRONMENT_VARIABLES.md from the app env model and secret catalogue"),
        ("redis-keys", "redis_keys", "docs/REDIS_KEY_PATTERNS.md from the key-pattern registry"),
    ):
        doc = what.add_parser(name, help=source)
        doc.add_argument(
            "--write", action="store_true", help="write the file instead of printing it"
        )
        doc.set_defaults(command=_lazy("bootstrap.docs", function))


def _cleanup_parser(sub: argparse._SubParsersAction[Parser]) -> None:
    cleanup = sub.add_parser(
        "redis-cleanup",
        help="cron-ready Redis hygiene: TTLs, stale rate limits, orphaned checkpoints, memory",
        description="Exit 0: clean; 1: memory at or above 80%% of maxmemory; 2: an error.",
    )
    cleanup.add_argument("--url", help="Redis URL as bo1_ops (default: $REDIS_URL)")
    cleanup.add_argument(
        "--dry-run", action="store_true", help="report what would be done, change nothing"
    )
    cleanup.add_argument("--verbose", action="store_true", help="list every action on stderr")
    cleanup.add_argument("--json", action="store_true", help="print the summary as JSON")
    cleanup.add_argument(
        "--batch", type=int, default=1000, help="SCAN COUNT per batch (default 1000)"
    )
    cleanup.set_defaults(command=_lazy("bootstrap.redis_cleanup.command", "cleanup"))


def _lazy(module: str, name: str) -> Command:
    def run(args: argparse.Namespace) -> int:
        import importlib

        command: Command = getattr(importlib.import_module(module), name)
        return command(args)

    return run


_BUILDERS = {
    "migrate": _migrate_parser,
    "seed": _seed_parser,
    **dict.fromkeys(("bootstrap", "verify", "status", "docs"), _operations_parsers),
    "redis-cleanup": _cleanup_parser,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``command``'s part when it is known (argparse setup costs a few ms)."""
    parser = Parser(
        prog="bo1-infra", description="Bootstrap and operate the Board of One data layer."
    )
    sub = parser.add_subparsers(dest="group", required=True, metavar="COMMAND")
    builders = [_BUILDERS[command]] if command in _BUILDERS else dict.fromkeys(_BUILDERS.values())
    for build in builders:
        build(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(argv[0] if argv else None).parse_args(argv)
    from bootstrap.errors import Bo1Error

    try:
        return int(args.command(args))
    except Bo1Error as exc:
        print(f"bo1-infra: error: {exc.message}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("bo1-infra: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        # A failure we did not foresee still gets one line, never a traceback
        # (BO1_DEBUG=1 shows it). Library messages carry no passwords, and URLs are masked.
        if os.environ.get("BO1_DEBUG"):
            raise
        from bootstrap.masking import mask_password

        where = type(exc).__module__.split(".")[0]
        print(
            f"bo1-infra: error: {where}: {mask_password(' '.join(str(exc).split()))}",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
