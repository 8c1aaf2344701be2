"""Step 4: train a LoRA adapter on the travel data with `olive finetune`."""

from __future__ import annotations

from .lab import Lab, StepPlan
from .olive_cli import HF_MODEL_FILES, missing_files, olive_argv
from .profiles import LAB_TEXT_TEMPLATE

EXPLAIN = (
    "Fine-tuning teaches the model the travel assistant's style from the dataset. LoRA (low-rank adaptation) "
    "leaves the base weights frozen and trains two thin matrices beside some layers; those few megabytes are "
    "the adapter. One base model can then carry several adapters and switch between them at run time. Olive "
    "writes the model it trained against to models/phi/ft/model and the adapter to models/phi/ft/adapter."
)
ADAPTER_FILES = {"adapter_config.json": "adapter config", "adapter_model.safetensors": "adapter weights"}


def plan(lab: Lab) -> StepPlan:
    profile = lab.profile
    if profile.gpu_flows:
        from .flows import plan_finetune

        return plan_finetune(lab, EXPLAIN, profile.finetune_args)
    base = lab.quantized_dir / "model" if profile.finetune_on_quantized else lab.base_dir
    argv = olive_argv(
        "finetune", "--method", "lora", "-m", str(base),
        "--data_name", "json", "--data_files", str(lab.dataset), "--text_template", LAB_TEXT_TEMPLATE,
        "-o", str(lab.ft_dir), *profile.finetune_args,
    )
    return StepPlan(
        step="finetune", title="Fine-tune a LoRA adapter", explain=EXPLAIN, argv=argv,
        inputs=(base, lab.dataset), outputs={"model": lab.ft_dir / "model", "adapter": lab.ft_dir / "adapter"},
        settings={"base": "quantized" if profile.finetune_on_quantized else "float"},
        notes=tuple(n for n in (profile.notes.get("finetune"),) if n),
        expected_s=profile.expected_s.get("finetune"), expected_disk_gb=profile.disk_gb * 0.3,
    )


def verify(lab: Lab) -> list[str]:
    return (missing_files(lab.ft_dir / "model", HF_MODEL_FILES)
            + missing_files(lab.ft_dir / "adapter", ADAPTER_FILES))
