"""Step 5: build an int4 ONNX model for onnxruntime-genai, with the LoRA adapter as a separate file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from .lab import Lab, StepPlan
from .olive_cli import missing_files
from .onnx_build import FLOAT_LORA_NOTE, step_argv

if TYPE_CHECKING:
    from .flows import Flow

EXPLAIN = (
    "ONNX is a portable graph format; onnxruntime-genai runs ONNX language models with a generation loop, "
    "a KV cache and a tokenizer, on CPU or GPU, without PyTorch. Olive's model builder writes the graph with "
    "int4 weights and turns the LoRA adapter into inputs of that graph, so the adapter ships as its own small "
    "file (adapter_weights.onnx_adapter) that can be switched on or off while chatting."
)
GENAI_FILES = {"genai_config.json": "onnxruntime-genai config", "*.onnx": "ONNX model",
               "adapter_weights.onnx_adapter": "adapter file"}


AUTO_OPT_NOTE = ("`olive auto-opt` is deprecated in Olive 0.13, but `olive optimize` cannot yet extract the "
                 "adapter from an int4 build, so the lab keeps auto-opt with --use_model_builder.")


def plan(lab: Lab, flow: Flow | None = None) -> StepPlan:
    """The step's plan; on the gpu profile, for the GPU `flow` (this machine's, `flows.gpu_flow()`, when not given)."""
    if lab.profile.gpu_flows:
        from .flows import gpu_flow, plan_optimize

        return plan_optimize(lab, flow or gpu_flow(), EXPLAIN, AUTO_OPT_NOTE)
    ft, precision = lab.ft_dir, lab.profile.optimize_precision
    argv, auto_opt = step_argv(ft / "model", ft / "adapter", lab.onnx_dir, precision)
    return StepPlan(
        step="optimize", title="Optimize to ONNX (int4, with adapter)", explain=EXPLAIN, argv=argv,
        inputs=(ft / "model", ft / "adapter"), outputs={"model": lab.onnx_dir},
        settings={"precision": precision, "lora": "float"},
        notes=(FLOAT_LORA_NOTE, AUTO_OPT_NOTE),
        olive_equivalent=auto_opt,
        expected_s=lab.profile.expected_s.get("optimize"), expected_disk_gb=lab.profile.disk_gb * 0.2,
    )


def model_folder(lab: Lab) -> Path:
    """Where genai_config.json is: Olive 0.13 writes flat; the lab's older Olive wrote an extra `model/` folder."""
    nested = lab.onnx_dir / "model"
    return nested if (nested / "genai_config.json").is_file() else lab.onnx_dir


def verify(lab: Lab) -> list[str]:
    return missing_files(model_folder(lab), GENAI_FILES)
