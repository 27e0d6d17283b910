#!/usr/bin/env bash
# `pulumi up` for one stack (default: dev) on the local file backend.
#   bash scripts/up.sh [STACK] [extra pulumi up flags...]
# Checks for the Pulumi CLI and a Docker daemon first and stops at once, saying
# what to install, when either is missing. Then it prepares .venv and runs up.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stack=${1:-dev}
[ $# -gt 0 ] && shift
fail() { printf 'bo1-infra up: %s\n' "$*" >&2; exit 1; }

[ -f "$root/Pulumi.$stack.yaml" ] || fail "no stack file Pulumi.$stack.yaml; stacks here: $(cd "$root" && ls Pulumi.*.yaml | sed 's/Pulumi\.\(.*\)\.yaml/\1/' | tr '\n' ' ')"
command -v pulumi >/dev/null 2>&1 \
  || fail "the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/install/), then re-run"
command -v docker >/dev/null 2>&1 \
  || fail "the docker CLI is not installed: install Docker Engine (https://docs.docker.com/engine/install/), then re-run"
# A stack may live on a remote Docker host (docker:host in its YAML): check that one.
remote=$(sed -n 's/^[[:space:]]*docker:host:[[:space:]]*//p' "$root/Pulumi.$stack.yaml" | tr -d '"'"'" | head -n 1)
if ! DOCKER_HOST=${remote:-${DOCKER_HOST:-}} docker info >/dev/null 2>&1; then
  fail "no Docker daemon answers at ${remote:-${DOCKER_HOST:-the local socket}}: start Docker (or fix docker:host in Pulumi.$stack.yaml), then re-run"
fi
if [ -z "${PULUMI_CONFIG_PASSPHRASE:-}${PULUMI_CONFIG_PASSPHRASE_FILE:-}" ] && [ ! -t 0 ]; then
  fail "set PULUMI_CONFIG_PASSPHRASE or PULUMI_CONFIG_PASSPHRASE_FILE: it encrypts this stack's secrets"
fi

bash "$root/scripts/setup-venv.sh"
export PULUMI_BACKEND_URL=${PULUMI_BACKEND_URL:-file://$root/.pulumi-state}
case $PULUMI_BACKEND_URL in file://*) mkdir -p "${PULUMI_BACKEND_URL#file://}" ;; esac
cd "$root"
pulumi stack select "$stack" --create --secrets-provider passphrase
exec pulumi up --stack "$stack" "$@"
