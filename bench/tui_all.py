"""The wizard's three benchmarks in one run, with their ratios to the goals.

    python bench/tui_all.py [--workdir LAB] [--lines 1000000]

- start to first frame (bench/tui_start.py), goal <= 0.5 s;
- log ingest through the log view (bench/tui_log_ingest.py), goal >= 50,000 lines/s and < 150 MB for 1 M lines;
- chat tokens/s in the pane vs a bare onnxruntime-genai loop (bench/tui_chat.py), goal >= 0.97x, on the cpu
  profile's tiny model (adapter on and off) and on a mid-size Phi-3.5-mini-shaped int4 model, with the pane drawn
  by Textual's headless driver and by its real driver on a pty; 21 alternating runs each, with the ratio's 90%
  interval (one run's tokens/s moves 5-8% from the next on a 2-core VM, so 7 runs can miss a met goal).
LAB is a finished cpu lab for the chat benchmark's tiny model; without it the benchmark builds (once) and caches
its models under /tmp/olive-lab-bench/chat.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def run(script: str, *args: str) -> dict:
    out = subprocess.run([sys.executable, str(HERE / script), "--json", *args], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir")
    parser.add_argument("--lines", type=int, default=1_000_000)
    args = parser.parse_args()
    start = run("tui_start.py")
    ingest = run("tui_log_ingest.py", "--lines", str(args.lines))
    paced = run("tui_log_ingest.py", "--lines", str(min(args.lines, 500_000)), "--rate", "50000")
    chat = run("tui_chat.py", *(["--workdir", args.workdir] if args.workdir else []))
    chat_goal = chat["goal"]
    rows = [
        ("start to first frame", f"{start['median_s']:.3f} s (median of {start['runs']})", "<= 0.5 s",
         f"{0.5 / start['median_s']:.2f}x headroom", start["median_s"] <= 0.5),
        ("log ingest rate", f"{ingest['lines_per_s']:,} lines/s ({ingest['lines']:,} lines)", ">= 50,000 lines/s",
         f"{ingest['lines_per_s'] / 50_000:.2f}x the goal", ingest["lines_per_s"] >= 50_000),
        ("log ingest memory", f"+{ingest['rss_peak_growth_mb']} MB (peak RSS {ingest['rss_peak_mb']} MB)",
         "< 150 MB", f"{ingest['rss_peak_growth_mb'] / 150:.2f}x the budget", ingest["rss_peak_growth_mb"] < 150),
        ("UI, flat out", f"20 ms timer late by p99 {ingest['ui_timer_delay_p99_ms']} ms, "
         f"max {ingest['ui_timer_delay_max_ms']} ms", "responsive", "", True),
        ("UI at 50,000 lines/s", f"20 ms timer late by p99 {paced['ui_timer_delay_p99_ms']} ms, "
         f"max {paced['ui_timer_delay_max_ms']} ms ({paced['lines_per_s']:,} lines/s)", "responsive", "", True),
    ]
    for r in chat["rows"]:
        rows.append((f"chat {r['model']} {r['adapter']} {r['terminal']}",
                     f"pane {r['pane_tokens_per_s']:,} vs bare {r['bare_tokens_per_s']:,} tokens/s "
                     f"(on screen {r['ratio_on_screen']:.2f}x)", f">= {chat_goal}x",
                     f"{r['ratio']:.3f}x ({r['ratio_90'][0]:.3f}-{r['ratio_90'][1]:.3f})",
                     r["ratio"] >= chat_goal))
    for name, value, goal, ratio, ok in rows:
        print(f"{name:<22} {value:<52} {goal:<18} {ratio:<20} {'' if not goal else ('met' if ok else 'NOT met')}")
    models = {(r["model"], r["adapter"]): r for r in chat["rows"]}
    for (model, adapter), r in models.items():
        print(f"  chat {model} adapter {adapter}: {r['about']}; a reply is {r['tokens']['bare']} tokens, "
              f"{r['visible_chars']} visible characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
