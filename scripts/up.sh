#!/usr/bin/env bash
# `pulumi up` for one stack (default: dev) on the local file backend.
#   bash scripts/up.sh [STACK] [extra pulumi up flags...]
# Checks first, and reports every missing piece at once: the Pulumi CLI, the docker
# CLI, a Docker daemon at the stack's host, and a Docker API new enough for the
# containers the program creates. Then it prepares .venv and runs up through
# scripts/pulumi.sh (the same backend and stack selection as every other command).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
stack=${1:-dev}
[ $# -gt 0 ] && shift
# The oldest Docker Engine API the program's containers need (Engine 20.10).
MIN_DOCKER_API=${BO1_MIN_DOCKER_API:-1.41}
fail() { printf 'bo1-infra up: %s\n' "$*" >&2; exit 1; }

[ -f "$root/Pulumi.$stack.yaml" ] || fail "no stack file Pulumi.$stack.yaml; stacks here: $(cd "$root" && ls Pulumi.*.yaml | sed 's/Pulumi\.\(.*\)\.yaml/\1/' | tr '\n' ' ')"
problems=()
command -v pulumi >/dev/null 2>&1 \
  || problems+=("the Pulumi CLI is not installed: install it (https://www.pulumi.com/docs/install/)")
if ! command -v docker >/dev/null 2>&1; then
  problems+=("the docker CLI is not installed: install Docker Engine (https://docs.docker.com/engine/install/)")
else
  # A stack may live on a remote Docker host (docker:host in its YAML): check that one.
  remote=$(sed -n 's/^[[:space:]]*docker:host:[[:space:]]*//p' "$root/Pulumi.$stack.yaml" | tr -d '"'"'" | head -n 1)
  where=${remote:-${DOCKER_HOST:-the local socket}}
  if ! api=$(DOCKER_HOST=${remote:-${DOCKER_HOST:-}} docker version --format '{{.Server.APIVersion}}' 2>/dev/null) || [ -z "$api" ]; then
    problems+=("no Docker daemon answers at $where: start Docker (or fix docker:host in Pulumi.$stack.yaml)")
  elif [ "$(printf '%s\n%s\n' "$MIN_DOCKER_API" "$api" | sort -V | head -n 1)" != "$MIN_DOCKER_API" ]; then
    problems+=("the Docker daemon at $where speaks API $api; the program needs $MIN_DOCKER_API or newer (Docker Engine 20.10+): upgrade Docker")
  fi
fi
if [ ${#problems[@]} -gt 0 ]; then
  joined=$(printf '%s; ' "${problems[@]}")
  fail "${joined%; }; then re-run"
fi

bash "$root/scripts/setup-venv.sh"
exec bash "$root/scripts/pulumi.sh" "$stack" up "$@"
