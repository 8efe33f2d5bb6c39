#!/usr/bin/env bash
# The README's "test" command: install what is needed, then run the whole suite
# (lint, the import-layer contracts, and every test against private MariaDB servers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
.venv/bin/ruff check cdc_assets cdc_assets_tests
exec .venv/bin/pytest "$@"
