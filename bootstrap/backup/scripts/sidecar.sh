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
# --- stanza functions ---
until as_postgres "$bindir/pg_isready" -q -h "$socket" -p "$port"; do sleep 2; done
create_stanza
first_full_backup &
say "schedule: $(grep -c ' root runuser ' "$crontab") jobs in $crontab"
exec $scheduler
