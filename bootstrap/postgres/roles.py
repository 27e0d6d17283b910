"""Give the database roles the passwords from stack secrets, without ever logging them.

Each role gets its shared verifier (``scram.shared_verifier``): the very one
PgBouncer's auth file carries, so the pooler can pass SCRAM logins through.
Only a role whose stored verifier differs is altered, so a second run changes
nothing. The ALTER runs with statement logging off for its transaction, and
carries a verifier, never the plaintext.
"""

from __future__ import annotations

from collections.abc import Mapping

import psycopg
from psycopg import sql

from bootstrap.errors import Bo1Error, ConnectionFailed
from bootstrap.postgres import scram
from bootstrap.postgres.tenancy import APP_ROLE, SERVICE_ROLE

SUPERUSER = "postgres"
ROLE_SECRETS = {
    SUPERUSER: "postgresSuperuserPassword",
    APP_ROLE: "postgresAppPassword",
    SERVICE_ROLE: "postgresServicePassword",
}
SALT_KEY_SECRET = "postgresScramSaltKey"
# Off for the transaction that sets passwords: no statement text in the server log,
# not even when the ALTER fails.
_QUIET = (
    "SET LOCAL log_statement = 'none'",
    "SET LOCAL log_min_error_statement = 'panic'",
    "SET LOCAL log_min_duration_statement = -1",
)


def sync_passwords(
    conn: psycopg.Connection, passwords: Mapping[str, str], salt_key: str
) -> dict[str, str]:
    """Give each role its shared verifier where it differs; role -> 'set' | 'unchanged'."""
    wanted = {role: scram.shared_verifier(pw, role, salt_key) for role, pw in passwords.items()}
    with conn.transaction():
        stored: dict[str, str | None] = dict(
            conn.execute(
                "SELECT rolname, rolpassword FROM pg_authid WHERE rolname = ANY(%s)",
                [list(passwords)],
            ).fetchall()
        )
        missing = sorted(set(passwords) - set(stored))
        if missing:
            raise Bo1Error(
                f"role(s) {', '.join(missing)} do not exist; run `bo1-infra migrate up` first"
            )
        result = {
            role: "unchanged" if stored[role] == verifier else "set"
            for role, verifier in wanted.items()
        }
        if "set" in result.values():
            for statement in _QUIET:
                conn.execute(statement)
        for role, verifier in wanted.items():
            if result[role] == "unchanged":
                continue
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(verifier)
                )
            )
    return result


def rekey_superuser_locally(local_psql: str, password: str, salt_key: str) -> None:
    """Set the superuser's password over the database's local socket (peer), via psql.

    The Postgres image applies POSTGRES_PASSWORD_FILE only when it initializes an
    empty volume, so after a rotation the stored password is the old one and TCP
    logins with the new one fail. ``local_psql`` opens psql as the superuser on
    the socket as the ``postgres`` OS user, e.g. ``docker exec -i -u postgres
    bo1-dev-postgres psql -U postgres``. The statement goes over stdin, never argv.
    """
    import shlex
    import subprocess

    statements = [*(s.replace("SET LOCAL", "SET") for s in _QUIET)]
    verifier = scram.shared_verifier(password, SUPERUSER, salt_key)
    statements.append(f"ALTER ROLE {SUPERUSER} PASSWORD '{verifier}'")
    try:
        result = subprocess.run(
            [*shlex.split(local_psql), "-v", "ON_ERROR_STOP=1", "-q", "-X"],
            input=";\n".join(statements) + ";\n",
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ConnectionFailed(f"cannot run the local psql command ({local_psql}): {exc}") from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ConnectionFailed(f"re-keying the superuser over the local socket failed: {reason}")
