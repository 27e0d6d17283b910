"""The ``bo1-infra`` command line: one table of verbs, shared options, one function per verb.

Every verb takes the same flag for the same thing: ``--dsn`` for Postgres,
``--redis-url`` for Redis, ``--wait`` for both, ``--migrations-dir`` and
``--stack`` where they apply. Each verb function imports its concern only when
it runs: ``migrate up`` with nothing pending should cost little more than
importing psycopg and one round trip. Verbs return an exit code; a
``Bo1Error`` becomes one line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NoReturn

Command = Callable[[argparse.Namespace], int]
Options = Callable[[argparse.ArgumentParser], None]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the usage block stays in --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}; see {self.prog} --help\n")


# -- shared options ----------------------------------------------------------------


def postgres_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dsn",
        default="",
        help="PostgreSQL DSN or URL; default: libpq's PGHOST, PGPORT, PGUSER, PGPASSWORD,"
        " PGDATABASE. Logs in as `postgres` unless it or PGUSER names a user;"
        " the password: --dsn, else $BO1_POSTGRES_SUPERUSER_PASSWORD, else PGPASSWORD",
    )


def redis_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--redis-url",
        default="",
        help="Redis URL as bo1_ops (default: $REDIS_URL), or on an ha stack the Sentinels'"
        " redis+sentinel://bo1_ops:PASSWORD@HOST:26379,.../bo1; the password is never printed",
    )


def wait_option(default: float = 0.0) -> Options:
    def add(parser: argparse.ArgumentParser) -> None:
        parser.add_argument(
            "--wait",
            nargs="?",
            type=float,
            const=60.0,
            default=default,
            metavar="SECONDS",
            help="wait for the services to accept connections (60 s when given without a value;"
            f" default {default:g})",
        )

    return add


def remote_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--docker-host",
        default=os.environ.get("DOCKER_HOST", ""),
        help="the stack's Docker host (default: $DOCKER_HOST): ssh://[USER@]HOST reaches its"
        " published ports through an ssh tunnel (options: $BO1_DOCKER_SSH_OPTS, a JSON list),"
        " tcp://HOST connects to HOST; unset: this machine",
    )


def _port(text: str) -> int:
    if not text.isdigit() or not 0 < int(text) < 65536:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (1-65535)")
    return int(text)


def pooler_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pooler-port",
        type=_port,
        default=None,
        metavar="PORT",
        help="the stack's PgBouncer port on the Postgres host (default: $BO1_POOLER_PORT,"
        " else poolerPort of Pulumi.<stack>.yaml)",
    )


def migrations_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--migrations-dir",
        help="folder of NNNN_name.up.sql / .down.sql files; default: $BO1_MIGRATIONS_DIR"
        " or the project's sql/migrations",
    )


def stack_option(parser: argparse.ArgumentParser, also: str = "") -> None:
    parser.add_argument(
        "--stack",
        default=os.environ.get("BO1_STACK", "dev"),
        help=f"stack name (default: $BO1_STACK or dev){also}",
    )


def stack_options(parser: argparse.ArgumentParser) -> None:
    stack_option(parser)
    parser.add_argument(
        "--env-file", help="the app's env file (default: secrets/.env.<stack> in the project)"
    )


def lock_timeout_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        metavar="SECONDS",
        help="how long to wait for another runner's migration lock (default 60)",
    )


def target_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--to", type=int, metavar="V", help="stop after version V")


def rollback_options(parser: argparse.ArgumentParser) -> None:
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--to", type=int, metavar="V", help="roll back to version V (0: all)")
    how.add_argument("--steps", type=int, metavar="N", help="roll back the newest N (default 1)")


def name_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", help="what the migration does, e.g. add_session_tags")


def personas_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--file", help="persona data file (default: the project's bootstrap/personas/personas.json)"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would change, change nothing"
    )


def bootstrap_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--personas-file",
        help="persona data file (default: the project's bootstrap/personas/personas.json)",
    )


def cleanup_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dry-run", action="store_true", help="report what would be done, change nothing"
    )
    parser.add_argument("--verbose", action="store_true", help="list every action on stderr")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument(
        "--batch", type=int, default=1000, help="SCAN COUNT per batch (default 1000)"
    )
    parser.add_argument(
        "--stack",
        help="also apply the stack's own key families (redisKeyFamilies in Pulumi.<stack>.yaml);"
        " default: the built-in families only",
    )


def docs_options(parser: argparse.ArgumentParser) -> None:
    how = parser.add_mutually_exclusive_group()
    how.add_argument("--write", action="store_true", help="rewrite every file that is stale")
    how.add_argument("--show", metavar="NAME", help="print one generated file to stdout")


def backup_host_options(parser: argparse.ArgumentParser) -> None:
    stack_option(parser, "; its backup sidecar is bo1-<stack>-backup")
    parser.add_argument(
        "--backup-exec",
        metavar="PREFIX",
        help="the command that runs a command on the backup host (default: $BO1_BACKUP_EXEC,"
        " else `docker exec -u postgres bo1-<stack>-backup`, which DOCKER_HOST also reaches;"
        " an empty string: this machine)",
    )
    parser.add_argument(
        "--backup-config-dir",
        default=os.environ.get("BO1_BACKUP_CONFIG_DIR", "/etc/pgbackrest"),
        metavar="DIR",
        help="where pgbackrest.conf and bo1-drill are on the backup host"
        " (default: $BO1_BACKUP_CONFIG_DIR or /etc/pgbackrest)",
    )
    parser.add_argument("--json", action="store_true", help="print the result as JSON")


def backup_type_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--type",
        choices=("full", "diff", "incr"),
        default="incr",
        help="full, differential (since the last full) or incremental (since the last backup);"
        " default incr, which pgBackRest makes full when there is none yet",
    )


def restore_options(parser: argparse.ArgumentParser) -> None:
    point = parser.add_mutually_exclusive_group(required=True)
    point.add_argument(
        "--latest", action="store_true", help="the newest point: every archived WAL replayed"
    )
    point.add_argument(
        "--to",
        metavar="TIMESTAMP",
        help="a point in time with its zone, e.g. 2026-11-27T15:04:05+00:00: every"
        " transaction committed by then, none after",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument(
        "--target-dir",
        metavar="DIR",
        help="a new or empty directory on the backup host (a new volume mounted there)",
    )
    where.add_argument(
        "--in-place",
        action="store_true",
        help="over the stack's own data directory, Postgres stopped; the current data is kept"
        " beside it as <pgdata>.before-restore-<time>",
    )


def redis_restore_options(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--latest", action="store_true", help="the newest snapshot")
    which.add_argument("--snapshot", metavar="FILE", help="one snapshot by name (dump-....rdb)")
    parser.add_argument(
        "--redis-data-dir",
        required=True,
        metavar="DIR",
        help="Redis's data directory on the backup host (its volume mounted there), Redis stopped",
    )
    parser.add_argument(
        "--snapshots-dir",
        metavar="DIR",
        help="where the snapshots are (default: <repo1-path>/redis from pgbackrest.conf)",
    )


# -- one function per verb ---------------------------------------------------------


def migrate_up(args: argparse.Namespace) -> int:
    from bootstrap.migrate import commands

    return commands.migrate_up(args)


def migrate_down(args: argparse.Namespace) -> int:
    from bootstrap.migrate import commands

    return commands.migrate_down(args)


def migrate_status(args: argparse.Namespace) -> int:
    from bootstrap.migrate import commands

    return commands.migrate_status(args)


def migrate_new(args: argparse.Namespace) -> int:
    from bootstrap.migrate import commands

    return commands.migrate_new(args)


def seed_personas(args: argparse.Namespace) -> int:
    from bootstrap.personas import commands

    return commands.seed_personas(args)


def bootstrap(args: argparse.Namespace) -> int:
    from bootstrap.ops import bootstrap as ops

    return ops.bootstrap(args)


def verify(args: argparse.Namespace) -> int:
    from bootstrap.ops import verify as ops

    return ops.verify(args)


def status(args: argparse.Namespace) -> int:
    from bootstrap.ops import status as ops

    return ops.stack_status(args)


def redis_cleanup(args: argparse.Namespace) -> int:
    from bootstrap.redisdb.cleanup import commands

    return commands.redis_cleanup(args)


def docs(args: argparse.Namespace) -> int:
    from bootstrap.ops import docs as ops

    return ops.docs(args)


def backup_run(args: argparse.Namespace) -> int:
    from bootstrap.backup import commands

    return commands.backup_run(args)


def backup_list(args: argparse.Namespace) -> int:
    from bootstrap.backup import commands

    return commands.backup_list(args)


def backup_restore(args: argparse.Namespace) -> int:
    from bootstrap.backup import commands

    return commands.backup_restore(args)


def backup_restore_redis(args: argparse.Namespace) -> int:
    from bootstrap.backup import commands

    return commands.backup_restore_redis(args)


def backup_drill(args: argparse.Namespace) -> int:
    from bootstrap.backup import commands

    return commands.backup_drill(args)


@dataclass(frozen=True)
class Verb:
    words: tuple[str, ...]  # ("migrate", "up")
    summary: str  # its line in the parent's listing
    description: str  # the first paragraph of its --help
    options: tuple[Options, ...]
    run: Command


PG, REDIS, WAIT, MIGRATIONS = postgres_options, redis_options, wait_option(), migrations_option

VERBS = (
    Verb(("migrate", "up"), "apply pending migrations",
         "Apply every pending migration (or up to --to), each in its own transaction.",
         (PG, WAIT, MIGRATIONS, lock_timeout_option, target_option), migrate_up),
    Verb(("migrate", "down"), "roll back applied migrations",
         "Roll back the newest migration, the newest --steps N, or everything above --to V.",
         (PG, WAIT, MIGRATIONS, lock_timeout_option, rollback_options), migrate_down),
    Verb(("migrate", "status"), "list applied, pending and changed migrations",
         "List every migration with its state (applied, pending, changed, file missing).",
         (PG, WAIT, MIGRATIONS), migrate_status),
    Verb(("migrate", "new"), "write the next numbered up/down pair",
         "Create NNNN_name.up.sql and NNNN_name.down.sql with the next free number.",
         (MIGRATIONS, name_argument), migrate_new),
    Verb(("seed", "personas"), "upsert the expert personas from their data file",
         "Insert, update, deactivate or remove personas so the table matches the data file,"
         " in one transaction.",
         (PG, WAIT, personas_options), seed_personas),
    Verb(("bootstrap",), "wait, migrate, seed personas, set passwords, write the env file",
         "Bring a stack's fresh containers to a ready data layer. Idempotent. Secrets come"
         " from the BO1_* variables of secrets/catalogue.toml, never from argv.",
         (PG, REDIS, wait_option(60.0), remote_option, MIGRATIONS, stack_options,
          pooler_option, bootstrap_options), bootstrap),
    Verb(("verify",), "check the data layer end to end; non-zero on any failure",
         "Check schema, row-level security, personas, migrations, the pooler, Redis settings"
         " and the app's own logins against the stack; print a table; exit 1 on any failure.",
         (PG, REDIS, WAIT, remote_option, MIGRATIONS, stack_options, pooler_option), verify),
    Verb(("status",), "one screen: migrations, personas, pooler, Redis memory",
         "Show where the data layer stands: migrations, personas, backups, the pooler's"
         " pools and Redis memory.",
         (PG, REDIS, WAIT, remote_option, MIGRATIONS, stack_option, pooler_option), status),
    Verb(("redis-cleanup",), "cron-ready Redis hygiene: TTLs, stale keys, orphans, memory",
         "One SCAN pass that gives keys their TTL and deletes stale and orphaned ones."
         " Exit 0: clean; 1: memory at or above 80% of maxmemory; 2: an error.",
         (REDIS, WAIT, cleanup_options), redis_cleanup),
    Verb(("backup", "run"), "take a backup now (full, diff or incr)",
         "Take a pgBackRest backup on the backup host now, creating the stanza on first use.",
         (backup_host_options, backup_type_option), backup_run),
    Verb(("backup", "list"), "list the backups and the restorable range",
         "List the repository's backups, oldest first, and the range a restore can reach.",
         (backup_host_options,), backup_list),
    Verb(("backup", "restore"), "restore the newest point or a point in time",
         "Restore --latest or --to a point in time into --target-dir (a new directory), or"
         " --in-place over the stopped stack's data, which is kept beside it.",
         (backup_host_options, restore_options), backup_restore),
    Verb(("backup", "restore-redis"), "put a Redis snapshot back as the AOF base",
         "Install the newest (or a named) Redis snapshot as the base of a fresh AOF in"
         " Redis's data directory, keeping the AOF that was there; Redis must be stopped.",
         (backup_host_options, redis_restore_options), backup_restore_redis),
    Verb(("backup", "drill"), "restore into a scratch server and check it",
         "Restore the newest backup into a scratch Postgres, start it, compare migrations,"
         " personas and row counts with the source, record the result; exit 1 when it"
         " fails or the newest backup is older than the policy allows.",
         (backup_host_options,), backup_drill),
    Verb(("docs",), "check or rewrite the generated docs",
         "Check that every generated file (docs and secrets/.env.example) matches the code"
         " it mirrors; --write rewrites the stale ones, --show NAME prints one.",
         (docs_options,), docs),
)  # fmt: skip


def build_parser(first_word: str | None = None) -> argparse.ArgumentParser:
    """The parser; only ``first_word``'s verbs when it names some (argparse setup costs ms)."""
    parser = Parser(
        prog="bo1-infra", description="Bootstrap and operate the Board of One data layer."
    )
    chosen = [v for v in VERBS if v.words[0] == first_word] or list(VERBS)
    groups: dict[tuple[str, ...], argparse._SubParsersAction[Parser]] = {
        (): parser.add_subparsers(dest="verb_0", required=True, metavar="COMMAND")
    }
    for verb in chosen:
        _add_verb(groups, verb)
    return parser


def _add_verb(
    groups: dict[tuple[str, ...], argparse._SubParsersAction[Parser]], verb: Verb
) -> None:
    for depth in range(1, len(verb.words)):
        prefix = verb.words[:depth]
        if prefix not in groups:
            words = [v.words[depth] for v in VERBS if v.words[:depth] == prefix]
            group = groups[prefix[:-1]].add_parser(
                prefix[-1],
                help=f"{prefix[-1]} commands: {', '.join(words)}",
                description=f"bo1-infra {' '.join(prefix)}: {', '.join(words)}.",
            )
            groups[prefix] = group.add_subparsers(
                dest=f"verb_{depth}", required=True, metavar="{" + ",".join(words) + "}"
            )
    sub = groups[verb.words[:-1]].add_parser(
        verb.words[-1], help=verb.summary, description=verb.description
    )
    for add in verb.options:
        add(sub)
    sub.set_defaults(command=verb.run)


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
