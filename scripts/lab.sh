#!/usr/bin/env bash
# Set up the whole lab (if needed) and open the Olive Lab wizard: the locked stack with the azure and serve extras,
# and on a GPU machine the AWQ overlay, one line per phase (scripts/setup.sh). Without a terminal (a script, CI) it
# runs the whole lab headless instead. Other arguments go to olive-lab, e.g. `scripts/lab.sh run --profile cpu`.
#   bash scripts/lab.sh --from DIR [ARGS]   set up offline from a bundle (`olive-lab bundle`), then as above
set -euo pipefail
cd "$(dirname "$0")/.."
setup_args=()
if [ "${1:-}" = "--from" ]; then
  setup_args=(--from "${2:?usage: scripts/lab.sh --from DIR [olive-lab arguments]}")
  shift 2
fi
bash scripts/setup.sh "${setup_args[@]}"
if [ $# -eq 0 ] && ! { [ -t 0 ] && [ -t 1 ]; }; then
  set -- run
fi
exec .venv/bin/olive-lab "$@"
