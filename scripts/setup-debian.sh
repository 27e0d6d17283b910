#!/usr/bin/env bash
# Installs what bo1-infra's tests need on Debian 12, and only what is missing:
#   - PostgreSQL 15 server + headers, Redis 7 (Debian bookworm packages)
#   - pgvector 0.8.x built against PG 15 from Debian trixie's *source* package
#   - the project's virtualenv (.venv) with the runtime and test dependencies
# Safe to re-run: each step checks first and is a no-op when already done.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PYTHON=${PYTHON:-python3}
apt_updated=0

log() { printf 'setup: %s\n' "$*" >&2; }
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_update() { [ "$apt_updated" = 1 ] || { sudo_ apt-get update -qq; apt_updated=1; }; }

ensure_debian_packages() {
  local wanted=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR redis-server make gcc dpkg-dev)
  local missing=()
  for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv); fi
  [ ${#missing[@]} = 0 ] && { log "Debian packages present"; return; }
  log "installing ${missing[*]}"
  apt_update
  # policy-rc.d stops the packages from starting system services: the tests start their own.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' | sudo_ tee "$policy" >/dev/null; sudo_ chmod +x "$policy"; created_policy=1; fi
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && sudo_ rm -f "$policy"
  return 0
}

pgvector_installed() {
  local control
  control="$("$PG_CONFIG" --sharedir)/extension/vector.control"
  [ -f "$control" ] && grep -q "default_version = '0.8" "$control" \
    && [ -f "$("$PG_CONFIG" --pkglibdir)/vector.so" ]
}

ensure_pgvector() {
  if pgvector_installed; then log "pgvector present"; return; fi
  # Source only: a binary 'deb' entry for trixie would upgrade bookworm's system libraries.
  local src=/etc/apt/sources.list.d/bo1-trixie-src.sources
  if [ ! -f "$src" ]; then
    log "adding deb-src entry for trixie (source packages only)"
    sudo_ tee "$src" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    apt_updated=0
  fi
  apt_update
  local build
  build=$(mktemp -d)
  log "building pgvector from Debian source in $build"
  (cd "$build" && apt-get source -qq pgvector >/dev/null 2>&1 \
    && cd pgvector-*/ && make -s PG_CONFIG="$PG_CONFIG" >/dev/null \
    && sudo_ make -s install PG_CONFIG="$PG_CONFIG" >/dev/null)
  rm -rf "$build"
  pgvector_installed || { log "pgvector build did not install vector.control 0.8.x"; exit 1; }
}

ensure_debian_packages
ensure_pgvector
bash "$root/scripts/setup-venv.sh"
log "ready"
