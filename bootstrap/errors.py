"""One exception class per failure a user can cause or meet.

Every error carries a one-line message that says what went wrong and, where
possible, how to fix it. The CLI prints it without a traceback and exits with
``exit_code``. No message ever contains a password: callers build messages
from host, port, user and file names only.
"""

from __future__ import annotations


class Bo1Error(Exception):
    """Base class: a failure with a user-facing, single-line message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        # Collapse newlines: libpq and server messages span lines; ours never do.
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self.args[0])


class UsageError(Bo1Error):
    """Bad arguments or settings given on the command line or environment."""

    exit_code = 2


class ConnectionFailed(Bo1Error):
    """The database (or Redis) could not be reached or refused the login."""


class AuthenticationFailed(ConnectionFailed):
    """The server answered but refused the credentials."""


class MigrationFileError(Bo1Error):
    """A migration file is missing, misnamed or unreadable."""


class MigrationDrift(Bo1Error):
    """An applied migration's file no longer matches the recorded checksum."""


class MigrationFailed(Bo1Error):
    """A migration's SQL failed; its transaction was rolled back."""


class UnknownTarget(UsageError):
    """A --to version that no migration file has."""


class LockTimeout(Bo1Error):
    """Another runner held the migration lock for longer than allowed."""


class PersonaFileError(Bo1Error):
    """The persona data file is unreadable, not JSON, or fails validation."""


class TenancyError(Bo1Error):
    """A tenant scope used in a way that would let the tenant outlive its transaction."""


class BackupError(Bo1Error):
    """pgBackRest, the drill or a restore failed, or the repository cannot be read."""
