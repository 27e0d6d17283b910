#!/bin/sh
# The restore drill. It restores the newest backup (replaying the archived WAL to
# its end) into a scratch directory, starts a private server there (a socket in
# the drill directory, no TCP, no archiving), compares it with the running source,
# prints one JSON line, records it in the source's bo1_backup_drills and exits
# 0 only when the restore worked, the checks pass and the newest backup is
# younger than the policy's limit. Settings (bindir, conf, stanza, source_socket,
# source_port, database, drill_dir, drill_port, max_age_hours) are assigned above.
set -u
cd / || exit 1  # cron starts jobs in /root: psql, run as postgres, would warn about it
scratch="$drill_dir/data"
newest=""
restorable=""
seconds=0
TABLES="users sessions contributions votes audit_log"

json_string() { printf '%s' "$1" | tr -d '\000-\037' | sed -e 's/\\/\\\\/g' -e 's/"/\\"/g'; }
first_error() { printf '%s\n' "$1" | grep -m1 -E 'ERROR|FATAL|error' || printf '%s\n' "$1" | tail -n 1; }
source_sql() { "$bindir/psql" -X -At -v ON_ERROR_STOP=1 -h "$source_socket" -p "$source_port" -d "$database" "$@"; }
drill_sql() { "$bindir/psql" -X -At -v ON_ERROR_STOP=1 -h "$drill_dir" -p "$drill_port" -d "$database" "$@"; }

report() {  # ok detail recorded
  printf '{"ok": %s, "newest_backup": "%s", "restorable_to": "%s", "restore_seconds": %s, "recorded": %s, "detail": "%s"}\n' \
    "$1" "$newest" "$restorable" "$seconds" "$3" "$(json_string "$2")"
}

record() {  # ok detail: one row in the source's bo1_backup_drills
  source_sql -q -v ok="$1" -v detail="$2" -v newest="$newest" -v restorable="$restorable" \
    -v seconds="$seconds" >/dev/null 2>&1 <<'SQL'
INSERT INTO bo1_backup_drills (ok, newest_backup, restorable_to, restore_seconds, detail)
VALUES (:'ok'::boolean, NULLIF(:'newest', '')::timestamptz, NULLIF(:'restorable', '')::timestamptz,
        :'seconds'::numeric, :'detail');
SQL
}

finish() {  # ok detail
  if [ -f "$scratch/postmaster.pid" ]; then
    "$bindir/pg_ctl" -D "$scratch" -m immediate -w stop >/dev/null 2>&1
  fi
  rm -rf "$scratch"
  if record "$1" "$2"; then recorded=true; else recorded=false; fi
  report "$1" "$2" "$recorded"
  if [ "$1" = true ]; then exit 0; fi
  exit 1
}

mkdir -p "$drill_dir" && chmod 700 "$drill_dir" || { report false "cannot create $drill_dir" false; exit 1; }
exec 9>"$drill_dir/lock"
flock -n 9 || { report false "another drill is running" false; exit 1; }

info=$(pgbackrest --config="$conf" --stanza="$stanza" --output=json info 2>&1) \
  || finish false "pgbackrest info failed: $(first_error "$info")"
stop_epoch=$(printf '%s' "$info" | grep -o '"stop":[0-9][0-9]*}' | tail -n 1 | tr -dc '0-9')
if [ -z "$stop_epoch" ]; then
  why=$(printf '%s' "$info" | grep -o '"status":{"code":[0-9]*,"message":"[^"\\]*' | head -n 1 | sed 's/.*"message":"//')
  finish false "the repository holds no readable backup: ${why:-no backup yet} (a wrong cipher passphrase shows as an unreadable backup.info)"
fi
newest=$(date -u -d "@$stop_epoch" '+%Y-%m-%dT%H:%M:%SZ')

rm -rf "$scratch" && mkdir -p "$scratch" && chmod 700 "$scratch"
started=$(date +%s)
out=$(pgbackrest --config="$conf" --stanza="$stanza" --pg1-path="$scratch" --archive-mode=off \
  --type=default restore 2>&1) || finish false "the restore failed: $(first_error "$out")"
"$bindir/pg_ctl" -D "$scratch" -w -t 600 -l "$drill_dir/server.log" \
  -o "-p $drill_port -k $drill_dir -c listen_addresses= -c archive_mode=off" start >/dev/null 2>&1 \
  || finish false "the restored cluster did not start: $(first_error "$(tail -n 20 "$drill_dir/server.log")")"
until [ "$(drill_sql -c 'SELECT pg_is_in_recovery()' 2>/dev/null)" = f ]; do
  [ $(($(date +%s) - started)) -lt 3600 ] || finish false "the restored cluster was still recovering after an hour"
  sleep 0.2
done
seconds=$(($(date +%s) - started))
restorable=$(drill_sql -c "SELECT to_char(coalesce(pg_last_xact_replay_timestamp(), to_timestamp($stop_epoch)) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')" 2>&1) \
  || finish false "the restored cluster does not answer: $restorable"

compare() {  # name query exact: the restored and the source value
  restored=$(drill_sql -c "$2" 2>&1) || finish false "$1 on the restored cluster: $(first_error "$restored")"
  current=$(source_sql -c "$2" 2>&1) || finish false "$1 on the source: $(first_error "$current")"
  if [ "$3" = exact ] && [ "$restored" != "$current" ]; then
    finish false "$1: restored $restored, source $current"
  fi
  if [ "$3" = rows ] && [ "$restored" -eq 0 ] && [ "$current" -gt 0 ]; then
    finish false "$1: the restored table is empty, the source has $current rows"
  fi
  checks="$checks, $1 $restored/$current"
}
checks=""
compare migrations "SELECT coalesce(max(version), 0) FROM bo1_schema_migrations" exact
compare personas "SELECT count(*) FROM personas WHERE is_active" exact
for table in $TABLES; do compare "$table" "SELECT count(*) FROM $table" rows; done
checks="${checks#, } (restored/source)"

age_hours=$((($(date +%s) - stop_epoch) / 3600))
[ "$age_hours" -lt "$max_age_hours" ] \
  || finish false "the newest backup is $age_hours h old, the policy allows under $max_age_hours h; $checks"
finish true "$checks"
