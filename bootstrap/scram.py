"""SCRAM-SHA-256 verifiers (RFC 5802/7677), computed client-side.

``ALTER ROLE ... PASSWORD 'SCRAM-SHA-256$...'`` stores a verifier the client
computed, so the plaintext password never reaches the server, its logs or
pg_stat_activity. Checking a stored verifier against a password lets a second
bootstrap leave an unchanged password alone.

Passwords must be printable ASCII: for those, SASLprep is the identity and
this matches what libpq computes exactly.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

ITERATIONS = 4096  # what PostgreSQL itself uses (scram_iterations)


def check_password(password: str, what: str) -> None:
    from bootstrap.errors import UsageError

    if not password or not all(" " <= ch <= "~" for ch in password):
        raise UsageError(f"{what} must be non-empty printable ASCII")


def verifier(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt if salt is not None else os.urandom(16)
    stored_key, server_key = _keys(password, salt, iterations)
    b64 = base64.b64encode
    return (
        f"SCRAM-SHA-256${iterations}:{b64(salt).decode()}"
        f"${b64(stored_key).decode()}:{b64(server_key).decode()}"
    )


def matches(stored: str | None, password: str) -> bool:
    """Whether ``stored`` (pg_authid.rolpassword) is a SCRAM verifier of ``password``."""
    if not stored or not stored.startswith("SCRAM-SHA-256$"):
        return False
    try:
        params, keys = stored.removeprefix("SCRAM-SHA-256$").split("$")
        iterations, salt = params.split(":")
        stored_key, server_key = (base64.b64decode(k) for k in keys.split(":"))
        expected = _keys(password, base64.b64decode(salt), int(iterations))
    except ValueError:
        return False
    return hmac.compare_digest(expected[0], stored_key) and hmac.compare_digest(
        expected[1], server_key
    )


def _keys(password: str, salt: bytes, iterations: int) -> tuple[bytes, bytes]:
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return hashlib.sha256(client_key).digest(), server_key
