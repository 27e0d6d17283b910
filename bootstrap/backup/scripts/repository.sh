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
create_stanza() {  # retried: the first attempt may come before Postgres (or a primary) answers
  until as_postgres pgbackrest --config="$conf" --stanza="$stanza" stanza-create; do
    say "stanza-create failed; retrying in 30 s"
    sleep 30
  done
}
first_full_backup() {  # only when the repository holds none
  if ! as_postgres pgbackrest --config="$conf" --stanza="$stanza" --output=json info | grep -q '"label"'; then
    say "the repository holds no backup: taking the first full backup now"
    as_postgres pgbackrest --config="$conf" --stanza="$stanza" --type=full backup \
      && say "the first full backup is done"
  fi
}
install -D -o postgres -g postgres -m 0600 "$key_upload" "$key" || exit 1
$scheduler || exit 1
(create_stanza && first_full_backup) &
exec setpriv --reuid=postgres --regid=postgres --init-groups pgbackrest --config="$conf" server
