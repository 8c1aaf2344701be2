"""Chat tokens/s in the wizard's chat pane versus a bare onnxruntime-genai loop on the same model.

    python bench/tui_chat.py [--workdir LAB] [--runs 5] [--tokens 200]

LAB is a work folder where the cpu lab has run (models/phi/onnx-ao); without it the cpu lab is built first in a
temporary folder (`olive-lab run --profile cpu`, a few minutes). Both sides generate greedily from the same
prompt with the adapter on, the same number of new tokens, and count decode speed the same way
((tokens - 1) / time from the first token to the last). The pane side is measured in the wizard's own worker
thread while the UI (headless, 80x24) shows every piece; its "on screen" figure also counts the time until
the last piece is on screen. Goal: pane / bare >= 0.97.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROMPT = "What food should I try in Kyoto?"


def bare_loop(folder: Path, tokens: int, runs: int, use_adapter: bool = True) -> list[float]:
    """The lab's app.py loop (modern API), nothing else around it."""
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    tok = og.Tokenizer(model)
    adapters = og.Adapters(model)
    adapters.load(str(folder / "adapter_weights.onnx_adapter"), "travel")
    text = tok.apply_chat_template(json.dumps([{"role": "user", "content": PROMPT}]), add_generation_prompt=True)
    ids = tok.encode(text)
    rates = []
    for _ in range(runs + 1):  # the first run warms up
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + tokens)
        gen = og.Generator(model, params)
        if use_adapter:
            gen.set_active_adapter(adapters, "travel")
        stream = tok.create_stream()
        gen.append_tokens(ids)
        first = None
        n = 0
        while not gen.is_done():
            gen.generate_next_token()
            n += 1
            if first is None:
                first = time.perf_counter()
            stream.decode(gen.get_next_tokens()[0])
        end = time.perf_counter()
        rates.append((n - 1) / (end - first))
        del gen
    return rates[1:]


async def pane_loop(workdir: Path, tokens: int, runs: int) -> tuple[list[float], list[float]]:
    import olive_lab.tui.chat_pane as chat_pane
    from olive_lab.tui.app import OliveLabApp

    chat_pane.MAX_NEW_TOKENS = tokens
    app = OliveLabApp(workdir, None, gpu="none", run_check=False, refresh_s=3600)
    rates, visible = [], []
    async with app.run_test(size=(80, 24)) as pilot:
        while app.lab is None or not app.plans:
            await pilot.pause(0.05)
        app.show_step("chat")
        pane = app.pane("chat")
        while pane.session is None and not pane.load_error:
            await pilot.pause(0.05)
        if pane.load_error:
            raise SystemExit(f"the model did not load: {pane.load_error}")
        for i in range(runs + 1):
            pane.clear_history()
            done = pane.replies
            started = time.perf_counter()
            pane.send(PROMPT)
            while pane.replies == done:
                await asyncio.sleep(0.05)  # a quiet wait: polling the UI loop fast would steal the GIL itself
            shown = pane.reply_shown_at
            stats = pane.last_stats
            if i:
                rates.append(stats.tokens_per_s)
                visible.append(stats.tokens / (shown - started))
    return rates, visible


def ensure_lab(workdir: str | None) -> Path:
    if workdir:
        return Path(workdir).resolve()
    tmp = Path(tempfile.mkdtemp(prefix="olive-lab-chat-bench-"))
    print(f"building the cpu lab in {tmp} (a few minutes)…", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "olive_lab", "run", "--profile", "cpu", "--workdir", str(tmp)],
                   check=True, stdout=subprocess.DEVNULL)
    return tmp


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workdir")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    workdir = ensure_lab(args.workdir)
    from olive_lab.steps.optimize import model_folder
    from olive_lab.steps.pipeline import load_lab

    folder = model_folder(load_lab(workdir))
    # Interleave the two sides so that a noisy neighbour hurts both alike.
    bare, pane, shown = [], [], []
    for _ in range(2):
        bare += bare_loop(folder, args.tokens, args.runs)
        p, s = asyncio.run(pane_loop(workdir, args.tokens, args.runs))
        pane += p
        shown += s
    b, p, s = statistics.median(bare), statistics.median(pane), statistics.median(shown)
    result = {"model": str(folder), "tokens": args.tokens, "runs": len(bare), "bare_tokens_per_s": round(b, 1),
              "pane_tokens_per_s": round(p, 1), "pane_on_screen_tokens_per_s": round(s, 1),
              "ratio": round(p / b, 3), "ratio_on_screen": round(s / b, 3)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"chat: bare onnxruntime-genai loop {b:,.1f} tokens/s; in the wizard's chat pane {p:,.1f} tokens/s "
          f"= {p / b:.3f}x (goal >= 0.97: {'met' if p / b >= 0.97 else 'NOT met'})")
    print(f"  counting until the last piece is on screen (prefill included): {s:,.1f} tokens/s = {s / b:.3f}x; "
          f"median of {len(bare)} runs each, {args.tokens} new tokens, adapter on, model {folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
