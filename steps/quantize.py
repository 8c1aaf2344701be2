"""Step 3: quantize the base model (AWQ on a GPU, RTN int4 as the CPU stand-in) to show the size win."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING

from .lab import Lab, StepPlan
from .olive_cli import HF_MODEL_FILES, missing_files, olive_argv
from .profiles import SMOLLM2_MODEL
from .rtn import OLIVE_GROUP_SIZE, group_size_for

if TYPE_CHECKING:
    from .flows import Flow

EXPLAIN = (
    "Quantizing stores the model's weights in 4 bits instead of 16 or 32, so the model is several times "
    "smaller and faster to load. AWQ (activation-aware weight quantization) first runs a little calibration "
    "data through the model to find which weights matter most and protects them, so accuracy drops less than "
    "with plain rounding. The lab quantizes before fine-tuning so that the adapter can learn to make up for "
    "what quantization lost."
)
RTN_EXPLAIN = (
    " On this profile Olive's RTN (round-to-nearest) int4 stands in for AWQ, which needs a CUDA GPU: same idea, "
    "no calibration."
)


GROUP_EXPLAIN = (
    " Each group of {} weights shares one scale: this model's layer widths are not multiples of the 128 that "
    "`olive quantize` uses, so the lab runs Olive's RTN pass through `olive run` with smaller groups."
)


def rtn_group_size(lab: Lab) -> int:
    """RTN's group size for the base model (read from its config; SmolLM2's is known before it is converted)."""
    if lab.base_model == SMOLLM2_MODEL and not (lab.base_dir / "config.json").is_file():
        return 64  # hidden 576, MLP 1536
    try:
        config = json.loads((lab.base_dir / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return OLIVE_GROUP_SIZE
    return group_size_for(config)


def plan(lab: Lab, flow: Flow | None = None) -> StepPlan:
    """The step's plan; on the gpu profile, for the GPU `flow` (this machine's, `flows.gpu_flow()`, when not given)."""
    profile = lab.profile
    if profile.gpu_flows:
        from .flows import gpu_flow, plan_quantize

        return plan_quantize(lab, flow or gpu_flow(), EXPLAIN, RTN_EXPLAIN)
    out = lab.quantized_dir
    if profile.quantize_algorithm == "awq":
        argv = (sys.executable, "-m", "olive_lab.steps.awq", "--model", str(lab.base_dir),
                "--data", str(lab.dataset), "--output", str(out))
        title, explain = "Quantize with AWQ", EXPLAIN
    elif (group_size := rtn_group_size(lab)) == OLIVE_GROUP_SIZE:
        argv = olive_argv("quantize", "-m", str(lab.base_dir), "--algorithm", "rtn", "--precision", "int4",
                          "-o", str(out))
        title, explain = "Quantize (RTN int4)", EXPLAIN + RTN_EXPLAIN
    else:  # `olive quantize` has no group-size option and its 128 does not divide this model's widths
        argv = (sys.executable, "-m", "olive_lab.steps.rtn", "--model", str(lab.base_dir), "--output", str(out),
                "--group-size", str(group_size))
        title, explain = "Quantize (RTN int4)", EXPLAIN + RTN_EXPLAIN + GROUP_EXPLAIN.format(group_size)
    return StepPlan(
        step="quantize", title=title, explain=explain, argv=argv,
        inputs=(lab.base_dir,), outputs={"model": out / "model"},
        settings={"algorithm": profile.quantize_algorithm},
        notes=tuple(n for n in (profile.notes.get("quantize"),) if n),
        expected_s=profile.expected_s.get("quantize"), expected_disk_gb=profile.disk_gb * 0.1,
    )


def verify(lab: Lab) -> list[str]:
    """Olive writes `<out>/model/` (0.13); a hand-run older Olive wrote the model files into `<out>` itself."""
    out = lab.quantized_dir
    nested = out / "model"
    return missing_files(nested if nested.is_dir() else out, HF_MODEL_FILES)
