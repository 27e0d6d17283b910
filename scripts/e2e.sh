#!/usr/bin/env bash
# The acceptance run before a release, for those with Docker and the Pulumi CLI:
#   PULUMI_CONFIG_PASSPHRASE=... bash scripts/e2e.sh STACK
# up; verify; a second up that must change nothing; a refresh that must find no
# difference; destroy; and, for a stack with protectData, a check that its data
# volumes survived the destroy. Stops at the first failure, saying which step.
# Needs the stack's secrets as for `up` (staging and prod: the API keys).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stack=${1:?usage: scripts/e2e.sh STACK}
step() { printf '\ne2e %s: %s\n' "$stack" "$*" >&2; }
fail() { printf 'e2e %s: FAILED: %s\n' "$stack" "$*" >&2; exit 1; }
pulumi_() { bash "$root/scripts/pulumi.sh" "$stack" "$@"; }

step "pulumi up"
bash "$root/scripts/up.sh" "$stack" --yes --skip-preview || fail "pulumi up"

step "bo1-infra verify"
# The stack's own outputs, handed over in the environment (never on a command line).
outputs=$(pulumi_ stack output --json --show-secrets) || fail "reading the stack outputs"
eval "$(printf '%s' "$outputs" | "$root/.venv/bin/python" -c '
import json, shlex, sys
from urllib.parse import urlsplit, unquote
o = json.load(sys.stdin)
pg = urlsplit(o["postgresSuperuserUrl"])
env = {"PGHOST": pg.hostname, "PGPORT": str(pg.port), "PGUSER": unquote(pg.username),
       "PGPASSWORD": unquote(pg.password), "PGDATABASE": pg.path.lstrip("/"),
       "REDIS_URL": o["redisOpsUrl"], "BO1_POOLER_PORT": str(o["poolerPort"]),
       "BO1_POOLER_STATS_PASSWORD": o["poolerStatsPassword"]}
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items()))
')"
docker_host=$(pulumi_ config get docker:host 2>/dev/null || true)
DOCKER_HOST=${docker_host:-${DOCKER_HOST:-}} "$root/.venv/bin/bo1-infra" verify --stack "$stack" \
  || fail "verify"

step "a second pulumi up changes nothing"
pulumi_ up --yes --skip-preview --expect-no-changes || fail "the second up planned changes"

step "pulumi refresh finds no difference"
pulumi_ refresh --yes --skip-preview --expect-no-changes || fail "refresh found differences"

protect=$(pulumi_ stack output dataRetainedOnDestroy 2>/dev/null || echo false)
volumes=$(pulumi_ stack output postgresVolume 2>/dev/null; pulumi_ stack output redisVolume 2>/dev/null)

step "pulumi destroy"
pulumi_ destroy --yes --skip-preview || fail "destroy"

if [ "$protect" = "true" ]; then
  step "the data volumes survived the destroy (protectData)"
  for volume in $volumes; do
    DOCKER_HOST=${docker_host:-${DOCKER_HOST:-}} docker volume inspect "$volume" >/dev/null \
      || fail "volume $volume is gone"
  done
fi
step "passed"
