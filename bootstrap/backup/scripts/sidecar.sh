#!/bin/sh
# The backup sidecar's entry point, as root under Docker's init: wait for Postgres,
# create the stanza, start the first full backup when the repository has none, then
# hand over to the scheduler (cron -f), which runs the schedule in $crontab. Every
# job runs as postgres. Settings (bindir, conf, stanza, socket, port, crontab,
# scheduler) are assigned above.
set -u
cd / || exit 1  # cron starts jobs in /root: psql, run as postgres, would warn about it
say() { echo "bo1-backup: $*"; }
as_postgres() { runuser -u postgres -- "$@"; }
until as_postgres "$bindir/pg_isready" -q -h "$socket" -p "$port"; do sleep 2; done
until as_postgres pgbackrest --config="$conf" --stanza="$stanza" stanza-create; do
  say "stanza-create failed; retrying in 30 s"
  sleep 30
done
if ! as_postgres pgbackrest --config="$conf" --stanza="$stanza" --output=json info | grep -q '"label"'; then
  say "the repository holds no backup: taking the first full backup now"
  (as_postgres pgbackrest --config="$conf" --stanza="$stanza" --type=full backup \
    && say "the first full backup is done") &
fi
say "schedule: $(grep -c ' root runuser ' "$crontab") jobs in $crontab"
exec $scheduler
