#!/bin/sh
# Start this node's etcd member (its command line: "$@"), and take its place again in a
# cluster that runs on without it: a node rebuilt on a fresh Docker host has an empty data
# directory, and etcd must then be told (member remove, member add) instead of starting as
# a founding member again (the running members would refuse its empty log). Settings
# (name, data_dir, peer_url, others, cacert, cert, key, join_wait_s) are assigned above.
set -u
say() { echo "bo1-etcd: $*" >&2; }
if [ -d "$data_dir/member" ]; then
  exec "$@"  # a member with its data: what it knows of the cluster is in there
fi
ctl() {
  etcdctl --endpoints="$others" --cacert="$cacert" --cert="$cert" --key="$key" \
    --dial-timeout=3s --command-timeout=5s "$@"
}
# A running member answers the list from what it knows, leader or not: none answers only
# on a new stack's first start, when every member starts as rendered.
ctl member list >/dev/null 2>&1 || exec "$@"
# Each membership change needs etcd's leader, and the node's loss may have been the
# leader's: a change proposed while the others still elect one times out. So each round
# reads the list afresh (a change that timed out may still have been applied) and takes
# the next step from where the cluster is.
# name=peer URL of every member the list shows, this one under its own name; nothing
# when another member has no name yet (added, not started): then the rendered list holds
initial_cluster() {
  printf '%s\n' "$1" | awk -F', ' -v me="$name" -v mine="$peer_url" '
    { n = ($4 == mine) ? me : $3; if (n == "") bad = 1; out = out (out ? "," : "") n "=" $4 }
    END { if (!bad) print out }'
}
deadline=$(($(date +%s) + join_wait_s))
while :; do
  if members=$(ctl member list); then
    mine=$(printf '%s\n' "$members" | grep -F ", $peer_url," || true)
    case "$mine" in
      *", unstarted, "*)  # listed, never started (a founding member late to the first
        # start, or added in an earlier round): join the members the cluster lists
        cluster=$(initial_cluster "$members")
        say "joined the running cluster as a new member"
        exec "$@" ${cluster:+"--initial-cluster=$cluster"} --initial-cluster-state=existing ;;
      "") ctl member add "$name" --peer-urls="$peer_url" >&2 && continue ;;
      *)  # a member of this name ran here before, its data lost with the old host
        say "the cluster knows this member but its data is gone: replacing it"
        ctl member remove "${mine%%,*}" >&2 && continue ;;
    esac
  fi
  if [ "$(date +%s)" -ge "$deadline" ]; then
    say "the cluster did not take this member back within $join_wait_s s; exiting for the container to restart"
    exit 1
  fi
  sleep 1
done
