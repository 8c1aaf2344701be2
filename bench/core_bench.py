"""Core benchmark (issue 2), one run, printed as ratios and seconds. Not a test.

  python bench/core_bench.py [--repeats 3] [--keep DIR]

Measures, on this machine:
  1. the whole `cpu` lab's wall time (`olive-lab run --profile cpu` in a fresh work folder)      goal <= 180 s
  2. a rerun that skips everything                                                                goal <= 2 s
  3. the wizard's overhead on one Olive step: `olive-lab run --only quantize --force` versus the same `olive
     quantize` argv run bare with the same environment, alternated, median of N each               goal <= 1 %
  4. `olive-lab --help` start time (median of 5)
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def timed(argv: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    started = time.perf_counter()
    result = subprocess.run(argv, capture_output=True, text=True, **kw)
    return time.perf_counter() - started, result


def must(result: subprocess.CompletedProcess, what: str) -> None:
    if result.returncode != 0:
        sys.exit(f"{what} failed ({result.returncode}):\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", help="work folder to use and keep (default: a temporary one)")
    args = parser.parse_args()
    cli = [sys.executable, "-m", "olive_lab"]
    workdir = Path(args.keep or tempfile.mkdtemp(prefix="olive-lab-bench-"))
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)

    lab_s, result = timed([*cli, "run", "--profile", "cpu", "--workdir", str(workdir)])
    must(result, "the cpu lab")
    rerun_s, result = timed([*cli, "run", "--workdir", str(workdir), "--no-chat"])
    must(result, "the rerun")

    from olive_lab.steps import pipeline

    lab = pipeline.load_lab(workdir)
    plan = pipeline.plan(lab, "quantize")
    env = pipeline.environ_for(lab)
    wizard, bare = [], []
    for _ in range(args.repeats):
        pipeline.clear_olive_cache(lab.workspace)
        seconds, result = timed(list(plan.argv), cwd=workdir, env=env)
        must(result, "bare olive quantize")
        bare.append(seconds)
        seconds, result = timed([*cli, "run", "--workdir", str(workdir), "--only", "quantize", "--force"])
        must(result, "olive-lab run --only quantize --force")
        wizard.append(seconds)
    help_s = statistics.median(timed([*cli, "--help"])[0] for _ in range(5))

    overhead = statistics.median(wizard) / statistics.median(bare) - 1
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"whole cpu lab (fresh work folder)      {lab_s:7.1f} s   goal <= 180 s")
    print(f"rerun that skips every step            {rerun_s:7.2f} s   goal <= 2 s")
    print(f"quantize bare olive   (median of {args.repeats})     {statistics.median(bare):7.2f} s   {bare}")
    print(f"quantize via olive-lab (median of {args.repeats})    {statistics.median(wizard):7.2f} s   {wizard}")
    print(f"wizard overhead on one Olive step      {overhead:+7.2%}   goal <= 1 %")
    print(f"olive-lab --help start (median of 5)   {help_s:7.3f} s")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
