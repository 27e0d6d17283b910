#!/usr/bin/env bash
# `pulumi` for one stack of this project, the same way in every shell:
#   bash scripts/pulumi.sh STACK [pulumi arguments...]
# e.g. bash scripts/pulumi.sh dev config set --secret anthropicApiKey
#      bash scripts/pulumi.sh prod stack output --show-secrets databaseUrl
# It uses the project's local file backend unless PULUMI_BACKEND_URL says otherwise,
# selects (or creates) the stack with the passphrase secrets provider, and runs
# pulumi in the project root with --stack STACK. The passphrase comes from
# PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE, as for `pulumi up`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
fail() { printf 'bo1-infra pulumi: %s\n' "$*" >&2; exit 1; }
stacks() { (cd "$root" && ls Pulumi.*.yaml | sed 's/Pulumi\.\(.*\)\.yaml/\1/' | tr '\n' ' '); }

[ $# -ge 1 ] || fail "usage: scripts/pulumi.sh STACK [pulumi arguments]; stacks here: $(stacks)"
stack=$1
shift
[ -f "$root/Pulumi.$stack.yaml" ] || fail "no stack file Pulumi.$stack.yaml; stacks here: $(stacks)"
command -v pulumi >/dev/null 2>&1 \
  || fail "the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/install/), then re-run"
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [ ! -t 0 ]; then
  fail "set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE: it encrypts this stack's secrets"
fi
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$root/.pulumi-state}
case $PULUMI_BACKEND_URL in file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;; esac
cd "$root"
pulumi stack select "$stack" --create --secrets-provider passphrase >/dev/null
[ $# -gt 0 ] || exit 0
exec pulumi "$@" --stack "$stack"
