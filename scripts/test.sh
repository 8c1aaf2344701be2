#!/usr/bin/env bash
# Set up (if needed) and run the test suite: unit tests, the real cpu lab end to end, the wizard (Pilot and
# tmux), the Azure upload against a local Azurite, and that .venv equals the lock. Arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh  # the lock holds the test, azure and serve extras too
if ! command -v tmux >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && apt-get install -y -qq tmux) >/dev/null || echo "could not install tmux: its tests will skip"
fi
if [ -f tests/azure/install-azurite.sh ]; then
  bash tests/azure/install-azurite.sh
fi
exec .venv/bin/python -m pytest -q "$@"
