"""The whole `gpu` lab on one GPU, step by step: wall time, GPU memory peak and RSS peak, next to the lab's A100
figures; then the chat speed and the wizard's overhead against the bare `olive` command for one step.
A benchmark, not a test: it needs an NVIDIA GPU, the gpu extra and `olive-lab setup --profile gpu`.

    python bench/gpu_lab.py --work DIR [--size phi35mini|tiny] [--bare-step finetune] [--out FILE.json]

1. writes a travel dataset (294 prompt/response rows, deterministic) and builds the base model with
   `python -m olive_lab.steps.tiny_model --size phi35mini` (Phi-3.5-mini-instruct's exact shapes, random bf16
   weights made on the GPU): the stand-in for the model step's 7.6 GB download;
2. runs `olive-lab run --profile gpu --model <it> --data <it> --no-chat --detach` and follows the detached run,
   sampling every 0.5 s the GPU's used memory (NVML, whole GPU: CUDA context and allocator cache included) and the
   summed RSS of the run's processes; the step times are the runner's own (StepState);
3. runs one step again as the bare command a person would type (same argv without the wizard, in a fresh folder
   so Olive's cache cannot serve it) and compares the wall times;
4. chats with the result through onnxruntime-genai (CPU): load, TTFT and decode tok/s with the adapter on and off.
Prints a Markdown report and writes the numbers as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

LAB_A100_S = {"quantize": 8 * 60, "finetune": 6 * 60, "optimize": 5 * 60}  # the lab's own figures (19 min in all)
CITIES = ("Lisbon", "Kyoto", "Paris", "Rome", "Oslo", "Lima", "Cairo", "Hanoi", "Seville", "Porto", "Vienna",
          "Prague", "Quito", "Bergen", "Naples", "Cusco", "Marrakesh", "Tbilisi", "Valparaiso", "Hoi An", "Krakow")
TOPICS = (
    ("food", "Try the dishes the locals eat at lunch, not the ones on the tourist menus; small family places near "
             "the market are cheaper and better, and most of them close between three and seven."),
    ("transport", "Buy a day pass for the public transport on the first morning; walking the old centre is easy, "
                  "but the hills and the river crossings are tiring in the afternoon heat."),
    ("museums", "Book the main museum a few days ahead and go early; many smaller museums are free on the first "
                "Sunday of the month, and the quiet ones often have the best collections."),
    ("evenings", "Walk to a viewpoint at sunset, then eat late like the locals do; ask the staff of your hotel "
                 "which neighbourhood has music that night."),
    ("budget", "Carry some cash for markets and small cafes, drink tap water where it is safe, and take the slow "
               "train for day trips; it costs a third of a guided tour."),
    ("safety", "Keep your phone in a front pocket in crowded trams, use official taxis at night, and keep a copy "
               "of your passport apart from the original."),
    ("day trips", "Leave the city for one day: a coastal town or a village in the hills shows a different side "
                  "of the region and is easy to reach by bus."),
)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def write_dataset(path: Path, rows: int = 294) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    out = []
    i = 0
    while len(out) < rows:
        city = CITIES[i % len(CITIES)]
        topic, advice = TOPICS[(i // len(CITIES)) % len(TOPICS)]
        variant = i // (len(CITIES) * len(TOPICS))
        prompt = (f"I am visiting {city} for {3 + variant} days. What is your advice about {topic}?")
        response = (f"For {topic} in {city}: {advice} If you have {3 + variant} days, keep one afternoon free "
                    f"for wandering; {city} rewards slow visitors who look beyond the famous sights.")
        out.append({"prompt": prompt, "response": response})
        i += 1
    path.write_text("".join(json.dumps(r) + "\n" for r in out), encoding="utf-8")
    return path


class Sampler:
    """GPU used memory (NVML, whole device) and summed RSS of a process tree, every `period` seconds."""

    def __init__(self, period: float = 0.5):
        self.period = period
        self.samples: list[tuple[float, float, float, str]] = []  # (t, gpu_gib, rss_gib, label)
        self.root_pid: int | None = None
        self.label = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        try:
            import pynvml

            pynvml.nvmlInit()
            self._nvml = pynvml
            self._handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        except Exception as exc:  # noqa: BLE001 - no GPU: RSS only
            log(f"NVML not available ({exc}); GPU memory not sampled")
            self._nvml = None

    def gpu_gib(self) -> float:
        if self._nvml is None:
            return float("nan")
        return self._nvml.nvmlDeviceGetMemoryInfo(self._handle).used / 2**30

    def rss_gib(self) -> float:
        import psutil

        if self.root_pid is None:
            return 0.0
        try:
            root = psutil.Process(self.root_pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0
        for p in procs:
            try:
                total += p.memory_info().rss
            except psutil.Error:
                pass
        return total / 2**30

    def _loop(self):
        while not self._stop.is_set():
            self.samples.append((time.time(), self.gpu_gib(), self.rss_gib(), self.label))
            self._stop.wait(self.period)

    def start(self):
        self._thread.start()
        return self

    def stop(self):
        self._stop.set()
        self._thread.join()

    def peaks(self, label: str | None = None, t0: float | None = None, t1: float | None = None) -> dict:
        rows = [s for s in self.samples if (label is None or s[3] == label)
                and (t0 is None or s[0] >= t0) and (t1 is None or s[0] <= t1)]
        if not rows:
            return {"gpu_peak_gib": None, "rss_peak_gib": None, "samples": 0}
        return {"gpu_peak_gib": round(max(r[1] for r in rows), 2), "rss_peak_gib": round(max(r[2] for r in rows), 2),
                "samples": len(rows)}


def run_timed(argv: list[str], sampler: Sampler, label: str, cwd: Path, env: dict, log_path: Path) -> dict:
    log(f"{label}: $ {shlex.join(argv)}")
    sampler.label = label
    t0 = time.time()
    with open(log_path, "wb") as fh:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT)
        sampler.root_pid = proc.pid
        code = proc.wait()
    t1 = time.time()
    sampler.root_pid, sampler.label = None, ""
    res = {"label": label, "wall_s": round(t1 - t0, 1), "exit_code": code, "log": str(log_path), "t0": t0, "t1": t1,
           **sampler.peaks(label, t0, t1)}
    log(f"{label}: exit {code} in {res['wall_s']} s (GPU peak {res['gpu_peak_gib']} GiB, RSS peak {res['rss_peak_gib']} GiB)")
    return res


def follow_run(work: Path, sampler: Sampler, timeout_s: float) -> dict:
    """Follow the detached run in `work` until it ends: label samples with the current step."""
    run_file = work / ".olive-lab" / "run.json"
    deadline = time.time() + timeout_s
    current = None
    while time.time() < deadline:
        try:
            run = json.loads(run_file.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError):
            time.sleep(0.2)
            continue
        sampler.root_pid = run.get("pid")
        step = run.get("current")
        if step != current:
            if step:
                log(f"run: {step} started")
            current = step
        sampler.label = f"lab:{step}" if step else "lab:-"
        if run.get("ended_at"):
            sampler.root_pid, sampler.label = None, ""
            return run
        time.sleep(0.25)
    raise TimeoutError(f"the run in {work} did not end within {timeout_s} s")


def olive_phases(log_path: Path, t0: float, t1: float) -> dict:
    """Seconds from the process start to Olive's first log record, its workflow, and from its last record to the end."""
    import re

    stamps = []
    for line in log_path.read_text(encoding="utf-8", errors="replace").replace("\r", "\n").splitlines():
        m = re.match(r"^\[(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),(\d{3})\]", line)
        if m:
            stamps.append(time.mktime(time.strptime(m[1], "%Y-%m-%d %H:%M:%S")) + int(m[2]) / 1000)
    if not stamps:
        return {}
    return {"start_to_first_record_s": round(stamps[0] - t0, 2), "olive_records_s": round(stamps[-1] - stamps[0], 2),
            "last_record_to_end_s": round(t1 - stamps[-1], 2)}


def step_states(work: Path) -> dict:
    out = {}
    for f in sorted((work / ".olive-lab" / "state").glob("*.json")):
        out[f.stem] = json.loads(f.read_text(encoding="utf-8"))
    return out


def chat_bench(model_dir: Path, tokens: int) -> dict:
    """Load + one warm-up + one timed generation each with the adapter off and on (greedy, CPU)."""
    import psutil

    from olive_lab.steps.chat import ChatSession

    t0 = time.time()
    session = ChatSession.open(model_dir)
    load_s = time.time() - t0
    prompt = "What should I not miss on a first visit to Lisbon?"
    res = {"load_s": round(load_s, 2), "has_adapter": session.has_adapter, "tokens_asked": tokens}
    for use in (False, True):
        if use and not session.has_adapter:
            continue
        session.reply(prompt, use_adapter=use, max_new_tokens=8)  # warm-up
        text = session.reply(prompt, use_adapter=use, max_new_tokens=tokens)
        st = session.last_stats
        res["adapter_on" if use else "adapter_off"] = {
            "tokens": st.tokens, "ttft_s": round(st.ttft_s or 0, 3),
            "decode_tok_s": round(st.tokens_per_s or 0, 2), "text": text[:160]}
    res["rss_gib"] = round(psutil.Process().memory_info().rss / 2**30, 2)
    return res


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--size", choices=("phi35mini", "tiny"), default="phi35mini")
    ap.add_argument("--bare-step", choices=("finetune", "none"), default="finetune")
    ap.add_argument("--chat-tokens", type=int, default=128)
    ap.add_argument("--timeout", type=float, default=3000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    logs = work / "bench-logs"
    logs.mkdir(exist_ok=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    from olive_lab.steps.workspace import OFFLINE_ENV

    env.update(OFFLINE_ENV)
    result = {"date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "size": args.size,
              "host": platform.node(), "python": platform.python_version()}
    sampler = Sampler().start()
    try:
        import torch

        result["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else None
        result["torch"] = torch.__version__
    except Exception:  # noqa: BLE001
        result["gpu"] = None

    data = write_dataset(work / "data" / "travel.jsonl")
    model = work / "base" / f"phi-{args.size}"
    t_all = time.time()
    build = [sys.executable, "-m", "olive_lab.steps.tiny_model", "--out", str(model), "--data", str(data),
             "--size", args.size, "--longrope"]
    result["model_build"] = run_timed(build, sampler, "model-build", work, env, logs / "model-build.log")
    if result["model_build"]["exit_code"] != 0:
        raise SystemExit("model build failed: see " + str(logs / "model-build.log"))

    lab = work / "lab"
    cli = [sys.executable, "-m", "olive_lab.cli", "run", "--profile", "gpu", "--model", str(model), "--data",
           str(data), "-w", str(lab), "--no-chat", "--detach"]
    log(f"lab: $ {shlex.join(cli)}")
    t_cli = time.time()
    cli_out = subprocess.run(cli, cwd=work, env=env, capture_output=True, text=True)
    result["cli_start_s"] = round(time.time() - t_cli, 2)
    print(cli_out.stdout + cli_out.stderr, flush=True)
    if cli_out.returncode != 0:
        raise SystemExit(f"olive-lab run failed to start (exit {cli_out.returncode})")
    run = follow_run(lab, sampler, args.timeout)
    t_run_end = time.time()
    result["lab_wall_s"] = round(t_run_end - t_cli, 1)
    states = step_states(lab)
    steps = {}
    for name in ("model", "quantize", "finetune", "optimize", "evaluate"):
        st = states.get(name, {})
        dur = (st.get("ended_at") or 0) - (st.get("started_at") or 0) if st.get("started_at") else None
        steps[name] = {"status": run.get("status", {}).get(name), "reason": run.get("reasons", {}).get(name),
                       "wall_s": round(dur, 1) if dur else None, "exit_code": st.get("exit_code"),
                       "argv": st.get("argv"), "lab_a100_s": LAB_A100_S.get(name),
                       **sampler.peaks(f"lab:{name}")}
        log(f"{name}: {steps[name]['status']} {steps[name]['wall_s']} s GPU {steps[name]['gpu_peak_gib']} "
            f"RSS {steps[name]['rss_peak_gib']} ({steps[name]['reason']})")
    result["steps"] = steps
    for step in ("quantize", "finetune", "optimize"):
        p = lab / "logs" / f"{step}.log"
        if p.is_file():
            tail = p.read_text(encoding="utf-8", errors="replace").splitlines()
            result.setdefault("log_tails", {})[step] = [ln[:300] for ln in tail[-12:]]
    report = lab / "models" / "phi" / "onnx-ao" / "awq-onnx-report.json"
    if report.is_file():
        result["awq_onnx_report"] = json.loads(report.read_text(encoding="utf-8"))
    flows = subprocess.run([sys.executable, "-c", "from olive_lab.steps.flows import gpu_flow; print(gpu_flow().line())"],
                           env=env, capture_output=True, text=True, cwd=work)
    result["flow"] = flows.stdout.strip() or flows.stderr.strip()[-300:]
    result["flow_settings"] = {s: (states.get(s, {}).get("argv") or [])[:6] for s in ("quantize", "finetune", "optimize")}
    ok = all(steps[s]["status"] in ("done", "skipped") for s in ("quantize", "finetune", "optimize"))

    if ok and args.bare_step != "none":
        st = states[args.bare_step]
        bare_argv = list(st["argv"])
        bare_env = dict(env)
        if bare_argv[1:5] == ["-m", "olive_lab.steps.envs", "run", bare_argv[4]]:  # unwrap: the overlay by hand
            from olive_lab.steps import envs

            bare_env = envs.environ(bare_argv[4], bare_env)
            bare_argv = bare_argv[bare_argv.index("--") + 1:]
        bare_dir = work / "bare"
        bare_dir.mkdir(exist_ok=True)
        bare_argv = [str(bare_dir / "out") if a == str(lab / "models" / "phi" / "ft") else a for a in bare_argv]
        bare_env["HF_HOME"], bare_env["XDG_CACHE_HOME"] = str(bare_dir / ".hf"), str(bare_dir / ".cache")
        bare_env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), bare_env.get("PATH", "")])
        bare = run_timed(bare_argv, sampler, f"bare-{args.bare_step}", bare_dir, bare_env, logs / "bare.log")
        wiz = steps[args.bare_step]["wall_s"]
        bare["wizard_step_wall_s"] = wiz
        bare["overhead_s"] = round(wiz - bare["wall_s"], 1) if wiz else None
        bare["overhead_pct"] = round(100 * (wiz - bare["wall_s"]) / bare["wall_s"], 2) if wiz else None
        # Where the difference is: process start -> Olive's "Running workflow", that -> "Saved output model", -> end
        st_w = states[args.bare_step]
        bare["phases_wizard"] = olive_phases(lab / "logs" / f"{args.bare_step}.log", st_w["started_at"], st_w["ended_at"])
        bare["phases_bare"] = olive_phases(logs / "bare.log", bare["t0"], bare["t1"])
        result["bare"] = bare

    if ok:
        from olive_lab.steps.optimize import model_folder
        from olive_lab.steps.pipeline import load_lab

        folder = model_folder(load_lab(lab))
        log(f"chat: {folder}")
        t = time.time()
        try:
            result["chat"] = chat_bench(folder, args.chat_tokens)
        except Exception as exc:  # noqa: BLE001
            result["chat"] = {"error": f"{type(exc).__name__}: {exc}"}
        result["chat"]["wall_s"] = round(time.time() - t, 1)
    sampler.stop()
    result["total_with_model_build_s"] = round(time.time() - t_all, 1)
    text = render(result)
    print(text, flush=True)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2, default=str) + "\n", encoding="utf-8")
        args.out.with_suffix(".md").write_text(text, encoding="utf-8")
    return 0 if ok else 1


def fmt(v, unit=""):
    return "-" if v is None else f"{v}{unit}"


def render(r: dict) -> str:
    lines = [f"# gpu lab benchmark - {r['date']} - {r.get('gpu')} - size {r['size']}", "",
             f"Flow: {r.get('flow')}", "",
             "| step | status | wall (s) | lab A100 (s) | GPU peak (GiB) | RSS peak (GiB) |",
             "|---|---|---|---|---|---|"]
    mb = r.get("model_build", {})
    lines.append(f"| model build (stand-in for the download) | exit {mb.get('exit_code')} | {fmt(mb.get('wall_s'))} | - "
                 f"| {fmt(mb.get('gpu_peak_gib'))} | {fmt(mb.get('rss_peak_gib'))} |")
    for name, st in r.get("steps", {}).items():
        if st["status"] is None:
            continue
        lines.append(f"| {name} | {st['status']} | {fmt(st['wall_s'])} | {fmt(st['lab_a100_s'])} | "
                     f"{fmt(st['gpu_peak_gib'])} | {fmt(st['rss_peak_gib'])} |")
    lab_steps = sum(st["wall_s"] or 0 for n, st in r.get("steps", {}).items() if n in ("quantize", "finetune", "optimize"))
    lines += ["", f"Lab steps quantize+finetune+optimize: {lab_steps:.1f} s ({lab_steps / 60:.1f} min; the lab quotes "
              f"19 min on an A100). `olive-lab run` start to end of the run: {r.get('lab_wall_s')} s; "
              f"CLI start (detach): {r.get('cli_start_s')} s."]
    if (b := r.get("bare")):
        lines += ["", f"Wizard overhead ({b['label']}): wizard step {b['wizard_step_wall_s']} s vs bare command "
                      f"{b['wall_s']} s (exit {b['exit_code']}) -> {b['overhead_s']} s ({b['overhead_pct']} %); "
                      f"bare GPU peak {b['gpu_peak_gib']} GiB, RSS peak {b['rss_peak_gib']} GiB.",
                  f"Phases (start->first Olive record / Olive records / last record->end): wizard "
                  f"{b.get('phases_wizard')}, bare {b.get('phases_bare')}."]
    if (a := r.get("awq_onnx_report")):
        built = a.get("built_vs_awq") or a.get("requantized_vs_awq") or {}
        lines += ["", f"AWQ ONNX ({a.get('build', 'builder int4 pass, then AWQ codes restored')}): as built vs AWQ "
                      f"{built.get('codes_equal')}/{built.get('codes_total')} codes; final "
                      f"{a.get('final_vs_awq', {}).get('codes_equal')}/{a.get('final_vs_awq', {}).get('codes_total')} "
                      f"codes, scales {a.get('final_vs_awq', {}).get('scales_equal')}/"
                      f"{a.get('final_vs_awq', {}).get('scales_total')}; dequantize {a.get('dequantize', {}).get('seconds')} s, "
                      f"build {a.get('build_seconds')} s, restore+verify {a.get('restore_verify_seconds')} s."]
    if (c := r.get("chat")):
        lines += ["", f"Chat (onnxruntime-genai, CPU): load {c.get('load_s')} s, RSS {c.get('rss_gib')} GiB"]
        for k in ("adapter_off", "adapter_on"):
            if k in c:
                lines.append(f"- {k}: {c[k]['tokens']} tokens, TTFT {c[k]['ttft_s']} s, {c[k]['decode_tok_s']} tok/s: "
                             f"{c[k]['text'][:100]!r}")
        if "error" in c:
            lines.append(f"- error: {c['error']}")
    lines += ["", f"Total incl. model build, bare step and chat: {r.get('total_with_model_build_s')} s"]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
