#!/bin/sh
# An ha stack's backup repository host, as root under Docker's init: give pgBackRest's
# private key to postgres, start cron (the schedule in /etc/cron.d), create the stanza
# once a Postgres primary answers through the nodes' TLS servers and take the first full
# backup when the repository has none, while pgBackRest's TLS server, in the foreground as
# postgres, takes the WAL every Postgres node archives. Settings (conf, stanza, key_upload,
# key, scheduler) are assigned above.
set -u
cd / || exit 1
say() { echo "bo1-backup: $*"; }
as_postgres() { setpriv --reuid=postgres --regid=postgres --init-groups "$@"; }
# --- stanza functions ---
install -D -o postgres -g postgres -m 0600 "$key_upload" "$key" || exit 1
$scheduler || exit 1
(create_stanza && first_full_backup) &
exec setpriv --reuid=postgres --regid=postgres --init-groups pgbackrest --config="$conf" server
