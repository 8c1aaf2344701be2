#!/usr/bin/env bash
# Set up (if needed) and open the Olive Lab wizard. Without a terminal (a script, CI) it runs the whole lab
# headless instead. Arguments go to olive-lab, e.g. `scripts/lab.sh run --profile cpu`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh serve
if [ $# -eq 0 ] && ! { [ -t 0 ] && [ -t 1 ]; }; then
  set -- run
fi
exec .venv/bin/olive-lab "$@"
