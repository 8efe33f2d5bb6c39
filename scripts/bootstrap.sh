#!/usr/bin/env bash
# Installs what cdc-assets needs on a Debian/Ubuntu machine with Python 3.11+: a MariaDB server
# (through apt, only when no MySQL/MariaDB server binary is present), percona-toolkit's
# pt-online-schema-change for the tests (through apt, when missing) and a virtualenv in .venv with
# the package and its test tools. Idempotent: a second run changes nothing that is already there.
set -euo pipefail
cd "$(dirname "$0")/.."

have_server() {
  for b in mariadbd mysqld; do
    command -v "$b" >/dev/null 2>&1 && return 0
    for d in /usr/sbin /usr/local/sbin /usr/local/mysql/bin; do [ -x "$d/$b" ] && return 0; done
  done
  return 1
}

if ! have_server; then
  echo "bootstrap: installing mariadb-server with apt-get (no MySQL/MariaDB server found)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  # The package's own service is not needed: cdc-assets starts private servers of its own.
  $SUDO apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null
fi

# pt-online-schema-change (percona-toolkit): the online schema-change tests run the real tool.
if ! command -v pt-online-schema-change >/dev/null 2>&1; then
  echo "bootstrap: installing percona-toolkit with apt-get (pt-online-schema-change for the tests)"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends percona-toolkit >/dev/null
fi

PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)'; then
  echo "bootstrap: Python 3.11 or newer is needed ($PY is $("$PY" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
  exit 2
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.cdc-assets-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing cdc-assets and its dependencies into .venv (log: .venv/install.log)"
  if ! { .venv/bin/python -m pip install -q --upgrade pip && .venv/bin/python -m pip install -q -e ".[test]"; } \
      > .venv/install.log 2>&1; then
    tail -n 40 .venv/install.log >&2
    echo "bootstrap: pip install failed; the whole log is in .venv/install.log" >&2
    exit 1
  fi
  touch "$stamp"
fi
