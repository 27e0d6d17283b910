#!/bin/sh
# An ha stack's restore drill, as every Postgres node's cron starts it: the drill runs on
# the node whose Postgres is the leader (it compares the restored copy with the primary
# and records its result there, over this node's socket); elsewhere it says why not and
# succeeds. Settings (bindir, socket, port, database, drill, drill_dir) are assigned above.
set -u
cd / || exit 1
role=$("$bindir/psql" -X -At -h "$socket" -p "$port" -d "$database" -c 'SELECT pg_is_in_recovery()' 2>&1)
case "$role" in
  f) exec "$drill" ;;
  t) echo "bo1-drill: not run here: this node's Postgres is a replica (the leader's node runs the drill)" ;;
  *) echo "bo1-drill: not run here: this node's Postgres does not answer ($(printf '%s' "$role" | tail -n 1))" ;;
esac
# A drill cut short here while this node led (its container replaced, killed) left its
# scratch copy on the data volume: remove it, unless a drill runs now.
if [ -d "$drill_dir/data" ] && exec 9>"$drill_dir/lock" && flock -n 9; then
  rm -rf "$drill_dir/data" && echo "bo1-drill: removed a scratch copy an earlier drill left"
fi
