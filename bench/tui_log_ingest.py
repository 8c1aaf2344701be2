"""Log ingest through the wizard's log view, while the UI stays responsive.

    python bench/tui_log_ingest.py [--lines 1000000]

A producer thread yields LogLine events (plain, ANSI-coloured and tqdm-style `\\r` lines, with a Progress event
every 1000 lines) into the same path a followed step uses: `feed.pump` (daemon thread) -> `feed.deliver` (a
Textual thread worker posting batches) -> `RunPane` -> `LogView` (bounded). Measured in one run:
- lines/s from the first event to the last line in the view (goal >= 50,000);
- UI responsiveness: the worst and the 99th-percentile delay of a 20 ms interval timer during ingest;
- memory: peak RSS growth of the process during ingest (goal < 150 MB for a million lines).
The app runs headless (Textual's test driver, 80x24), so every frame is still composed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]


def events(n: int, rate: float | None = None):
    """n lines; with `rate`, paced to that many lines a second (in bursts of 1000, like a chatty step)."""
    from olive_lab.steps.events import Finished, LogLine, Progress

    started = time.perf_counter()

    plain = "[2026-11-24 16:39:25,713] [INFO] [engine.py:839:_create_system] Creating target system ..."
    coloured = "\x1b[32mINFO\x1b[0m trainer step {i}: \x1b[1mloss\x1b[0m 6.{i:04d}"
    tqdm = " 45%|####5     | 45/100 [00:10<00:12,  4.50it/s]\r 46%|####6     | 46/100 [00:10<00:12,  4.50it/s]"
    for i in range(n):
        k = i % 10
        if k == 0:
            text = coloured.format(i=i % 10000)
            yield LogLine(f"INFO trainer step {i % 10000}: loss 6.{i % 10000:04d}", text)
        elif k == 5:
            yield LogLine(tqdm.split("\r")[-1], tqdm)
        else:
            yield LogLine(plain, plain)
        if i % 1000 == 0:
            yield Progress(i, n, "lines", "it", None)
            if rate:
                wait = started + i / rate - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
    yield Finished({}, 1.0)


async def run(n: int, rate: float | None = None) -> dict:
    sys.path.insert(0, str(REPO / "tests" / "tui"))
    from olive_lab.tui.app import OliveLabApp
    from olive_lab.tui.feed import Feed, deliver, pump
    from olive_lab.tui.run_pane import RunPane

    workdir = Path(tempfile.mkdtemp(prefix="olive-lab-bench-"))
    (workdir / "data").mkdir()
    shutil.copy(REPO / "data" / "data_sample_travel.jsonl", workdir / "data")
    proc = psutil.Process()
    app = OliveLabApp(workdir, "cpu", gpu="none", run_check=False, refresh_s=3600)
    result: dict = {}
    async with app.run_test(size=(80, 24)) as pilot:
        while app.lab is None or not app.plans:
            await pilot.pause(0.05)
        app.show_step("finetune")
        await pilot.pause(0.2)
        pane = app.pane("finetune")
        delays: list[float] = []
        last = [time.perf_counter()]

        def beat() -> None:
            now = time.perf_counter()
            delays.append(now - last[0] - 0.02)
            last[0] = now

        rss_before = proc.memory_info().rss
        peak = [rss_before]
        stop = threading.Event()

        def sample() -> None:
            while not stop.is_set():
                peak[0] = max(peak[0], proc.memory_info().rss)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        feed = Feed("finetune", max_lines=5000)
        pane.post_message(RunPane.FollowStarted(feed, time.time(), live=True))
        await pilot.pause(0.1)
        timer = app.set_interval(0.02, beat)
        started = time.perf_counter()
        pump(events(n, rate), feed)
        worker = threading.Thread(target=deliver, args=(feed, lambda: pane.post_message(RunPane.EventsReady(feed)),
                                                        lambda: False), daemon=True)
        worker.start()
        while pane.run_status == "running":
            await pilot.pause(0.05)
        elapsed = time.perf_counter() - started
        timer.stop()
        stop.set()
        sampler.join()
        delays = [d for d in delays if d > -0.02]
        expected_last = [e.text for e in events(n) if type(e).__name__ == "LogLine"][-len(pane.log_view.lines):]
        same = pane.log_view.plain_lines() == expected_last
        result = {
            "lines": pane.log_view.line_count,
            "seconds": round(elapsed, 3),
            "lines_per_s": round(pane.log_view.line_count / elapsed),
            "kept_lines": len(pane.log_view.lines),
            "kept_lines_are_the_last": same,
            "ui_timer_delay_max_ms": round(max(delays) * 1000, 1) if delays else None,
            "ui_timer_delay_p99_ms": round(sorted(delays)[int(len(delays) * 0.99) - 1] * 1000, 1) if delays else None,
            "ui_timer_delay_median_ms": round(statistics.median(delays) * 1000, 1) if delays else None,
            "ui_timer_beats": len(delays),
            "rss_before_mb": round(rss_before / 2**20, 1),
            "rss_peak_growth_mb": round((peak[0] - rss_before) / 2**20, 1),
            "rss_peak_mb": round(peak[0] / 2**20, 1),
        }
    shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=None,
                        help="pace the producer to this many lines/s (default: as fast as it goes)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    r = asyncio.run(run(args.lines, args.rate))
    r["paced_at"] = args.rate
    if args.json:
        print(json.dumps(r))
        return 0
    ok_rate = r["lines_per_s"] >= 50_000
    ok_mem = r["rss_peak_growth_mb"] < 150
    print(f"log ingest: {r['lines']:,} lines in {r['seconds']:.2f} s = {r['lines_per_s']:,} lines/s "
          f"(goal >= 50,000: {'met' if ok_rate else 'NOT met'}; {r['lines_per_s'] / 50_000:.2f}x the goal)")
    if args.rate:
        print(f"  (producer paced at {args.rate:,.0f} lines/s)")
    print(f"  UI timer (20 ms) delay while ingesting: median {r['ui_timer_delay_median_ms']} ms, "
          f"p99 {r['ui_timer_delay_p99_ms']} ms, max {r['ui_timer_delay_max_ms']} ms over {r['ui_timer_beats']} beats")
    print(f"  memory: peak RSS {r['rss_peak_mb']} MB, growth {r['rss_peak_growth_mb']} MB during ingest "
          f"(goal < 150 MB: {'met' if ok_mem else 'NOT met'}); the view keeps the last {r['kept_lines']:,} lines "
          f"({'exactly the last ones' if r['kept_lines_are_the_last'] else 'NOT the last ones'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
