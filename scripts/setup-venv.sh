#!/usr/bin/env bash
# Creates or updates the project's virtualenv (.venv) with bo1-infra and its
# test extras. Quick when pyproject.toml has not changed since the last run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
PYTHON=${PYTHON:-python3}
venv=$root/.venv
stamp=$venv/.bo1-deps
want=$(sha256sum "$root/pyproject.toml" | cut -d' ' -f1)
if [ -x "$venv/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
  printf 'setup: virtualenv up to date\n' >&2
  exit 0
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
  printf 'setup: %s is older than Python 3.11; set PYTHON to a 3.11+ interpreter\n' "$PYTHON" >&2
  exit 1
fi
printf 'setup: creating/updating virtualenv at .venv\n' >&2
[ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
"$venv/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install -q --disable-pip-version-check \
  -e "$root[test]" --config-settings editable_mode=compat
echo "$want" > "$stamp"
