"""Put a Redis snapshot back: the RDB file becomes the base of a fresh AOF.

The stack's Redis runs with AOF on, and a Redis with AOF on ignores dump.rdb at
start. So the snapshot is installed as ``appendonlydir``'s base file with a
one-line manifest; Redis loads it, keeps the keys' absolute expiry times and
appends from there. The appendonlydir that was there is kept beside it. Redis
must be stopped while this runs (`docker stop bo1-<stack>-redis`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from bootstrap.backup.pgbackrest import BackupHost
from bootstrap.errors import BackupError, UsageError

BASE = "appendonly.aof.1.base.rdb"

_INSTALL = f"""
snapshots=$1; choice=$2; data=$3; stamp=$4
if [ "$choice" = latest ]; then
  snap=$(ls -1 "$snapshots"/dump-*.rdb 2>/dev/null | sort | tail -n 1)
else
  snap="$snapshots/$choice"
fi
[ -n "$snap" ] && [ -s "$snap" ] || {{ echo "no snapshot"; exit 3; }}
[ -d "$data" ] || {{ echo "no data directory"; exit 4; }}
kept=""
if [ -e "$data/appendonlydir" ]; then
  kept="$data/appendonlydir.before-restore-$stamp"
  mv "$data/appendonlydir" "$kept" || exit 1
fi
mkdir "$data/appendonlydir" && cp "$snap" "$data/appendonlydir/{BASE}" \\
  && printf 'file {BASE} seq 1 type b\\n' > "$data/appendonlydir/appendonly.aof.manifest" \\
  && chown -R --reference="$data" "$data/appendonlydir" || {{
    rm -rf "$data/appendonlydir"; [ -z "$kept" ] || mv "$kept" "$data/appendonlydir"; exit 1; }}
echo "$snap"
echo "$kept"
"""


@dataclass(frozen=True)
class RedisRestored:
    snapshot: str
    data_dir: str
    kept: str | None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        kept = f"; the previous AOF is kept in {self.kept}" if self.kept else ""
        return (
            f"Installed {self.snapshot} as the AOF base in {self.data_dir}/appendonlydir{kept}."
            " Start Redis: it loads the snapshot, and keys already past their TTL are gone."
        )


def snapshots_dir(host: BackupHost) -> str:
    from bootstrap.backup.restore import setting

    return f"{setting(host, 'repo1-path')}/redis"


def restore_redis(host: BackupHost, snapshots: str, choice: str, data_dir: str) -> RedisRestored:
    if "/" in choice:
        raise UsageError(f"--snapshot {choice!r}: give a file name from {snapshots}, no path")
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    done = host.shell(_INSTALL, snapshots, choice, data_dir, stamp)
    if done.returncode == 3:
        raise UsageError(
            f"no snapshot {choice} in {snapshots} on the backup host: `ls {snapshots}` lists"
            " them (the sidecar writes one a day)"
        )
    if done.returncode == 4:
        raise UsageError(f"--redis-data-dir {data_dir} is not a directory on the backup host")
    if done.returncode != 0:
        raise BackupError(f"could not install the snapshot: {done.stderr.strip() or 'failed'}")
    lines = [*done.stdout.splitlines(), "", ""]
    return RedisRestored(lines[0], data_dir, lines[1] or None)
