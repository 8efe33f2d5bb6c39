#!/usr/bin/env bash
# The README's "run" command: install what is needed, then run the quickstart demo
# (a private MariaDB, a sample shop database under a live write workload, synced into DuckDB).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
exec .venv/bin/cdc-assets demo "$@"
