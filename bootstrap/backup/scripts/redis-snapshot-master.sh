#!/bin/sh
# An ha stack's Redis snapshot: Redis runs on several nodes and Sentinel moves its master,
# so each node has a snapshot job of its own (sources: address=job) and the day's
# snapshot comes from the node the Sentinels name as master. Not from whichever node
# answers: a node rebuilt empty says "master" until Sentinel turns it into a replica, and
# its empty dataset would push a good snapshot out of the kept ones. Right after the
# master's death the Sentinels still name it for a few seconds (down-after-milliseconds,
# then the promotion: measured 3.3 s): so up to $rounds rounds, $pause_s s apart. Each
# attempt prints its own JSON line. Settings (sources, sentinels, master_name, user,
# password_file, rounds, pause_s) are assigned above.
set -u
REDISCLI_AUTH=$(cat "$password_file") || exit 1
export REDISCLI_AUTH
# The master's address, from the first Sentinel that names one (its reply's first line;
# an error reply, "CODE message", has a space, and no answer is empty).
named_master() {
  for sentinel in $sentinels; do
    address=$(redis-cli -h "${sentinel%:*}" -p "${sentinel##*:}" --user "$user" \
      --no-auth-warning SENTINEL get-master-addr-by-name "$master_name" 2>/dev/null |
      head -n 1)
    case "$address" in
      "" | *" "*) ;;
      *) echo "$address" && return 0 ;;
    esac
  done
  return 1
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
    echo "{\"ok\": false, \"detail\": \"no Sentinel named a master ($sentinels)\"}"
  fi
  [ "$round" -lt "$rounds" ] || break
  round=$((round + 1))
  sleep "$pause_s"
done
echo "{\"ok\": false, \"detail\": \"no snapshot from the master in $rounds rounds: see the lines above\"}"
exit 1
