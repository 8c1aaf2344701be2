"""Step 6: measure what each step bought, on travel questions kept out of the fine-tune.

For every stage that exists it scores the held-out answers (mean loss per response token, and its perplexity,
with the prompt rendered by the model's template and masked out): the base model and the quantized model in
PyTorch, base + adapter through peft, and the int4 ONNX model with the adapter off and on through
onnxruntime-genai (its `get_output("logits")` gives the whole prompt's logits, so the same tokens are scored; that
row is what int4 cost). It times the ONNX model's first token and decode speed with the adapter off and on on the
same prompts, whose greedy answers it keeps side by side, and it weighs each stage on disk.

Olive's own `olive benchmark` cannot do this: lm-eval has no perplexity for ONNX models and it never loads adapters.

Run by the runner as `python -m olive_lab.steps.evaluate WORKDIR`; writes reports/eval.json and reports/eval.md.
Lines `[olive-lab] phase ...` / `[olive-lab] progress ...` are for the runner's log parser.
"""

from __future__ import annotations

import json
import math
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .lab import Lab, StepPlan
from .units import fmt_bytes, fmt_ms

#: Held-out rows scored per stage (every row of the default split, 30 of the lab's 299; a larger --eval-data file
#: is cut), answers compared, and new tokens per answer: the step took 41.5 s on 2 cores with SmolLM2-135M, more
#: than half of it the ONNX model's one-row-at-a-time scoring (~0.3 s a row and adapter setting).
MAX_ROWS = 32
ANSWER_PROMPTS = 3
ANSWER_TOKENS = 48
#: Held-out rows per PyTorch forward pass (right-padded); 8 keeps SmolLM2's logits at ~0.2 GB.
TORCH_BATCH = 8
REPORT_JSON, REPORT_MD = "reports/eval.json", "reports/eval.md"
REPORT_VERSION = 1

EXPLAIN = (
    "Evaluation shows what each step bought. On travel questions the fine-tune never saw, it measures how well "
    "each stage predicts the reference answers (loss, and perplexity: e to the loss, roughly how many words the "
    "model hesitates between), how fast the optimized model answers with the adapter off and on, and how big "
    "each stage is on disk; then it puts the base and the tuned model's answers side by side."
)


def report_paths(lab: Lab) -> tuple[Path, Path]:
    return lab.path(REPORT_JSON), lab.path(REPORT_MD)


def heldout_rows(lab: Lab) -> tuple[list[dict], str]:
    """The held-out rows ({prompt, response}) and where they come from, in words: the data step's seeded split
    (questions the fine-tune never saw), or the user's own `--eval-data` file."""
    from .data import heldout_path, read_heldout

    rows = [{"prompt": r.prompt, "response": r.response} for r in read_heldout(lab)]
    where = lab.workspace.relative(heldout_path(lab))
    if getattr(lab, "eval_data", None) is not None:
        return rows, f"{len(rows)} rows of your --eval-data file (copied to {where})"
    return rows, f"{len(rows)} held-out rows ({where}: a seeded split, never trained on)"


def plan(lab: Lab) -> StepPlan:
    from .optimize import model_folder

    # The dataset (or --eval-data), not data/heldout.jsonl: the step writes the split itself when it is missing.
    inputs = [lab.base_dir, lab.ft_dir / "adapter", model_folder(lab), lab.eval_data or lab.dataset]
    quantized = quantized_model_dir(lab)
    if quantized.is_dir():
        inputs.insert(1, quantized)
    json_path, md_path = report_paths(lab)
    return StepPlan(
        step="evaluate", title="Evaluate every stage on held-out questions", explain=EXPLAIN,
        argv=(sys.executable, "-m", "olive_lab.steps.evaluate", str(lab.workspace.root)),
        inputs=tuple(inputs), outputs={"report": json_path, "summary": md_path},
        settings={"rows": str(MAX_ROWS), "answers": str(ANSWER_PROMPTS), "answer_tokens": str(ANSWER_TOKENS),
                  "version": str(REPORT_VERSION)},
        notes=(f"Capped to keep it fast: at most {MAX_ROWS} held-out rows scored per stage, {ANSWER_PROMPTS} "
               f"answers of up to {ANSWER_TOKENS} new tokens compared.",),
        expected_s=lab.profile.expected_s.get("evaluate", 30), expected_disk_gb=0.0,
    )


def verify(lab: Lab) -> list[str]:
    json_path, md_path = report_paths(lab)
    rel = lab.workspace.relative
    try:
        report = json.loads(json_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return [f"{rel(json_path)} does not exist yet: the evaluate step writes it"]
    except ValueError as exc:
        return [f"{rel(json_path)} is not valid JSON ({exc}): run the evaluate step again"]
    if not isinstance(report, dict) or not report.get("stages"):
        return [f"{rel(json_path)} has no stages: run the evaluate step again"]
    if not md_path.is_file():
        return [f"{rel(md_path)} is missing: run the evaluate step again"]
    return []


def load_report(lab: Lab) -> dict | None:
    """The last report written in this work folder, or None."""
    try:
        return json.loads(report_paths(lab)[0].read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def quantized_model_dir(lab: Lab) -> Path:
    nested = lab.quantized_dir / "model"
    return nested if nested.is_dir() else lab.quantized_dir


# --- measuring ---------------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One row of the report: a stage of the lab, scored on the same held-out tokens as the others."""

    name: str
    label: str
    path: str
    size_bytes: int
    loss: float | None = None
    perplexity: float | None = None
    tokens: int = 0
    ttft_ms: float | None = None
    tokens_per_s: float | None = None
    note: str = ""

    def score(self, nll_sum: float, tokens: int) -> None:
        self.loss, self.tokens = nll_sum / tokens, tokens
        self.perplexity = math.exp(min(self.loss, 700.0))


@dataclass(frozen=True)
class Example:
    """A held-out row as token ids: the rendered prompt's `prompt_len` ids, then the reference answer's."""

    prompt: str
    reference: str
    ids: tuple[int, ...]
    prompt_len: int


def encode(tokenizer, template, row: dict) -> Example:
    """Prompt and answer tokenized apart, so the mask is exact and the prompt's ids are what generation sees."""
    prompt_text = template.render_prompt(row["prompt"])
    example_text = template.render_example(row["prompt"], row["response"])
    if not example_text.startswith(prompt_text):
        raise ValueError("the template's prompt is not the start of its example; cannot score the answer alone")
    head = tokenizer(prompt_text, add_special_tokens=template.kind == "lab")["input_ids"]
    tail = tokenizer(example_text[len(prompt_text):], add_special_tokens=False)["input_ids"]
    return Example(row["prompt"], row["response"], tuple(head) + tuple(tail), len(head))


def say(kind: str, text: str) -> None:
    print(f"[olive-lab] {kind} {text}".rstrip(), flush=True)


def torch_nll(model, examples: list[Example], label: str) -> tuple[float, int]:
    """Summed negative log-likelihood of the answer tokens, and how many there were.

    Rows go through the model `TORCH_BATCH` at a time, right-padded: the padding comes after every real token,
    so the causal mask keeps it out of their logits (same loss as one row at a time to 1e-7), and on 2 cores 30
    rows batched take 3.3 s where one at a time took 20 s."""
    import torch

    total, count = 0.0, 0
    device = next(model.parameters()).device
    with torch.inference_mode():
        for start in range(0, len(examples), TORCH_BATCH):
            batch = examples[start:start + TORCH_BATCH]
            ids = torch.zeros(len(batch), max(len(ex.ids) for ex in batch), dtype=torch.long, device=device)
            mask = torch.zeros_like(ids)
            for row, ex in enumerate(batch):
                ids[row, :len(ex.ids)] = torch.tensor(ex.ids, device=device)
                mask[row, :len(ex.ids)] = 1
            logits = model(input_ids=ids, attention_mask=mask).logits
            for row, ex in enumerate(batch):
                target = ids[row, ex.prompt_len:len(ex.ids)]
                answer_logits = logits[row, ex.prompt_len - 1:len(ex.ids) - 1].float()
                total += torch.nn.functional.cross_entropy(answer_logits, target, reduction="sum").item()
                count += target.numel()
            say("progress", f"{start + len(batch)} {len(examples)} rows {label}")
    return total, count


def onnx_nll(session, examples: list[Example], use_adapter: bool, label: str) -> tuple[float, int]:
    import numpy as np

    total, count = 0.0, 0
    for i, ex in enumerate(examples, 1):
        logits = session.logits(list(ex.ids), use_adapter)[ex.prompt_len - 1:-1].astype(np.float64)
        target = np.asarray(ex.ids[ex.prompt_len:])
        peak = logits.max(axis=-1, keepdims=True)
        log_z = np.log(np.exp(logits - peak).sum(axis=-1)) + peak[:, 0]
        total += float((log_z - logits[np.arange(len(target)), target]).sum())
        count += len(target)
        say("progress", f"{i} {len(examples)} rows {label}")
    return total, count


def size_of(path: Path, exclude: tuple[str, ...] = ()) -> int:
    if path.is_file():
        return path.stat().st_size
    if not path.is_dir():
        return 0
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file() and f.name not in exclude)


def torch_device() -> tuple[str, object]:
    import torch

    if torch.cuda.is_available():
        return "cuda", torch.bfloat16
    return "cpu", torch.float32


def load_causal_lm(folder: Path, device: str, dtype):
    """A transformers model; Olive's own int4 format (RTN) needs its quantizer registered, as Olive does."""
    from transformers import AutoModelForCausalLM

    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if (config.get("quantization_config") or {}).get("quant_method") == "olive":
        from olive.common.quant.hf_utils import OliveHfQuantizationConfig, OliveHfQuantizer
        from transformers.quantizers.auto import AUTO_QUANTIZATION_CONFIG_MAPPING, AUTO_QUANTIZER_MAPPING

        AUTO_QUANTIZATION_CONFIG_MAPPING["olive"] = OliveHfQuantizationConfig
        AUTO_QUANTIZER_MAPPING["olive"] = OliveHfQuantizer
        return dequantize_once(AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval())
    return AutoModelForCausalLM.from_pretrained(folder, dtype=dtype).to(device).eval()


def dequantize_once(model):
    """Olive's QuantLinear unpacks its int4 weights on every forward (SmolLM2: ~30 s a row on 2 busy cores); the
    int4 values are what is scored, so unpack each layer once and run it as a plain linear layer."""
    import functools

    import torch
    from olive.common.quant.nn import QuantLinear

    def linear(x, weight, bias):
        return torch.nn.functional.linear(x, weight, bias).to(x.dtype)

    for module in model.modules():
        if isinstance(module, QuantLinear):
            weight = module.unpack_and_dequantize(module.qweight, module.scales, module.qzeros)
            module.forward = functools.partial(linear, weight=weight, bias=module.bias)
    return model


def why_not(exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first[:200]}"


@dataclass
class Evaluation:
    """Everything measured in one run; `report()` is what eval.json holds."""

    lab: Lab
    stages: list[Stage] = field(default_factory=list)
    answers: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)

    def stage(self, name: str, label: str, path: Path, size: int) -> Stage:
        stage = Stage(name, label, self.lab.workspace.relative(path), size)
        self.stages.append(stage)
        return stage


def run_torch(ev: Evaluation, examples: list[Example]) -> None:
    """Base, quantized and base + adapter in PyTorch, on the same tokens."""
    lab = ev.lab
    device, dtype = torch_device()
    say("phase", "scoring the base model")
    base = load_causal_lm(lab.base_dir, device, dtype)
    ev.stage("base", "base model", lab.base_dir, size_of(lab.base_dir)).score(*torch_nll(base, examples, "base"))

    quantized_dir = quantized_model_dir(lab)
    quantized = ev.stage("quantized", f"quantized ({lab.profile.quantize_algorithm.upper()} int4)", quantized_dir,
                         size_of(quantized_dir))
    if not quantized_dir.is_dir():
        quantized.note = "not made (the quantize step has not run)"
    else:
        say("phase", "scoring the quantized model")
        try:
            model = load_causal_lm(quantized_dir, device, dtype)
            quantized.score(*torch_nll(model, examples, "quantized"))
            del model
        except Exception as exc:  # noqa: BLE001 - reported, not fatal: e.g. AWQ kernels need CUDA
            quantized.note = f"cannot be evaluated with PyTorch on {device} here ({why_not(exc)})"

    adapter_dir = lab.ft_dir / "adapter"
    tuned = ev.stage("tuned", "base + adapter (LoRA)", adapter_dir, size_of(adapter_dir))
    tuned.note = "size: the adapter alone"
    say("phase", "scoring base + adapter")
    from peft import PeftModel

    if lab.profile.finetune_on_quantized:  # the adapter belongs to the model it was trained on (AWQ on a GPU)
        tuned.note += "; trained on the quantized model, scored on it"
        try:
            base = load_causal_lm(lab.ft_dir / "model", device, dtype)
        except Exception as exc:  # noqa: BLE001 - reported, not fatal, as for the quantized stage
            tuned.note = f"cannot be evaluated with PyTorch on {device} here ({why_not(exc)}); see the ONNX rows"
            return
    model = PeftModel.from_pretrained(base, str(adapter_dir)).eval()
    tuned.score(*torch_nll(model, examples, "base + adapter"))


def run_onnx(ev: Evaluation, examples: list[Example]) -> None:
    """The int4 ONNX model through onnxruntime-genai: held-out loss and speed, adapter off and on."""
    from .chat import ADAPTER_FILE, ChatSession
    from .optimize import model_folder

    folder = model_folder(ev.lab)
    say("phase", "loading the ONNX model")
    session = ChatSession.open(folder)
    modes = [False, True] if session.has_adapter else [False]
    if not session.has_adapter:
        ev.notes.append(f"{ADAPTER_FILE} is missing: the ONNX model was scored without the adapter only.")
    rows = {False: ev.stage("onnx", "int4 ONNX, adapter off", folder, size_of(folder, (ADAPTER_FILE,))),
            True: ev.stage("onnx_adapter", "int4 ONNX, adapter on", folder / ADAPTER_FILE,
                           size_of(folder / ADAPTER_FILE))}
    rows[True].note = "size: the adapter file alone"
    for on in modes:
        say("phase", f"scoring the ONNX model, adapter {'on' if on else 'off'}")
        rows[on].score(*onnx_nll(session, examples, on, f"ONNX adapter {'on' if on else 'off'}"))
    prompts = examples[:ANSWER_PROMPTS]
    answers = {on: [] for on in modes}
    for on in modes:
        say("phase", f"answering {len(prompts)} prompts, adapter {'on' if on else 'off'}")
        "".join(session.generate_ids(list(prompts[0].ids[:prompts[0].prompt_len]), on, 4))  # warm-up, not timed
        ttfts, tokens, decode_s = [], 0, 0.0
        for ex in prompts:
            answers[on].append("".join(session.generate_ids(list(ex.ids[:ex.prompt_len]), on, ANSWER_TOKENS)))
            stats = session.last_stats
            if stats.ttft_s is not None:
                ttfts.append(stats.ttft_s)
            if stats.tokens > 1 and stats.tokens_per_s:
                tokens += stats.tokens - 1
                decode_s += (stats.tokens - 1) / stats.tokens_per_s
        rows[on].ttft_ms = 1000 * sum(ttfts) / len(ttfts) if ttfts else None
        rows[on].tokens_per_s = tokens / decode_s if decode_s else None
    for i, ex in enumerate(prompts):
        ev.answers.append({"prompt": ex.prompt, "reference": ex.reference, "adapter_off": answers[False][i],
                           "adapter_on": answers[True][i] if True in answers else None})
    if not session.has_adapter:
        ev.stages.remove(rows[True])


def evaluate(lab: Lab) -> dict:
    """Measure every stage; returns the report (also written to reports/eval.json and reports/eval.md)."""
    from .template import for_model

    started = time.perf_counter()
    ev = Evaluation(lab)
    rows, source = heldout_rows(lab)
    if not rows:
        raise ValueError(f"No held-out rows: {source}. Check the dataset with `olive-lab data`.")
    scored = rows[:MAX_ROWS]
    template = for_model(lab.base_dir)
    say("phase", "loading the tokenizer")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(lab.base_dir)
    examples = [encode(tokenizer, template, row) for row in scored]
    ev.timings["setup_s"] = time.perf_counter() - started
    mark = time.perf_counter()
    run_torch(ev, examples)
    ev.timings["torch_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    run_onnx(ev, examples)
    ev.timings["onnx_s"] = time.perf_counter() - mark
    ev.timings["total_s"] = time.perf_counter() - started
    report = {
        "version": REPORT_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "profile": lab.profile.name, "model": lab.base_model, "device": torch_device()[0],
        "template": template.source,
        "heldout": {"source": source, "rows_available": len(rows), "rows_scored": len(scored),
                    "answer_tokens_scored": sum(len(e.ids) - e.prompt_len for e in examples)},
        "limits": {"max_rows": MAX_ROWS, "answer_prompts": ANSWER_PROMPTS, "answer_tokens": ANSWER_TOKENS},
        "onnx_logits": True,
        "stages": [asdict(s) for s in ev.stages],
        "answers": ev.answers,
        "notes": ev.notes,
        "seconds": {k: round(v, 2) for k, v in ev.timings.items()},
    }
    write_report(lab, report)
    return report


def write_report(lab: Lab, report: dict) -> None:
    json_path, md_path = report_paths(lab)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path.write_text(render_markdown(report), encoding="utf-8")


# --- showing -----------------------------------------------------------------------------------------------------


def fmt(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def change(report: dict, name: str) -> str:
    """The stage's loss against the base model's, as a percentage ('' when either is missing)."""
    losses = {s["name"]: s["loss"] for s in report.get("stages", [])}
    base, loss = losses.get("base"), losses.get(name)
    if base is None or loss is None or name == "base" or base == 0:
        return ""
    return f"{100 * (loss - base) / base:+.1f} %"


STAGE_COLUMNS = ("stage", "loss", "vs base", "ppl", "size", "TTFT", "tok/s")
COLUMNS_LEGEND = "ppl: perplexity (e^loss); TTFT: time to first token; tok/s: decode speed; lower loss is better"


def stage_cells(report: dict, stage: dict) -> tuple[str, ...]:
    """One stage as the table's cells (the markdown report and the wizard show the same words)."""
    speed = f"{stage['tokens_per_s']:.1f}" if stage.get("tokens_per_s") is not None else "–"
    return (stage["label"], fmt(stage["loss"]), change(report, stage["name"]) or "–", fmt(stage["perplexity"], 2),
            fmt_bytes(stage["size_bytes"]), fmt_ms(stage.get("ttft_ms")), speed)


def one_line(text: str | None, limit: int = 400) -> str:
    if text is None:
        return "–"
    flat = " ".join(text.split())
    return (flat[:limit] + "…" if len(flat) > limit else flat) or f"(only spaces and line breaks: {text[:12]!r})"


def render_markdown(report: dict) -> str:
    held = report["heldout"]
    lines = [
        f"# Evaluation: {report['model']} ({report['profile']} profile)",
        "",
        f"Held-out set: {held['source']}; {held['rows_scored']} rows scored "
        f"({held['answer_tokens_scored']} answer tokens, prompts rendered with {report['template']} and masked). "
        f"Loss: mean negative log-likelihood per answer token; {COLUMNS_LEGEND}.",
        f"Limits: at most {report['limits']['max_rows']} rows, {report['limits']['answer_prompts']} answers of up to "
        f"{report['limits']['answer_tokens']} new tokens (greedy). Took {report['seconds']['total_s']:.0f} s on "
        f"{report['device']}.",
        "",
        "| " + " | ".join(STAGE_COLUMNS) + " |",
        "|" + "---|" * len(STAGE_COLUMNS),
    ]
    lines += ["| " + " | ".join(stage_cells(report, s)) + " |" for s in report["stages"]]
    notes = [f"- {s['label']}: {s['note']}" for s in report["stages"] if s.get("note")] + \
        [f"- {n}" for n in report.get("notes", [])]
    if notes:
        lines += ["", *notes]
    lines += ["", "## Answers (greedy, int4 ONNX model)"]
    for a in report["answers"]:
        lines += ["", f"**{a['prompt']}**", "", f"- reference: {one_line(a['reference'])}",
                  f"- adapter off: {one_line(a['adapter_off'])}", f"- adapter on: {one_line(a['adapter_on'])}"]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    from .pipeline import load_lab

    if len(argv) != 1:
        print("usage: python -m olive_lab.steps.evaluate WORKDIR", file=sys.stderr)
        return 2
    lab = load_lab(argv[0])
    report = evaluate(lab)
    print(render_markdown(report), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
