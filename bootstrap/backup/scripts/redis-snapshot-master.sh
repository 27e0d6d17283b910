#!/bin/sh
# An ha stack's Redis snapshot: Redis runs on several nodes and Sentinel moves its master,
# so each node has a snapshot job of its own (sources: address=job) and the day's
# snapshot comes from the node the Sentinels name as master. Not from whichever node
# answers: a node rebuilt empty says "master" until Sentinel turns it into a replica, and
# its empty dataset would push a good snapshot out of the kept ones. Right after the
# master's death the Sentinels still name it for a few seconds (down-after-milliseconds,
# then the promotion: measured 3.3 s): so up to $rounds rounds, $pause_s s apart. Each
# attempt prints its own JSON line. Settings (sources, sentinels, agree, master_name,
# user, password_file, rounds, pause_s) are assigned above.
set -u
REDISCLI_AUTH=$(cat "$password_file") || exit 1
export REDISCLI_AUTH
# The master's address, as a majority ($agree) of the Sentinels name it: one alone may
# be stale (just restarted from its rendered file, or cut off from its peers). Each
# Sentinel's answer is the first line of its reply (an error reply, "CODE message", has a
# space; no answer is empty); 5 s each, as a silent host would hold a connect for minutes.
named_master() {
  for sentinel in $sentinels; do
    timeout 5 redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --user "$user" \
      --no-auth-warning SENTINEL get-master-addr-by-name "$master_name" 2>/dev/null |
      head -n 1
  done | grep -v -e '^$' -e ' ' | sort | uniq -c |
    awk -v agree="$agree" '$1 >= agree { print $2; found = 1; exit } END { exit !found }'
}
round=1
while :; do
  if master=$(named_master); then
    job=""
    for source in $sources; do
      [ "${source%%=*}" = "$master" ] && job=${source#*=}
    done
    if [ -n "$job" ]; then
      "$job" && exit 0
    else
      echo "{\"ok\": false, \"detail\": \"the Sentinels name $master as master, not a Redis node of this stack\"}"
    fi
  else
    echo "{\"ok\": false, \"detail\": \"no $agree Sentinels named the same master ($sentinels)\"}"
  fi
  [ "$round" -lt "$rounds" ] || break
  round=$((round + 1))
  sleep "$pause_s"
done
echo "{\"ok\": false, \"detail\": \"no snapshot from the master in $rounds rounds: see the lines above\"}"
exit 1
