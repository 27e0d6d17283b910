#!/bin/sh
# Copy Redis's whole dataset into the repository volume as one RDB file (redis-cli
# --rdb: the server streams a consistent snapshot, as to a replica), keep the newest
# $keep, and print one JSON line. Settings (redis_host, redis_port, redis_user,
# password_file, redis_dir, keep) are assigned above; the password never reaches
# the command line.
set -u
cd / || exit 1  # cron starts jobs in /root: psql, run as postgres, would warn about it
stamp=$(date -u +%Y%m%dT%H%M%S.%3NZ)
final="$redis_dir/dump-$stamp.rdb"
partial="$redis_dir/.dump-$stamp.rdb.partial"
mkdir -p "$redis_dir" && chmod 700 "$redis_dir" || exit 1
REDISCLI_AUTH=$(cat "$password_file") || exit 1
export REDISCLI_AUTH
if out=$(redis-cli -h "$redis_host" -p "$redis_port" --user "$redis_user" --no-auth-warning \
  --rdb "$partial" 2>&1) && [ -s "$partial" ]; then
  mv "$partial" "$final"
  ls -1 "$redis_dir"/dump-*.rdb | sort -r | tail -n +$((keep + 1)) | xargs -r rm -f --
  printf '{"ok": true, "snapshot": "%s", "bytes": %s}\n' "$final" "$(stat -c %s "$final")"
else
  rm -f "$partial"
  why=$(printf '%s' "$out" | tail -n 1 | tr -d '"\\\000-\037')
  printf '{"ok": false, "detail": "redis-cli --rdb failed: %s"}\n' "$why"
  exit 1
fi
