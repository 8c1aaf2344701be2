"""Decode tokens/s of one onnxruntime-genai model with its LoRA adapter on and off, interleaved in one process.

    nice -n -5 python bench/adapter_speed.py MODEL_DIR [MODEL_DIR ...] [--runs 15] [--tokens 128] [--json OUT]

Why: with the builder's defaults the adapter halves chat speed (findings-2026-12 §3: 0.45x on 2 cores, 0.49x on
16). The cause is in the graph, not in onnxruntime-genai's adapter code (src/models/adapters.cpp only hands the
adapter's OrtValues to each Run): the builder int4-quantizes the LoRA MatMuls too, ExtractAdapters makes their
packed weights graph inputs, and onnxruntime's MatMulNBits prepacks its weights only when they are constant
initializers - with the adapter on, every LoRA product takes the unpacked path. `steps/awq_onnx.py` keeps the
LoRA MatMuls float (`lora_node_names`); this bench shows both builds side by side.

Each run generates exactly `--tokens` new tokens greedily (min_length = max_length) from the same prompt; runs
alternate off, on, off, on ... after one warm-up of each, so a noisy neighbour hurts both alike. Per model it
prints the median tokens/s off and on, their ratio and a 90% bootstrap interval over the pairs, and the graph's
LoRA op types (MatMulNBits = quantized adapter inputs, MatMul = float).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
from pathlib import Path

PROMPT = "What should I not miss on a first visit to Lisbon?"


def lora_ops(folder: Path) -> dict[str, int]:
    import onnx

    graph = onnx.load(str(folder / "model.onnx"), load_external_data=False).graph
    found: dict[str, int] = {}
    for node in graph.node:
        if "/lora_" in node.name:
            found[node.op_type] = found.get(node.op_type, 0) + 1
    return found


def decode_rate(model, tokenizer, adapters, use: bool, tokens: int) -> float:
    import onnxruntime_genai as og

    ids = tokenizer.encode(PROMPT)
    params = og.GeneratorParams(model)
    params.set_search_options(max_length=len(ids) + tokens, min_length=len(ids) + tokens)
    gen = og.Generator(model, params)
    if use:
        gen.set_active_adapter(adapters, "a")
    gen.append_tokens(ids)
    gen.generate_next_token()
    t0, n = time.perf_counter(), 0
    while not gen.is_done():
        gen.generate_next_token()
        n += 1
    return n / (time.perf_counter() - t0)


def interval(offs: list[float], ons: list[float], draws: int = 2000) -> tuple[float, float]:
    rng = random.Random(0)
    pairs = list(zip(offs, ons))
    ratios = []
    for _ in range(draws):
        sample = [rng.choice(pairs) for _ in pairs]
        ratios.append(statistics.median(p[1] for p in sample) / statistics.median(p[0] for p in sample))
    ratios.sort()
    return ratios[int(0.05 * draws)], ratios[int(0.95 * draws)]


def measure(folder: Path, runs: int, tokens: int) -> dict:
    import onnxruntime_genai as og

    model = og.Model(str(folder))
    tokenizer = og.Tokenizer(model)
    adapters = og.Adapters(model)
    adapters.load(str(folder / "adapter_weights.onnx_adapter"), "a")
    for use in (False, True):
        decode_rate(model, tokenizer, adapters, use, 16)
    offs, ons = [], []
    for _ in range(runs):
        offs.append(decode_rate(model, tokenizer, adapters, False, tokens))
        ons.append(decode_rate(model, tokenizer, adapters, True, tokens))
    off, on = statistics.median(offs), statistics.median(ons)
    lo, hi = interval(offs, ons)
    return {"model": str(folder), "lora_ops": lora_ops(folder), "runs": runs, "tokens": tokens,
            "off_tok_s": round(off, 2), "on_tok_s": round(on, 2), "ratio": round(on / off, 3),
            "ratio_90": [round(lo, 3), round(hi, 3)], "offs": [round(x, 1) for x in offs],
            "ons": [round(x, 1) for x in ons]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="+", type=Path)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)
    results = [measure(m, args.runs, args.tokens) for m in args.models]
    print("| model | LoRA ops | off tok/s | on tok/s | on/off | 90% interval |")
    print("|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['lora_ops']} | {r['off_tok_s']} | {r['on_tok_s']} | {r['ratio']} | "
              f"{r['ratio_90'][0]}-{r['ratio_90'][1]} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
