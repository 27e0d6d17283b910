#!/bin/sh
# Start this node's etcd member (its command line: "$@"), and take its place again in a
# cluster that runs on without it: a node rebuilt on a fresh Docker host has an empty data
# directory, and etcd must then be told (member remove, member add) instead of starting as
# a founding member again (the running members would refuse its empty log). Settings
# (name, data_dir, peer_url, others, cacert, cert, key, join_wait_s) are assigned above.
set -u
say() { echo "bo1-etcd: $*" >&2; }
# A member with its log (etcd's own test): what it knows of the cluster is in there.
if [ -d "$data_dir/member/wal" ]; then
  exec "$@"
fi
# No log but a member directory: a join that failed (etcd opens its database before it
# checks the cluster's answer). Start over, or the next start would found a cluster.
rm -rf "$data_dir/member"
ctl() {
  etcdctl --endpoints="$others" --cacert="$cacert" --cert="$cert" --key="$key" \
    --dial-timeout=3s --command-timeout=5s "$@"
}
# name=peer URL of every member the list shows, this one under its own name. etcd
# matches the others by peer URL only: one added but not started yet (no name) gets its
# ID for a name.
initial_cluster() {
  printf '%s\n' "$1" | awk -F', ' -v me="$name" -v mine="$peer_url" '
    { n = ($4 == mine) ? me : ($3 == "" ? "m" $1 : $3); out = out (out ? "," : "") n "=" $4 }
    END { print out }'
}
# A running member answers the list from what it knows, leader or not: none answers only
# on a new stack's first start, when every member starts as rendered.
ctl member list >/dev/null 2>&1 || exec "$@"
# Each membership change needs etcd's leader, and the node's loss may have been the
# leader's: a change proposed while the others still elect one times out. So each round
# reads the list afresh (a change that timed out may still have been applied) and takes
# the next step from where the cluster is.
deadline=$(($(date +%s) + join_wait_s))
while :; do
  if members=$(ctl member list); then
    mine=$(printf '%s\n' "$members" | grep -F ", $peer_url," || true)
    case "$mine" in
      *", unstarted, "*)  # added in an earlier round, not started yet: join the
        # members the cluster lists
        say "joined the running cluster as a new member"
        exec "$@" --initial-cluster="$(initial_cluster "$members")" \
          --initial-cluster-state=existing ;;
      "") ctl member add "$name" --peer-urls="$peer_url" >&2 && continue ;;
      *)  # a member with this peer URL ran here before, its data lost with the old
        # host (or a founding member of a new stack late to its first start: etcd 3.4
        # lists those as started; replacing it costs a new member ID, nothing else)
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
