#!/usr/bin/env bash
# Create .venv with exactly the locked stack for this machine (locks/<profile>-py<X.Y>.txt): the gpu profile where
# an NVIDIA GPU answers, cpu otherwise (OLIVE_LAB_SETUP_PROFILE=cpu|gpu chooses by hand). One line per phase, with
# its time; a failing phase shows the end of its log (.venv/setup.log).
#   scripts/setup.sh               from the package indexes (pip, with this machine's pip settings)
#   scripts/setup.sh --from DIR    offline, from a bundle made by `olive-lab bundle` (pip --no-index)
# Phases: venv, the lock (pip --no-deps --require-hashes: nothing unlocked comes in), torch (its own step: the CPU
# build from PyTorch's CPU index where that answers, else the default index; see locks/README.md), olive-lab
# itself, and on the gpu profile the awq-tf4 overlay (`olive-lab setup --profile gpu`). A rerun with an unchanged
# lock skips to the overlay check.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
bundle=""
if [ "${1:-}" = "--from" ]; then
  bundle=$(cd "${2:?usage: scripts/setup.sh --from DIR}" && pwd)
fi
CPU_INDEX=${OLIVE_LAB_TORCH_CPU_INDEX:-https://download.pytorch.org/whl/cpu}
LOG=.venv/setup.log

if [ -n "${OLIVE_LAB_SETUP_PROFILE:-}" ]; then
  profile=$OLIVE_LAB_SETUP_PROFILE
elif command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
  profile=gpu
else
  profile=cpu
fi

now() { date +%s.%N; }
# phase NAME COMMAND...: run COMMAND with its output in the log; print NAME and the seconds it took.
phase() {
  local name=$1 t0 rc=0
  shift
  t0=$(now)
  echo "== $name: $*" >>"$LOG"
  "$@" >>"$LOG" 2>&1 || rc=$?
  printf 'setup: %-52s %6.1f s\n' "$name" "$(awk "BEGIN { print $(now) - $t0 }")"
  if [ $rc -ne 0 ]; then
    echo "setup: '$name' failed (exit $rc); the end of $LOG:" >&2
    tail -n 25 "$LOG" >&2
    exit $rc
  fi
}

if [ ! -x .venv/bin/python ]; then
  mkdir -p .venv
  phase "venv ($("$PY" --version 2>&1))" "$PY" -m venv .venv
fi
pyver=$(.venv/bin/python -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
lock=locks/$profile-py$pyver.txt
if [ -n "$bundle" ] && [ -f "$bundle/$lock" ]; then
  lock=$bundle/$lock  # the bundle's copy names the wheels it holds
fi
if [ ! -f "$lock" ]; then
  echo "setup: no lock for the $profile profile on Python $pyver (locks/ has: $(ls locks | tr '\n' ' '))." >&2
  echo "setup: use a supported Python (PYTHON=python3.12 bash scripts/setup.sh), or write one: python scripts/lock.py" >&2
  exit 2
fi
torch_pin=$(sed -n 's/^# \(torch==[^ ]*\).*/\1/p' "$lock")
pip=(.venv/bin/python -m pip install --disable-pip-version-check --no-input)
if [ -n "$bundle" ]; then
  pip+=(--no-index --find-links "$bundle")
fi
stamp=.venv/olive-lab-lock.sha256
want="$(sha256sum "$lock" | cut -d' ' -f1) $profile $bundle"

if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  phase "$profile stack ($(grep -c '^[A-Za-z0-9].*==' "$lock") locked packages)" \
    "${pip[@]}" --no-deps --require-hashes -r "$lock"
  # torch: a CPU build where no GPU is (PyPI's Linux wheels bundle CUDA); the lock already holds what that build
  # needs, so its install adds nothing else. Asked with a hard time limit: an unreachable host may hang.
  if [ -n "$bundle" ]; then
    phase "$torch_pin (from the bundle)" "${pip[@]}" --no-deps "$torch_pin"
  elif .venv/bin/python -c "import sys, importlib.metadata as m; sys.exit(m.version('torch').split('+')[0] != '${torch_pin#torch==}')" 2>/dev/null; then
    echo "setup: $torch_pin already installed"
  elif [ "$profile" = cpu ] && timeout 8 .venv/bin/python -c "import urllib.request as u; u.urlopen('$CPU_INDEX/torch/', timeout=5)" >/dev/null 2>&1; then
    phase "$torch_pin (CPU build, PyTorch's CPU index)" "${pip[@]}" --no-deps --index-url "$CPU_INDEX" "$torch_pin"
  else
    why="default index"
    [ "$profile" = cpu ] && why="default index: PyTorch's CPU index did not answer"
    phase "$torch_pin ($why)" "${pip[@]}" "$torch_pin"
  fi
  echo "$want" >"$stamp"
else
  echo "setup: .venv already holds $lock"
fi

# olive-lab itself, editable in strict mode: a tree of links under build/ that editors and type checkers can read
# (the default mode maps the folders with an import hook they cannot follow). A link tree only knows the files it
# was made with, so it is made again whenever the set of package files changes.
layout_stamp=.venv/olive-lab-layout.sha256
layout="$(find cli steps tui data \( -name '*.py' -o -name '*.tcss' -o -name '*.jsonl' \) -not -path '*/__pycache__/*' \
  | LC_ALL=C sort | sha256sum | cut -d' ' -f1) $(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ "$(cat "$layout_stamp" 2>/dev/null)" != "$layout" ]; then
  phase "olive-lab (editable)" "${pip[@]}" --no-deps --no-build-isolation -e . --config-settings editable_mode=strict
  echo "$layout" >"$layout_stamp"
fi

if [ "$profile" = gpu ]; then
  wheels=()
  [ -n "$bundle" ] && wheels=(--wheels "$bundle")
  phase "awq-tf4 overlay (olive-lab setup --profile gpu)" .venv/bin/olive-lab setup --profile gpu "${wheels[@]}"
fi
