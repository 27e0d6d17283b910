#!/bin/sh
# Start this node's etcd member (its command line: "$@"), and take its place again in a
# cluster that runs on without it: a node rebuilt on a fresh Docker host has an empty data
# directory, and etcd must then be told (member remove, member add) instead of starting as
# a founding member again (the running members would refuse its empty log). Settings
# (name, data_dir, peer_url, others, cacert, cert, key) are assigned above.
set -u
say() { echo "bo1-etcd: $*" >&2; }
if [ -d "$data_dir/member" ]; then
  exec "$@"  # a member with its data: what it knows of the cluster is in there
fi
ctl() {
  etcdctl --endpoints="$others" --cacert="$cacert" --cert="$cert" --key="$key" \
    --dial-timeout=3s --command-timeout=10s "$@"
}
# Listing members needs a majority: none answers on a new stack's first start.
if ! members=$(ctl member list 2>/dev/null); then
  exec "$@"
fi
mine=$(printf '%s\n' "$members" | grep -F ", $peer_url," || true)
case "$mine" in
  *", unstarted, "*)  # listed, never started (a founding member late to the first start,
    # or one added before a failed start): join what runs, which knows its peer URL
    exec "$@" --initial-cluster-state=existing ;;
  "") ;;
  *)  # a member of this name ran here before, its data lost with the old host
    say "the cluster knows this member but its data is gone: replacing it"
    ctl member remove "${mine%%,*}" >&2 || exit 1 ;;
esac
added=$(ctl member add "$name" --peer-urls="$peer_url") || exit 1
cluster=$(printf '%s\n' "$added" | sed -n 's/^ETCD_INITIAL_CLUSTER="\(.*\)"$/\1/p')
[ -n "$cluster" ] || { say "member add gave no ETCD_INITIAL_CLUSTER: $added"; exit 1; }
say "joined the running cluster as a new member"
exec "$@" --initial-cluster="$cluster" --initial-cluster-state=existing
