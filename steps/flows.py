"""Which GPU flow the `gpu` profile runs, and the quantize / finetune / optimize plans of each.

- faithful: AWQ -> LoRA on the AWQ model -> int4 ONNX made of the AWQ weights + that adapter (steps/awq_onnx.py)
- hybrid:   AWQ -> LoRA on the AWQ model -> int4 ONNX built from the float weights + that adapter
- fallback: LoRA on the float model -> int4 ONNX + the adapter; AWQ still runs, as its own step

AWQ and LoRA-on-AWQ run under the awq-tf4 overlay (steps/envs.py); the optimize step runs in the main environment
(onnxruntime-genai 0.14.1's builder needs transformers >= 4.57). Without the overlay the flow is the fallback, and
RTN int4 stands in for AWQ until `olive-lab setup --profile gpu` has made it. `OLIVE_LAB_GPU_FLOW` picks a flow by
hand (faithful, hybrid or fallback). The flow is part of every plan's settings, so changing it reruns what it changes.

`gpu_flow()` reads the environment and the overlay's folder; the plans take its result as an argument, so they
stay pure and one run plans every step with the same flow.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

from . import envs
from .data import train_path
from .lab import Lab, StepPlan
from .onnx_build import FLOAT_LORA_NOTE, step_argv
from .olive_cli import olive_argv
from .profiles import LAB_TEXT_TEMPLATE

FAITHFUL, HYBRID, FALLBACK = "faithful", "hybrid", "fallback"
FLOWS = (FAITHFUL, HYBRID, FALLBACK)
FLOW_VAR = "OLIVE_LAB_GPU_FLOW"
OVERLAY = envs.AWQ_TF4.name

DESCRIPTION = {
    FAITHFUL: "AWQ -> LoRA on the AWQ model -> int4 ONNX made of the AWQ weights + the adapter (the lab as written)",
    HYBRID: "AWQ -> LoRA on the AWQ model -> int4 ONNX built from the float weights + that adapter",
    FALLBACK: "LoRA on the float model -> int4 ONNX + the adapter; AWQ runs as its own step",
}


@dataclass(frozen=True)
class Flow:
    name: str
    reason: str
    overlay_ready: bool

    def line(self) -> str:
        return f"{self.name}: {DESCRIPTION[self.name]} ({self.reason})"


def gpu_flow(environ: dict[str, str] | None = None) -> Flow:
    """The flow the gpu profile runs here and why: the one asked for, if its environment is ready."""
    env = os.environ if environ is None else environ
    asked = (env.get(FLOW_VAR) or "").strip().lower()
    status = envs.inspect(OVERLAY)
    if asked and asked not in FLOWS:
        asked = ""
    if not status.ready:
        why = f"the {OVERLAY} environment is not ready: {status.summary()}"
        return Flow(FALLBACK, why, False)
    if asked:
        return Flow(asked, f"chosen with {FLOW_VAR}={asked}", True)
    return Flow(FAITHFUL, f"the {OVERLAY} environment is ready", True)


#: The direct AWQ engine's settings, written out so the plan shows what runs: AutoAWQ's own defaults (Olive's
#: pass runs these too), chosen by measurement (bench/awq_quality.py: held-out perplexity on SmolLM2-135M).
AWQ_KNOBS = ("--engine", "direct", "--calib-samples", "128", "--calib-seq-len", "512", "--group-size", "128",
             "--n-grid", "20")


def _notes(flow: Flow, *extra: str) -> tuple[str, ...]:
    return (f"GPU flow {flow.line()}.", *extra)


def plan_quantize(lab: Lab, flow: Flow, explain: str, rtn_explain: str) -> StepPlan:
    out = lab.quantized_dir
    settings = {"flow": flow.name}
    if flow.overlay_ready:
        step = (sys.executable, "-m", "olive_lab.steps.awq", "--model", str(lab.base_dir), "--data",
                str(lab.dataset), "--output", str(out))
        argv = envs.wrap(OVERLAY, (*step, *AWQ_KNOBS))
        olive_way = " ".join(envs.wrap(OVERLAY, (*step, "--engine", "olive"))).replace(sys.executable, "python")
        title, settings["algorithm"], settings["awq"] = "Quantize with AWQ", "awq", " ".join(AWQ_KNOBS)
        notes = _notes(flow, f"Runs under the {OVERLAY} environment (transformers 4.51.3 + AutoAWQ 0.2.9); "
                             "calibrated on your dataset, offline.",
                       "AutoAWQ runs from the lab's own step with its data kept on the GPU (Olive's AWQ pass "
                       "keeps layer inputs and statistics on the CPU and hides AutoAWQ's settings); same algorithm, "
                       f"settings and output. The lab's Olive way (slower): `{olive_way}`, which writes "
                       "awq-config.json for `olive run --config` (from `olive quantize --algorithm awq "
                       "--implementation awq --precision int4 --save_config_file --dry_run`, patched for local "
                       "calibration data and lm_head kept in 16 bits).")
    else:
        argv = olive_argv("quantize", "-m", str(lab.base_dir), "--algorithm", "rtn", "--precision", "int4",
                          "-o", str(out))
        title, settings["algorithm"] = "Quantize (RTN int4, AWQ not set up)", "rtn"
        explain = explain + rtn_explain
        notes = _notes(flow, "AWQ needs its own environment: run `olive-lab setup --profile gpu`, then this "
                             "step quantizes with AWQ.")
    return StepPlan(step="quantize", title=title, explain=explain, argv=argv, inputs=(lab.base_dir,),
                    outputs={"model": out / "model"}, settings=settings, notes=notes,
                    expected_s=lab.profile.expected_s.get("quantize"), expected_disk_gb=lab.profile.disk_gb * 0.1)


def plan_finetune(lab: Lab, flow: Flow, explain: str, finetune_args: tuple[str, ...]) -> StepPlan:
    on_awq = flow.name in (FAITHFUL, HYBRID)
    base = lab.quantized_dir / "model" if on_awq else lab.base_dir
    argv = olive_argv("finetune", "--method", "lora", "-m", str(base), "--data_name", "json",
                      "--data_files", str(train_path(lab)), "--text_template", LAB_TEXT_TEMPLATE,
                      "-o", str(lab.ft_dir), *finetune_args)
    if on_awq:
        argv = envs.wrap(OVERLAY, argv)
        note = (f"The adapter is trained on the AWQ model, so it learns to make up for what quantization lost; "
                f"runs under {OVERLAY} (transformers 4.51.3 + peft 0.17.1).")
    else:
        note = "The adapter is trained on the bf16 base model; the optimize step quantizes to int4."
    return StepPlan(step="finetune", title="Fine-tune a LoRA adapter" + (" on the AWQ model" if on_awq else ""),
                    explain=explain, argv=argv, inputs=(base, lab.dataset),
                    outputs={"model": lab.ft_dir / "model", "adapter": lab.ft_dir / "adapter"},
                    settings={"base": "awq" if on_awq else "float", "flow": flow.name}, notes=_notes(flow, note),
                    expected_s=lab.profile.expected_s.get("finetune"), expected_disk_gb=lab.profile.disk_gb * 0.3)


def plan_optimize(lab: Lab, flow: Flow, explain: str, auto_opt_note: str) -> StepPlan:
    ft = lab.ft_dir
    if flow.name == FAITHFUL:
        argv = (sys.executable, "-m", "olive_lab.steps.awq_onnx", "--awq", str(ft / "model"),
                "--adapter", str(ft / "adapter"), "--output", str(lab.onnx_dir))
        inputs = (ft / "model", ft / "adapter")
        note = ("The builder cannot take an AWQ model together with an adapter, so this step dequantizes the AWQ "
                "weights for the builder to lay out the graph, writes AWQ's own int4 codes, scales and zero points "
                "into it in place of the builder's int4 pass (AWQ's layout: block 128, zero points), keeps the "
                "LoRA products float so chat with the adapter stays fast, and checks every code against the "
                "checkpoint.")
        title, olive_equivalent = "Optimize to ONNX (AWQ int4 + adapter)", None
    else:
        model = lab.base_dir if flow.name == HYBRID else ft / "model"
        argv, olive_equivalent = step_argv(model, ft / "adapter", lab.onnx_dir, lab.profile.optimize_precision)
        inputs = (model, ft / "adapter")
        note = (FLOAT_LORA_NOTE + " " + auto_opt_note
                + (" Hybrid: the int4 weights are made from the float model, the adapter was trained against the "
                   "AWQ weights." if flow.name == HYBRID else ""))
        title = "Optimize to ONNX (int4, with adapter)"
    return StepPlan(step="optimize", title=title, explain=explain, argv=argv, inputs=inputs,
                    outputs={"model": lab.onnx_dir},
                    settings={"precision": lab.profile.optimize_precision, "flow": flow.name},
                    notes=_notes(flow, note), olive_equivalent=olive_equivalent,
                    expected_s=lab.profile.expected_s.get("optimize"), expected_disk_gb=lab.profile.disk_gb * 0.2)
