"""Chat tokens/s in the wizard's chat pane versus a bare onnxruntime-genai loop on the same model.

    python bench/tui_chat.py [--cases tiny:on,tiny:off,mid:on] [--terminal headless|pty|both] [--runs 21]
                             [--tokens 200] [--workdir LAB] [--cache DIR] [--mid-layers 2] [--json]

Two models, measured in the same run:

- `tiny`: the cpu profile's model (what a workshop attendee without a GPU chats with). A token takes a third of a
  millisecond with the adapter on (a fifteenth without), so a whole reply lasts 15-70 ms and any work the UI does
  in it shows up in full: the harshest case, not a realistic one. The cpu lab's adapter makes this model answer
  newlines only (nothing new to draw: `tiny:on`); without it the reply is text (`tiny:off`).
- `mid`: a Phi-3.5-mini-shaped model (hidden 3072, MLP 8192, vocab 32064) cut to `--mid-layers` layers (default
  2), with random weights, a LoRA adapter from a short, gentle `olive finetune`, made int4 ONNX with the lab's own
  `olive auto-opt ... --use_model_builder --precision int4` command (steps/optimize.py). It decodes at 30-80
  tokens/s on 2 cores (the VM's speed varies from day to day), a token rate like real use. The logits of the
  tokenizer's added tokens (the `<|unusedN|>` padding past the trained 1024-token vocabulary, and the end tokens)
  are zeroed before fine-tuning so that, like a real model, nearly every token is visible text, and every reply
  runs to `--tokens` on any build (with random weights the padding tokens win otherwise and decode to nothing;
  an end token could cut a reply short).

Both are built once and cached under `--cache` (default /tmp/olive-lab-bench/chat, outside the repository):
about 1.5 min for `tiny` (`olive-lab run --profile cpu`), about 1.5 min for `mid`. `--workdir LAB` uses a
finished cpu lab instead of the cached tiny one.

How: the pane side runs the wizard at 80x24 on a work folder whose optimized model is the one measured, drawn
by Textual's headless driver and (`--terminal pty`) by its real Linux driver on a pseudo-terminal whose output
this process reads and drops as a terminal would (the escape sequences are part of the cost). It types
nothing: `ChatPane.send` the prompt, as Enter does. Its tokens/s is the one the pane shows, measured inside the
generation loop of `ChatSession.generate` in the pane's model process (`ChatProcess`) while the UI shows every
piece; the UI's work shares the machine's cores with it. The bare
side is the lab's app.py loop (modern API) in its own process, nothing around it. Both generate greedily from
the same prompt, with the adapter as the case says, the same number of new tokens, and count decode speed the
same way: (tokens - 1) / time from the first token to the last. Runs alternate pane, bare, pane, bare... after
one warm-up pair (the app is frozen while the bare side runs, and the bare process waits on a pipe while the
pane runs), so a noisy neighbour hurts both alike; the ratio is of the medians of `--runs` runs, with a 90%
bootstrap interval over the pairs, and the run-by-run ratios are printed too (on a shared 2-core VM one run's
tokens/s differs from the next by 5-8%, the bare loop's as much: 15 runs or more are needed to tell 0.95 from
0.97). "on screen" counts from
`send` (the question is drawn before generation starts) to the reply's last piece on screen, prefill included.
Goal: pane / bare >= 0.97.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "data" / "data_sample_travel.jsonl"
PROMPT = "What food should I try in Kyoto?"
DEFAULT_CACHE = Path(os.environ.get("OLIVE_LAB_BENCH_CACHE", "/tmp/olive-lab-bench")) / "chat"
READY = "bench-ready.json"
GOAL = 0.97
DEFAULT_CASES = "tiny:on,tiny:off,mid:on"


# --- the models ----------------------------------------------------------------------------------------------------

def olive_bin() -> str:
    beside = Path(sys.executable).parent / "olive"
    return str(beside) if beside.exists() else "olive"


def run_logged(argv: list[str], log: Path, what: str) -> float:
    started = time.perf_counter()
    with open(log, "a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(argv)}\n")
        out.flush()
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    if done.returncode:
        raise SystemExit(f"{what} failed (exit {done.returncode}); see {log}")
    return time.perf_counter() - started


def model_folder(workdir: Path) -> Path:
    from olive_lab.steps.optimize import model_folder as folder_of
    from olive_lab.steps.pipeline import load_lab

    return folder_of(load_lab(workdir))


def ensure_tiny(cache: Path, workdir: str | None) -> Path:
    """A finished cpu lab: the one given, else the cached one (built with `olive-lab run --profile cpu`)."""
    if workdir:
        return Path(workdir).resolve()
    lab = cache / "tiny-lab"
    if (lab / READY).is_file():
        return lab
    lab.mkdir(parents=True, exist_ok=True)
    print(f"building the cpu lab in {lab} (about 1.5 min, once)…", file=sys.stderr)
    seconds = run_logged([sys.executable, "-m", "olive_lab", "run", "--profile", "cpu", "--workdir", str(lab)],
                         lab.parent / "tiny-lab.log", "olive-lab run --profile cpu")
    (lab / READY).write_text(json.dumps({"built_s": round(seconds, 1)}) + "\n", encoding="utf-8")
    return lab


def mask_special_logits(folder: Path) -> int:
    """Zero the lm_head rows of the tokenizer's added tokens (`<|end|>`, `<|endoftext|>`, `<|unusedN|>` padding...);
    returns how many.

    With random weights the real tokens' logits spread around 0 (sd about 1) and these rows become exactly 0, so
    greedy decoding picks a real token nearly always: each token is a piece of text, as with a real model, and no
    reply ends early. Without it the padding tokens win (they decode to nothing: the pane would have next to
    nothing to draw), and where an end token wins depends on the machine's int4 kernels: one build's reply was 200
    tokens, a rebuild's on another VM 74. Compute is unchanged (the rows stay in the matrix).
    """
    from safetensors.torch import load_file, save_file

    tokens = json.loads((folder / "tokenizer.json").read_text(encoding="utf-8"))
    special = sorted(t["id"] for t in tokens["added_tokens"])
    (weights,) = folder.glob("*.safetensors")
    tensors = load_file(weights)
    tensors["lm_head.weight"][special] = 0
    save_file(tensors, weights, metadata={"format": "pt"})
    return len(special)


def ensure_mid(cache: Path, layers: int) -> Path:
    """A work folder whose optimized model is the mid-size one (its lab.json says profile cpu)."""
    root = cache / f"phi35mini-{layers}l-noend"
    lab_dir = root / "lab"
    if (root / READY).is_file():
        return lab_dir
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    log = root / "build.log"
    print(f"building a {layers}-layer Phi-3.5-mini-shaped int4 model in {root} (about 2 min, once)…",
          file=sys.stderr)
    from olive_lab.steps import optimize
    from olive_lab.steps.lab import Lab
    from olive_lab.steps.profiles import LAB_TEXT_TEMPLATE, PROFILES

    times = {}
    base = root / "base"
    times["model"] = run_logged([sys.executable, "-m", "olive_lab.steps.tiny_model", "--size", "phi35mini",
                                 "--layers", str(layers), "--device", "cpu", "--out", str(base),
                                 "--data", str(DATASET)], log, "building the model")
    masked = mask_special_logits(base)
    lab = Lab.create(lab_dir, PROFILES["cpu"], dataset=DATASET, model=str(base))
    # A short, gentle fine-tune: the adapter only has to exist and be used (its deltas cost the same however
    # trained); at the cpu profile's learning rate it would make this model answer newlines only.
    times["finetune"] = run_logged([
        olive_bin(), "finetune", "--method", "lora", "-m", str(base), "--data_name", "json",
        "--data_files", str(DATASET), "--text_template", LAB_TEXT_TEMPLATE, "-o", str(lab.ft_dir),
        "--torch_dtype", "float32", "--max_steps", "4", "--logging_steps", "1", "--max_seq_len", "64",
        "--per_device_train_batch_size", "2", "--learning_rate", "0.0003", "--log_level", "1"], log, "olive finetune")
    argv = list(optimize.plan(lab).argv)  # the lab's own optimize command, on this model
    argv[0] = olive_bin() if argv[0] == "olive" else argv[0]
    times["optimize"] = run_logged(argv, log, "olive auto-opt")
    shutil.rmtree(lab.ft_dir / "model", ignore_errors=True)  # 0.8 GB the benchmark does not need again
    state = lab_dir / ".olive-lab"
    state.mkdir(parents=True, exist_ok=True)
    (state / "lab.json").write_text(json.dumps({"profile": "cpu", "model": str(base), "data": str(DATASET)}),
                                    encoding="utf-8")
    (root / READY).write_text(json.dumps({"layers": layers, "masked_tokens": masked,
                                          "seconds": {k: round(v, 1) for k, v in times.items()}}) + "\n",
                              encoding="utf-8")
    return lab_dir


def describe(folder: Path) -> str:
    cfg = json.loads((folder / "genai_config.json").read_text(encoding="utf-8"))["model"]
    size = sum(f.stat().st_size for f in folder.iterdir() if f.is_file())
    dec = cfg.get("decoder", {})
    return (f"{dec.get('num_hidden_layers', '?')} layers, hidden {dec.get('hidden_size', '?')}, "
            f"vocab {cfg.get('vocab_size', '?')}, {size / 1e6:,.1f} MB")


# --- the bare loop, in its own process -----------------------------------------------------------------------------

def bare_server(folder: Path, tokens: int) -> int:
    """Load once, then run the lab's app.py loop (modern API) once per line on stdin ("on"/"off": the adapter).

    One JSON line per run. The loop is the whole of it: no thread, no UI, nothing else in the process.
    """
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    tok = og.Tokenizer(model)
    adapters = og.Adapters(model)
    adapters.load(str(folder / "adapter_weights.onnx_adapter"), "travel")
    text = tok.apply_chat_template(json.dumps([{"role": "user", "content": PROMPT}]), add_generation_prompt=True)
    ids = tok.encode(text)
    print("ready", flush=True)
    for line in sys.stdin:
        use_adapter = line.strip() == "on"
        started = time.perf_counter()
        params = og.GeneratorParams(model)
        params.set_search_options(max_length=len(ids) + tokens)
        gen = og.Generator(model, params)
        if use_adapter:
            gen.set_active_adapter(adapters, "travel")
        stream = tok.create_stream()
        gen.append_tokens(ids)
        first = None
        n = 0
        pieces = []
        while not gen.is_done():
            gen.generate_next_token()
            n += 1
            if first is None:
                first = time.perf_counter()
            pieces.append(stream.decode(gen.get_next_tokens()[0]))
        end = time.perf_counter()
        del gen
        reply = "".join(pieces)
        print(json.dumps({"tokens": n, "tokens_per_s": (n - 1) / (end - first), "ttft_s": first - started,
                          "pieces": sum(1 for p in pieces if p), "chars": len(reply),
                          "visible_chars": len(reply.strip())}), flush=True)
    return 0


class Bare:
    def __init__(self, folder: Path, tokens: int) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--bare-server", str(folder), "--tokens", str(tokens)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        line = self.proc.stdout.readline().strip()
        if line != "ready":
            raise SystemExit(f"the bare loop did not start (it said {line!r})")

    def run(self, use_adapter: bool) -> dict:
        self.proc.stdin.write("on\n" if use_adapter else "off\n")
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


# --- pane versus bare ----------------------------------------------------------------------------------------------

async def measure(app, pilot, bare: Bare, adapters: list[bool], runs: int) -> dict:
    """Alternate pane and bare runs (one warm-up pair first) for each adapter setting."""
    while app.lab is None or not app.plans:
        await pilot.pause(0.05)
    app.show_step("chat")
    pane = app.pane("chat")
    while pane.session is None and not pane.load_error:
        await pilot.pause(0.05)
    if pane.load_error:
        raise SystemExit(f"the model did not load in the pane: {pane.load_error}")
    out = {}
    for use_adapter in adapters:
        pane.set_adapter(use_adapter)
        pane_runs, bare_runs = [], []
        for i in range(runs + 1):  # the first pair warms up
            pane.clear_history()
            await pilot.pause(0.3)
            done = pane.replies
            started = time.perf_counter()
            pane.send(PROMPT)
            while pane.replies == done:
                # A quiet wait: each wake-up of the UI loop takes a core from the model for a moment. The figures
                # do not depend on when this notices the end.
                await asyncio.sleep(0.25)
            stats = pane.last_stats
            shown = pane.reply_shown_at - started
            # The app is frozen (this call blocks its loop) while the bare loop runs in its own process.
            other = bare.run(use_adapter)
            if i:
                pane_runs.append({"tokens": stats.tokens, "tokens_per_s": stats.tokens_per_s, "ttft_s": stats.ttft_s,
                                  "on_screen_tokens_per_s": stats.tokens / shown})
                bare_runs.append(other)
        out["on" if use_adapter else "off"] = (pane_runs, bare_runs)
    return out


def ratio_interval(pane: list[float], bare: list[float], draws: int = 2000) -> tuple[float, float]:
    """A 90% bootstrap interval of median(pane) / median(bare), resampling the alternating pairs.

    On a shared 2-core VM one run's tokens/s moves by 5-8% from the next, the bare loop's too: the interval says
    how far the median ratio could be from what more runs would find.
    """
    rng = random.Random(1)
    pairs = list(zip(pane, bare))
    ratios = sorted(statistics.median(p for p, _ in sample) / statistics.median(b for _, b in sample)
                    for sample in (rng.choices(pairs, k=len(pairs)) for _ in range(draws)))
    return ratios[int(0.05 * draws)], ratios[int(0.95 * draws) - 1]


def summarize(pane_runs: list[dict], bare_runs: list[dict]) -> dict:
    med = lambda runs_, key: statistics.median(r[key] for r in runs_)  # noqa: E731
    low, high = ratio_interval([r["tokens_per_s"] for r in pane_runs], [r["tokens_per_s"] for r in bare_runs])
    b, p, s = med(bare_runs, "tokens_per_s"), med(pane_runs, "tokens_per_s"), med(pane_runs, "on_screen_tokens_per_s")
    return {
        "runs": len(pane_runs), "tokens": {"bare": bare_runs[0]["tokens"], "pane": pane_runs[0]["tokens"]},
        "pieces": bare_runs[0]["pieces"], "chars": bare_runs[0]["chars"],
        "visible_chars": bare_runs[0]["visible_chars"],
        "bare_tokens_per_s": round(b, 1), "pane_tokens_per_s": round(p, 1), "pane_on_screen_tokens_per_s": round(s, 1),
        "ratio": round(p / b, 3), "ratio_90": [round(low, 3), round(high, 3)], "ratio_on_screen": round(s / b, 3),
        "pair_ratios": [round(x["tokens_per_s"] / y["tokens_per_s"], 3) for x, y in zip(pane_runs, bare_runs)],
        "ttft_ms": {"bare": round(1000 * med(bare_runs, "ttft_s"), 1),
                    "pane": round(1000 * med(pane_runs, "ttft_s"), 1)},
    }


async def compare_headless(workdir: Path, folder: Path, adapters: list[bool], tokens: int, runs: int) -> dict:
    import olive_lab.tui.chat_pane as chat_pane
    from olive_lab.tui.app import OliveLabApp

    chat_pane.MAX_NEW_TOKENS = tokens
    bare = Bare(folder, tokens)
    try:
        app = OliveLabApp(workdir, None, gpu="none", run_check=False, refresh_s=3600)
        async with app.run_test(size=(80, 24)) as pilot:
            return await measure(app, pilot, bare, adapters, runs)
    finally:
        bare.close()


def pane_in_terminal(workdir: Path, folder: Path, adapters: list[bool], tokens: int, runs: int, out: Path) -> int:
    """The pane side inside a real terminal driver (run by `compare_in_pty` with a pty as its terminal)."""
    import olive_lab.tui.chat_pane as chat_pane
    from olive_lab.tui.app import OliveLabApp

    chat_pane.MAX_NEW_TOKENS = tokens
    bare = Bare(folder, tokens)
    app = OliveLabApp(workdir, None, gpu="none", run_check=False, refresh_s=3600)
    result = {}

    async def pilot_fn(pilot) -> None:
        try:
            result.update(await measure(app, pilot, bare, adapters, runs))
        finally:
            app.exit()

    try:
        app.run(auto_pilot=pilot_fn)
    finally:
        bare.close()
    out.write_text(json.dumps(result), encoding="utf-8")
    return 0


def compare_in_pty(workdir: Path, folder: Path, adapters: list[bool], tokens: int, runs: int) -> dict:
    """Run `pane_in_terminal` in a child whose terminal is an 80x24 pty; its output is read and dropped here,
    as a terminal emulator would (the escape sequences the wizard writes are part of its cost)."""
    import fcntl
    import pty
    import struct
    import tempfile
    import termios
    import threading

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "pane.json"
        env = dict(os.environ, TERM="xterm-256color", COLORTERM="truecolor", COLUMNS="80", LINES="24")
        child = subprocess.Popen(
            [sys.executable, __file__, "--pane-terminal", str(workdir), "--model-folder", str(folder),
             "--adapters", ",".join("on" if a else "off" for a in adapters), "--tokens", str(tokens),
             "--runs", str(runs), "--result", str(out)],
            stdin=slave, stdout=slave, stderr=slave, env=env, start_new_session=True)
        os.close(slave)
        received = [0]

        def drain() -> None:
            while True:
                try:
                    data = os.read(master, 1 << 16)
                except OSError:
                    return
                if not data:
                    return
                received[0] += len(data)

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        code = child.wait()
        os.close(master)
        if code or not out.is_file():
            raise SystemExit(f"the pane in a terminal failed (exit {code})")
        result = json.loads(out.read_text(encoding="utf-8"))
    result["terminal_bytes"] = received[0]
    return result


# --- main ----------------------------------------------------------------------------------------------------------

def parse_cases(text: str) -> dict[str, list[bool]]:
    cases: dict[str, list[bool]] = {}
    for item in filter(None, (c.strip() for c in text.split(","))):
        name, _, adapter = item.partition(":")
        if name not in ("tiny", "mid") or adapter not in ("on", "off"):
            raise SystemExit(f"bad case {item!r}: use tiny:on, tiny:off, mid:on, mid:off")
        cases.setdefault(name, []).append(adapter == "on")
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", default=DEFAULT_CASES, help=f"model:adapter, comma-separated ({DEFAULT_CASES})")
    parser.add_argument("--terminal", choices=("headless", "pty", "both"), default="both",
                        help="where the pane side draws: Textual's headless driver, a real one on a pty, or both")
    parser.add_argument("--workdir", help="a finished cpu lab for `tiny` (default: the cached one)")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"where built models live ({DEFAULT_CACHE})")
    parser.add_argument("--mid-layers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--bare-server", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--pane-terminal", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model-folder", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--adapters", help=argparse.SUPPRESS)
    parser.add_argument("--result", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        return bare_server(args.bare_server, args.tokens)
    os.environ.setdefault("TEXTUAL_ANIMATIONS", "none")
    if args.pane_terminal:
        return pane_in_terminal(args.pane_terminal, args.model_folder,
                                [a == "on" for a in args.adapters.split(",")], args.tokens, args.runs, args.result)
    terminals = ["headless", "pty"] if args.terminal == "both" else [args.terminal]
    rows = []
    for name, adapters in parse_cases(args.cases).items():
        workdir = ensure_tiny(args.cache, args.workdir) if name == "tiny" else ensure_mid(args.cache, args.mid_layers)
        folder = model_folder(workdir)
        for terminal in terminals:
            if terminal == "headless":
                measured = asyncio.run(compare_headless(workdir, folder, adapters, args.tokens, args.runs))
            else:
                measured = compare_in_pty(workdir, folder, adapters, args.tokens, args.runs)
            for adapter, (pane_runs, bare_runs) in ((k, v) for k, v in measured.items() if k in ("on", "off")):
                rows.append({"model": name, "adapter": adapter, "terminal": terminal, "about": describe(folder),
                             "folder": str(folder), **summarize(pane_runs, bare_runs)})
    if args.json:
        print(json.dumps({"goal": GOAL, "new_tokens": args.tokens, "rows": rows}))
        return 0
    print(f"chat tokens/s, the wizard's chat pane vs a bare onnxruntime-genai loop: median of {args.runs} alternating "
          f"runs each, {args.tokens} new tokens max, greedy, same prompt; goal >= {GOAL}")
    print(f"{'model':<5} {'adapter':<7} {'terminal':<8} {'bare tok/s':>10} {'pane tok/s':>10} {'ratio':>7} "
          f"{'90% interval':>13} {'on screen':>9} {'TTFT bare/pane ms':>17}  goal")
    for r in rows:
        print(f"{r['model']:<5} {r['adapter']:<7} {r['terminal']:<8} {r['bare_tokens_per_s']:>10,.1f} "
              f"{r['pane_tokens_per_s']:>10,.1f} {r['ratio']:>6.3f}x {r['ratio_90'][0]:>6.3f}-{r['ratio_90'][1]:.3f} "
              f"{r['ratio_on_screen']:>8.3f}x "
              f"{r['ttft_ms']['bare']:>8.1f}/{r['ttft_ms']['pane']:<8.1f}  "
              f"{'met' if r['ratio'] >= GOAL else 'NOT met'}")
    seen = set()
    for r in rows:
        if (r["model"], r["adapter"]) in seen:
            continue
        seen.add((r["model"], r["adapter"]))
        print(f"  {r['model']} adapter {r['adapter']}: {r['about']}; a reply is {r['tokens']['bare']} tokens, "
              f"{r['pieces']} text pieces, {r['visible_chars']} visible characters")
    for r in rows:
        print(f"  pane/bare run by run, {r['model']} adapter {r['adapter']} {r['terminal']}: {r['pair_ratios']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
