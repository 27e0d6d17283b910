"""SCRAM-SHA-256 verifiers: computed by libpq, checked here.

``ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'`` stores a verifier the client
computed, so the plaintext never reaches the server, its logs or
pg_stat_activity. libpq computes it (``PQencryptPasswordConn``, with SASLprep
for non-ASCII passwords), exactly as ``psql``'s ``\\password`` does.

libpq has no way to check a password against a stored verifier, which is what
lets a second bootstrap leave an unchanged password alone: ``matches`` does
that, with the same SASLprep (RFC 4013) PostgreSQL applies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import stringprep
import unicodedata
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import psycopg

ALGORITHM = b"scram-sha-256"
# PostgreSQL's own choices for a verifier: 4096 iterations (fixed in 15), a 16-byte salt.
ITERATIONS = 4096
SALT_BYTES = 16


def check_password(password: str, what: str) -> None:
    """A password must be non-empty and free of control characters (it lands in env files)."""
    from bootstrap.errors import UsageError

    if not password:
        raise UsageError(f"{what} is empty")
    if any(unicodedata.category(ch) == "Cc" for ch in password):
        raise UsageError(f"{what} holds a control character (a newline?); remove it")


def verifier(password: str, role: str, conn: psycopg.Connection | None = None) -> str:
    """libpq's SCRAM verifier for ``password``; ``conn`` lends its server's iteration count."""
    from psycopg import pq

    if conn is not None:
        return conn.pgconn.encrypt_password(password.encode(), role.encode(), ALGORITHM).decode()
    # A connection object that never connects: libpq needs one, not a server.
    detached = pq.PGconn.connect_start(b"host=/nonexistent-bo1-socket-dir")
    try:
        return detached.encrypt_password(password.encode(), role.encode(), ALGORITHM).decode()
    finally:
        detached.finish()


def shared_verifier(password: str, role: str, salt_key: str) -> str:
    """The one verifier of ``role`` that Postgres stores and PgBouncer's auth file carries.

    PgBouncer passes a client's SCRAM login through to Postgres only when its auth
    file holds the verifier the server stores, byte for byte (salt and iterations
    included). So the salt is not random but derived from a stack secret
    (``postgresScramSaltKey``) and the role: bootstrap and the Pulumi program compute
    the same verifier independently, with no plaintext on disk, and salts differ per
    role and per stack. The password stays out of the salt: a salt derived from it
    would let whoever holds the key test a guess with one HMAC instead of 4096
    PBKDF2 rounds.
    """
    salt = hmac.new(salt_key.encode(), b"bo1-infra scram salt\0" + role.encode(), hashlib.sha256)
    stored_key, server_key = _keys(prepared(password), salt.digest()[:SALT_BYTES], ITERATIONS)
    parts = (salt.digest()[:SALT_BYTES], stored_key, server_key)
    b64_salt, b64_stored, b64_server = (base64.b64encode(x).decode() for x in parts)
    return f"SCRAM-SHA-256${ITERATIONS}:{b64_salt}${b64_stored}:{b64_server}"


def matches(stored: str | None, password: str) -> bool:
    """Whether ``stored`` (pg_authid.rolpassword) is a SCRAM verifier of ``password``."""
    if not stored or not stored.startswith("SCRAM-SHA-256$"):
        return False
    try:
        params, keys = stored.removeprefix("SCRAM-SHA-256$").split("$")
        iterations, salt = params.split(":")
        stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
        expected = _keys(prepared(password), base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected[0], stored_key) and hmac.compare_digest(
        expected[1], server_key
    )


def prepared(password: str) -> bytes:
    """The bytes PostgreSQL hashes: SASLprep'd, or the raw UTF-8 when SASLprep refuses."""
    raw = password.encode()
    if password.isascii():
        return raw  # PostgreSQL skips SASLprep for pure ASCII
    mapped = "".join(
        " " if stringprep.in_table_c12(ch) else ch
        for ch in password
        if not stringprep.in_table_b1(ch)
    )
    normalized = unicodedata.normalize("NFKC", mapped)
    if not normalized or any(_prohibited(ch) for ch in normalized):
        return raw
    if any(stringprep.in_table_d1(ch) for ch in normalized) and (
        any(stringprep.in_table_d2(ch) for ch in normalized)
        or not stringprep.in_table_d1(normalized[0])
        or not stringprep.in_table_d1(normalized[-1])
    ):
        return raw  # bidirectional rules of RFC 3454 section 6
    return normalized.encode()


_PROHIBITED = (
    stringprep.in_table_c12,
    stringprep.in_table_c21,
    stringprep.in_table_c22,
    stringprep.in_table_c3,
    stringprep.in_table_c4,
    stringprep.in_table_c5,
    stringprep.in_table_c6,
    stringprep.in_table_c7,
    stringprep.in_table_c8,
    stringprep.in_table_c9,
    stringprep.in_table_a1,  # unassigned code points are refused too
)


def _prohibited(ch: str) -> bool:
    return any(table(ch) for table in _PROHIBITED)


def _keys(password: bytes, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password, salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key
