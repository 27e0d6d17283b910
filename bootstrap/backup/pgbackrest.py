"""The live edge of backups: run pgBackRest and the drill on the backup host.

The backup host is wherever pgbackrest.conf and the repository live: on a stack
the backup sidecar (``docker exec -u postgres bo1-<stack>-backup``, also through
``DOCKER_HOST=ssh://...``), in the tests this machine. Commands go through one
prefix, so the same code serves both. pgBackRest's multi-line errors become one
line that says what to do.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from dataclasses import dataclass
from typing import Any

from bootstrap.backup.policy import STANZA
from bootstrap.errors import BackupError, UsageError

EXEC_ENV = "BO1_BACKUP_EXEC"
# `pgbackrest info` repository status codes that still mean a readable repository:
# ok, no valid backups yet, a backup or expire running.
READABLE = (0, 2, 6)
_ERROR = re.compile(r"ERROR: \[(?P<code>\d{3})\]: (?P<text>.*)")


@dataclass(frozen=True)
class BackupHost:
    prefix: tuple[str, ...]  # runs a command on the backup host; () runs it here
    config_dir: str

    @property
    def config(self) -> str:
        return f"{self.config_dir}/pgbackrest.conf"

    def run(self, argv: list[str]) -> subprocess.CompletedProcess[str]:
        command = [*self.prefix, *argv]
        try:
            # cwd "/": the backup host's user (postgres) may not enter the caller's directory.
            return subprocess.run(
                command,
                capture_output=True,
                text=True,
                errors="replace",
                stdin=subprocess.DEVNULL,
                cwd="/",
            )
        except FileNotFoundError:
            raise BackupError(
                f"cannot run {command[0]!r}: not installed here; set --backup-exec"
                f" (or ${EXEC_ENV}) to the command that reaches the backup host"
            ) from None

    def shell(self, script: str, *args: str) -> subprocess.CompletedProcess[str]:
        """A small POSIX sh script on the backup host; ``args`` arrive as $1, $2, ..."""
        return self.run(["sh", "-c", script, "sh", *args])

    def pgbackrest(self, *args: str) -> str:
        """pgbackrest's stdout, or a one-line BackupError."""
        done = self.run(["pgbackrest", f"--config={self.config}", f"--stanza={STANZA}", *args])
        if done.returncode != 0:
            verb = next((a for a in args if not a.startswith("-")), "")
            output = done.stdout + done.stderr
            if "No such container" in output:
                raise BackupError(
                    f"{' '.join(self.prefix)}: no such container: backups are off for this"
                    " stack (backupEnabled) or `pulumi up` has not created its sidecar yet"
                )
            if self.shell('test -r "$1"', self.config).returncode != 0:
                raise BackupError(
                    f"no readable {self.config} on the backup host: set --backup-config-dir"
                    " (or $BO1_BACKUP_CONFIG_DIR) to where the stack's pgbackrest.conf is"
                )
            raise BackupError(explain(verb, done.returncode, output))
        return done.stdout

    def info(self) -> dict[str, Any]:
        """The stanza's `pgbackrest info`, refused when its repository cannot be read."""
        # strict=False: a message quoting an undecryptable file carries raw control bytes.
        raw = self.pgbackrest("--output=json", "info")
        stanza: dict[str, Any] = json.loads(raw, strict=False)[0]
        for repo in stanza.get("repo", []):
            status = repo.get("status", {})
            if status.get("code", 0) not in READABLE:
                raise BackupError(unreadable(str(status.get("message", ""))))
        return stanza


def host_from(args: Any) -> BackupHost:
    """The backup host the CLI options name: --backup-exec, $BO1_BACKUP_EXEC, or the stack's."""
    prefix = args.backup_exec
    if prefix is None:
        prefix = os.environ.get(EXEC_ENV)
    if prefix is None:
        prefix = f"docker exec -u postgres bo1-{args.stack}-backup"
    try:
        words = tuple(shlex.split(prefix))
    except ValueError as exc:
        raise UsageError(f"--backup-exec: {exc}; quote it as a shell would") from None
    return BackupHost(words, args.backup_config_dir.rstrip("/") or "/")


def unreadable(message: str) -> str:
    first = message.splitlines()[0].rstrip(":") if message else "unknown error"
    if "missing stanza path" in message:
        return (
            "the repository has no stanza yet: the backup sidecar creates it when it starts;"
            " `bo1-infra backup run` also does"
        )
    return (
        f"the backup repository cannot be read ({first}): the cipher passphrase"
        " (pgbackrestCipherPassword) is not the one the repository was created with,"
        " or its backup.info is damaged; run `pgbackrest verify` on the backup host"
    )


def explain(verb: str, code: int, output: str) -> str:
    """pgBackRest's error output as one line that says what to do."""
    found = _ERROR.search(output)
    text = found.group("text").strip() if found else (output.strip().splitlines() or ["?"])[-1]
    number = int(found.group("code")) if found else code
    if "FormatError" in output and "info file" in output:
        return unreadable(output[output.index("[FormatError]") :])
    if number in (29, 32) or "decompressionFailed" in output or "checksum" in text:
        return (
            f"pgbackrest {verb}: a file in the repository is damaged ({text}); nothing usable"
            " was left behind; run `pgbackrest verify` on the backup host, then take a new"
            " full backup (`bo1-infra backup run --type full`)"
        )
    if number == 50 or "unable to acquire lock" in text:
        return f"pgbackrest {verb}: another backup or restore holds the lock ({text}); try later"
    if number == 55:
        return unreadable("missing stanza path")
    return f"pgbackrest {verb} failed: [{number:03d}] {text}"
