#!/bin/sh
# An ha stack's Redis snapshot: Redis runs on several nodes and Sentinel moves its master,
# so each node has a snapshot job of its own (sources, in order) and the first that
# succeeds is the day's snapshot; a replica streams the same dataset as the master, to
# within its replication lag. A replica cut off from its master refuses (NOMASTERLINK)
# until Sentinel promotes one, a few seconds: so up to $rounds rounds, $pause_s s apart.
# Each attempt prints its own JSON line. Settings (sources, rounds, pause_s) are assigned
# above.
set -u
round=1
while :; do
  for source in $sources; do
    "$source" && exit 0
  done
  [ "$round" -lt "$rounds" ] || break
  round=$((round + 1))
  sleep "$pause_s"
done
echo "{\"ok\": false, \"detail\": \"no Redis node gave a snapshot in $rounds rounds: see the lines above\"}"
exit 1
