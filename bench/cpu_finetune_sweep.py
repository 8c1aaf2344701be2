"""Which fine-tune settings make the cpu profile's adapter worth showing: held-out loss base vs tuned, and wall time.

    nice -n -5 python bench/cpu_finetune_sweep.py [--work DIR] [--setting NAME:key=value,key=value ...]
    nice -n -5 python bench/cpu_finetune_sweep.py --lab WORKDIR     # score a finished cpu lab's adapter

For SmolLM2-135M-Instruct (converted by the model step into DIR if missing) and the lab's travel set split by
steps/data.py, each setting runs the real `olive finetune` argv of steps/finetune.py (the cpu profile's settings
with the keys given replaced, e.g. `max_steps=30,learning_rate=0.003`) in its own folder (no Olive cache), then
scores the held-out rows: mean loss over the response tokens (and the end-of-turn token), prompts rendered with
the model's chat template (steps/template.py), base model vs base + adapter, in PyTorch. It prints one row per
setting (wall time, s/step, losses, perplexities, change), greedy answers to the Kyoto question with the adapter
off and on, and the machine's load average, and writes the same as JSON (--json FILE).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from olive_lab.steps import data, finetune, pipeline, template  # noqa: E402
from olive_lab.steps.lab import Lab  # noqa: E402
from olive_lab.steps.profiles import CPU  # noqa: E402

PROMPT = "What should I see in Kyoto?"
DEFAULT_SETTINGS = ("profile:",)


def with_overrides(args: tuple[str, ...], overrides: dict[str, str]) -> tuple[str, ...]:
    """`args` (--key value pairs) with the values of `overrides` replaced or appended."""
    out, keys = list(args), {}
    for i in range(0, len(out) - 1, 2):
        keys[out[i].lstrip("-")] = i
    for key, value in overrides.items():
        if key in keys:
            out[keys[key] + 1] = value
        else:
            out += [f"--{key}", value]
    return tuple(out)


def parse_setting(text: str) -> tuple[str, dict[str, str]]:
    name, _, rest = text.partition(":")
    pairs = dict(p.split("=", 1) for p in rest.split(",") if p)
    return name or rest, pairs


def heldout_loss(model, tokenizer, tmpl, rows) -> float:
    """Token-weighted mean loss over the responses (prompt tokens masked), as the evaluate step measures it."""
    import torch

    total, count = 0.0, 0
    model.eval()
    with torch.no_grad():
        for row in rows:
            prompt_ids = tokenizer(tmpl.render_prompt(row.prompt), add_special_tokens=False)["input_ids"]
            ids = tokenizer(tmpl.render_example(row.prompt, row.response), add_special_tokens=False)["input_ids"]
            assert ids[:len(prompt_ids)] == prompt_ids, "the prompt must tokenize as a prefix of the example"
            labels = [-100] * len(prompt_ids) + ids[len(prompt_ids):]
            out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([labels]))
            n = sum(1 for t in labels[1:] if t != -100)
            total, count = total + out.loss.item() * n, count + n
    return total / count


def answer(model, tokenizer, tmpl, prompt: str, tokens: int = 60) -> str:
    import torch

    ids = tokenizer(tmpl.render_prompt(prompt), add_special_tokens=False, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        out = model.generate(ids, max_new_tokens=tokens, do_sample=False)
    return tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True).strip()


def run_finetune(lab: Lab, overrides: dict[str, str], folder: Path) -> tuple[float, Path, str]:
    """The step's own argv with the settings replaced, run in `folder` (fresh: no Olive cache); wall time."""
    plan = finetune.plan(lab)
    argv = list(plan.argv)
    out_index = argv.index("-o") + 1
    argv[out_index] = str(folder / "ft")
    tail = argv.index("--log_level")
    head, args = argv[:out_index + 1], tuple(argv[out_index + 1:tail])
    argv = [*head, *with_overrides(args, overrides), *argv[tail:]]
    folder.mkdir(parents=True, exist_ok=True)
    log = folder / "finetune.log"
    with open(log, "wb") as fh:
        seconds, cpu_s, code = timed(argv, cwd=folder, env=pipeline.environ_for(lab), stdout=fh)
    if code != 0 or not (folder / "ft" / "adapter" / "adapter_model.safetensors").is_file():
        raise SystemExit(f"finetune failed ({code}); see {log}")
    return seconds, cpu_s, folder / "ft" / "adapter", " ".join(with_overrides(args, overrides))


def timed(argv, **kw) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + system of the process tree) and exit code of one command.

    On a machine shared with other work the wall time depends on the neighbours; the CPU time does not, and
    CPU time / cores is what the same run takes on an idle machine (torch keeps both cores busy here).
    """
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    code = subprocess.run(argv, stderr=subprocess.STDOUT, **kw).returncode
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), code


def step_times(lab: Lab) -> dict[str, float]:
    """Wall seconds of each runnable step of the lab's last run (from its state files)."""
    from olive_lab.steps.workspace import StepState

    states = {step: StepState.load(lab.workspace, step) for step in pipeline.RUNNABLE}
    return {step: round(st.ended_at - st.started_at, 1) for step, st in states.items() if st.ended_at and st.started_at}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--work", type=Path, default=Path("/tmp/olive-lab-sweep"))
    p.add_argument("--setting", action="append", default=None, metavar="NAME:key=value,...")
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--lab", type=Path, default=None,
                   help="score the adapter of a finished `olive-lab run --profile cpu` in this work folder instead "
                        "(and print its step times); no fine-tune is run")
    args = p.parse_args()
    lab = pipeline.load_lab(args.lab) if args.lab else Lab.create(args.work, CPU)
    load_before = os.getloadavg()
    record = {"machine": f"{platform.node()} {os.cpu_count()} cores", "load_before": load_before, "runs": []}

    if not (lab.base_dir / "config.json").is_file():
        wall, cpu_s, code = timed(list(pipeline.plan(lab, "model").argv), stdout=subprocess.DEVNULL)
        assert code == 0, "the model step failed"
        record.update(convert_s=round(wall, 1), convert_cpu_s=round(cpu_s, 1))
        print(f"model conversion: {wall:.0f} s wall, {cpu_s:.0f} CPU s")
    problems = data.prepare_training_data(lab)
    assert not problems, problems
    split = data.plan_split(lab)
    print(split.describe())

    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    tmpl = template.for_model(lab.base_dir)
    tokenizer = AutoTokenizer.from_pretrained(lab.base_dir)
    base = AutoModelForCausalLM.from_pretrained(lab.base_dir, dtype=torch.float32)
    base_loss = heldout_loss(base, tokenizer, tmpl, split.heldout)
    record.update(base_loss=base_loss, base_ppl=math.exp(base_loss), heldout_rows=len(split.heldout),
                  base_answer=answer(base, tokenizer, tmpl, PROMPT))
    print(f"base: held-out loss {base_loss:.3f} (perplexity {math.exp(base_loss):.1f}) on {len(split.heldout)} rows")
    print(f"  adapter off: {record['base_answer']}")

    if args.lab:
        record["steps_s"] = step_times(lab)
        print("lab steps: " + ", ".join(f"{k} {v:.0f} s" for k, v in record["steps_s"].items()))
        tuned = PeftModel.from_pretrained(base, lab.ft_dir / "adapter")
        loss = heldout_loss(tuned, tokenizer, tmpl, split.heldout)
        record["runs"].append({"name": "lab", "args": " ".join(finetune.finetune_args(lab)), "tuned_loss": loss,
                               "tuned_ppl": math.exp(loss), "change_pct": 100 * (loss - base_loss) / base_loss,
                               "adapter_on_answer": answer(tuned, tokenizer, tmpl, PROMPT)})
        print(f"lab adapter: held-out loss {base_loss:.3f} → {loss:.3f} ({record['runs'][0]['change_pct']:+.1f} %), "
              f"perplexity {math.exp(base_loss):.1f} → {math.exp(loss):.1f}")
        print(f"  adapter on: {record['runs'][0]['adapter_on_answer']}")
    for text in () if args.lab else args.setting or DEFAULT_SETTINGS:
        name, overrides = parse_setting(text)
        seconds, cpu_s, adapter, argline = run_finetune(lab, overrides, args.work / "runs" / (name or "profile"))
        tuned = PeftModel.from_pretrained(base, adapter)
        loss = heldout_loss(tuned, tokenizer, tmpl, split.heldout)
        reply = answer(tuned, tokenizer, tmpl, PROMPT)
        base = tuned.unload()  # the plain base again, for the next setting
        settings = with_overrides(finetune.finetune_args(lab), overrides)
        steps = int(settings[settings.index("--max_steps") + 1])
        idle_s = cpu_s / os.cpu_count()
        run = {"name": name, "overrides": overrides, "args": argline, "finetune_s": round(seconds, 1),
               "finetune_cpu_s": round(cpu_s, 1), "finetune_idle_estimate_s": round(idle_s, 1),
               "steps": steps, "tuned_loss": loss, "tuned_ppl": math.exp(loss),
               "change_pct": 100 * (loss - base_loss) / base_loss, "adapter_on_answer": reply,
               "load_after": os.getloadavg()}
        record["runs"].append(run)
        print(f"{name or 'profile'}: {overrides or 'profile settings'} · finetune {seconds:.0f} s wall, "
              f"{cpu_s:.0f} CPU s (≈ {idle_s:.0f} s on {os.cpu_count()} idle cores, {steps} steps) · "
              f"held-out loss {base_loss:.3f} → {loss:.3f} "
              f"({run['change_pct']:+.1f} %), perplexity {math.exp(base_loss):.1f} → {math.exp(loss):.1f} · "
              f"load {run['load_after'][0]:.1f}")
        print(f"  adapter on: {reply}")
    if args.json:
        args.json.write_text(json.dumps(record, indent=2, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
