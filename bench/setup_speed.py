"""Fresh-venv setup time from a lock: pip (`install --no-deps --require-hashes`, what scripts/setup.sh runs) vs uv
(`pip sync --require-hashes`), each with an empty and then a warm download cache, plus torch from find-links.

    nice -n 5 python bench/setup_speed.py [--lock locks/cpu-py3.11.txt] [--root /tmp/setup-measure] [--skip pip-cold]

Prints one line per case and writes bench/results/setup_speed_<date>_<host>.md. Needs uv on PATH (pip install uv).
The machine's pip settings (extra indexes, find-links, constraints) reach uv as flags, as in scripts/lock.py.
"""

from __future__ import annotations

import argparse
import datetime
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
import lock  # noqa: E402  (scripts/lock.py: the pip-settings-to-uv translation)

CASES = ("pip-cold", "pip-warm", "uv-cold", "uv-warm")


def run_case(case: str, lockfile: Path, root: Path, torch_pin: str) -> float:
    tool, cache = case.split("-")
    venv = root / f"venv-{case}"
    shutil.rmtree(venv, ignore_errors=True)
    cache_dir = root / f"cache-{tool}"
    if cache == "cold":
        shutil.rmtree(cache_dir, ignore_errors=True)
    env = dict(os.environ, PIP_CACHE_DIR=str(cache_dir), UV_CACHE_DIR=str(cache_dir))
    py = venv / "bin" / "python"
    t0 = time.monotonic()
    if tool == "pip":
        steps = [[sys.executable, "-m", "venv", str(venv)],
                 [str(py), "-m", "pip", "install", "-q", "--no-deps", "--require-hashes", "-r", str(lockfile)],
                 [str(py), "-m", "pip", "install", "-q", "--no-deps", torch_pin]]
    else:
        flags = lock.pip_settings_as_uv_flags()
        # uv counts constraints as requirements in --require-hashes mode; the lock's pins already honour them
        pairs = [(k, v) for k, v in zip(flags[::2], flags[1::2]) if k != "--constraint"]
        sync_flags = [x for pair in pairs for x in pair]
        steps = [[lock.uv(), "venv", "-q", "--python", sys.executable, str(venv)],
                 [lock.uv(), "pip", "sync", "-q", "--python", str(py), "--require-hashes", *sync_flags,
                  str(lockfile)],
                 [lock.uv(), "pip", "install", "-q", "--python", str(py), "--no-deps", *flags, torch_pin]]
    for argv in steps:
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"{case}: {' '.join(argv[:4])} failed:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}")
    took = time.monotonic() - t0
    shutil.rmtree(venv, ignore_errors=True)
    return took


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--lock", type=Path, default=ROOT / "locks" / "cpu-py3.11.txt")
    parser.add_argument("--root", type=Path, default=Path("/tmp/setup-measure"))
    parser.add_argument("--skip", action="append", default=[], choices=CASES)
    args = parser.parse_args()
    args.root.mkdir(parents=True, exist_ok=True)
    torch_pin = next(line[2:].split()[0] for line in args.lock.read_text().splitlines() if line.startswith("# torch=="))
    rows = []
    for case in CASES:
        if case in args.skip:
            continue
        load = os.getloadavg()[0]
        took = run_case(case, args.lock, args.root, torch_pin)
        rows.append((case, took, load))
        print(f"{case:9s} {took:8.1f} s   (load average at start {load:.1f})", flush=True)
    host = socket.gethostname()
    day = datetime.date.today().isoformat()
    out = ROOT / "bench" / "results" / f"setup_speed_{day}_{host}.md"
    size = args.lock.stat().st_size / 1024
    lines = [f"# Fresh-venv setup from {args.lock.name} ({size:.0f} KiB), {day}, {host}, {os.cpu_count()} cores",
             "", "| case | seconds | load average at start |", "|---|---|---|"]
    lines += [f"| {c} | {t:.1f} | {la:.1f} |" for c, t, la in rows]
    with open(out, "a", encoding="utf-8") as fh:  # a run per --skip set adds its rows under its own heading
        fh.write("\n".join(lines) + "\n\n")
    print(f"written {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
