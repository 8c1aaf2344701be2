"""Step 4: train a LoRA adapter on the travel data with `olive finetune`.

It trains on the train part of the held-out split (`data/train.jsonl`, written by steps/data.py) and renders each
row with the base model's own text template (steps/template.py), so the adapter learns the format the model
is chatted with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .data import train_path
from .lab import Lab, StepPlan
from .olive_cli import HF_MODEL_FILES, missing_files, olive_argv
from .template import TemplateError, for_lab

if TYPE_CHECKING:
    from .flows import Flow

EXPLAIN = (
    "Fine-tuning teaches the model the travel assistant's style from the dataset. LoRA (low-rank adaptation) "
    "leaves the base weights frozen and trains two thin matrices beside some layers; those few megabytes are "
    "the adapter. One base model can then carry several adapters and switch between them at run time. Olive "
    "writes the model it trained against to models/phi/ft/model and the adapter to models/phi/ft/adapter."
)
ADAPTER_FILES = {"adapter_config.json": "adapter config", "adapter_model.safetensors": "adapter weights"}
#: Olive 0.13's `finetune` cannot mask the prompt out of the loss (see NOT_RESPONSE_ONLY).
NOT_RESPONSE_ONLY = (
    "Olive 0.13's finetune trains on every token of the templated text, prompts and the system line included: "
    "its text-generation data builder sets labels = input_ids (only padding is ignored) and exposes no "
    "completion-only option, so the response tokens cannot be trained alone. The evaluation scores responses only."
)


def finetune_args(lab: Lab) -> tuple[str, ...]:
    """The profile's fine-tune settings, or the ones it keeps for this base model (e.g. the tiny model's)."""
    profile = lab.profile
    return profile.model_finetune_args.get(lab.base_model, profile.finetune_args)


def text_template(lab: Lab) -> str:
    """The `--text_template` for Olive: the lab's Phi-3 template or the base model's chat template, as str.format."""
    return for_lab(lab).olive_format()


def plan(lab: Lab, flow: Flow | None = None) -> StepPlan:
    """The step's plan; on the gpu profile, for the GPU `flow` (this machine's, `flows.gpu_flow()`, when not given)."""
    profile = lab.profile
    if profile.gpu_flows:
        from .flows import gpu_flow, plan_finetune

        return plan_finetune(lab, flow or gpu_flow(), EXPLAIN, finetune_args(lab))
    base = lab.quantized_dir / "model" if profile.finetune_on_quantized else lab.base_dir
    blocked, template = "", ""
    try:
        template = text_template(lab)
    except TemplateError as exc:
        blocked = str(exc)
    train = train_path(lab)
    argv = olive_argv(
        "finetune", "--method", "lora", "-m", str(base),
        "--data_name", "json", "--data_files", str(train), "--text_template", template,
        "-o", str(lab.ft_dir), *finetune_args(lab),
    )
    return StepPlan(
        step="finetune", title="Fine-tune a LoRA adapter", explain=EXPLAIN, argv=argv,
        inputs=(base, lab.dataset), outputs={"model": lab.ft_dir / "model", "adapter": lab.ft_dir / "adapter"},
        settings={"base": "quantized" if profile.finetune_on_quantized else "float",
                  "train data": lab.workspace.relative(train), "text template": _template_source(lab)},
        notes=tuple(n for n in (profile.notes.get("finetune"), NOT_RESPONSE_ONLY) if n),
        expected_s=profile.expected_s.get("finetune"), expected_disk_gb=profile.disk_gb * 0.3, blocked=blocked,
    )


def _template_source(lab: Lab) -> str:
    try:
        return for_lab(lab).source
    except TemplateError:
        return "the model's chat template (known after the model step)"


def verify(lab: Lab) -> list[str]:
    return (missing_files(lab.ft_dir / "model", HF_MODEL_FILES)
            + missing_files(lab.ft_dir / "adapter", ADAPTER_FILES))
