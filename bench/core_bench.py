"""Core benchmark (issue 2), one run, printed as ratios and seconds. Not a test.

  python bench/core_bench.py [--repeats 3] [--keep DIR]

Measures, on this machine:
  1. the whole `cpu` lab's wall time (`olive-lab run --profile cpu` in a fresh work folder)      goal <= 180 s
  2. a rerun that skips everything                                                                goal <= 2 s
  3. the wizard's overhead on one Olive step: `olive-lab run --only STEP --force` versus the same `olive` argv
     run bare with the same environment and a cleared Olive cache, alternated, median of N each.
     STEP is finetune (the lab's longest step; --step quantize for the shortest). The overhead is a fixed
     cost (two Python start-ups, reading state), so its ratio shrinks as steps grow:  goal <= 1 %
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
    parser.add_argument("--step", default="finetune", choices=("quantize", "finetune", "optimize"))
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
    plan = pipeline.plan(lab, args.step)
    env = pipeline.environ_for(lab)
    wizard, bare = [], []
    for _ in range(args.repeats):
        pipeline.clear_olive_cache(lab.workspace)
        seconds, result = timed(list(plan.argv), cwd=workdir, env=env)
        must(result, f"bare olive {args.step}")
        bare.append(seconds)
        seconds, result = timed([*cli, "run", "--workdir", str(workdir), "--only", args.step, "--force"])
        must(result, f"olive-lab run --only {args.step} --force")
        wizard.append(seconds)
    help_s = statistics.median(timed([*cli, "--help"])[0] for _ in range(5))

    overhead = statistics.median(wizard) / statistics.median(bare) - 1
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"whole cpu lab (fresh work folder)      {lab_s:7.1f} s   goal <= 180 s")
    print(f"rerun that skips every step            {rerun_s:7.2f} s   goal <= 2 s")
    print(f"{args.step} bare olive    (median of {args.repeats})  {statistics.median(bare):7.2f} s   "
          f"{[round(b, 2) for b in bare]}")
    print(f"{args.step} via olive-lab (median of {args.repeats})  {statistics.median(wizard):7.2f} s   "
          f"{[round(w, 2) for w in wizard]}")
    print(f"wizard overhead on {args.step:<9}          {overhead:+7.2%}   goal <= 1 %  "
          f"({statistics.median(wizard) - statistics.median(bare):+.2f} s)")
    print(f"olive-lab --help start (median of 5)   {help_s:7.3f} s")
    if not args.keep:
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
