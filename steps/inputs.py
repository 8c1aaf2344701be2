"""Every input a person gives, checked before any work starts: the work folder, the dataset, the base model, chat
prompts and token limits, and secrets pasted by mistake.

Each check returns the specific problems (what is wrong, where, how to fix it) instead of raising, so the command
line can print them and exit 2 (the input is wrong) or 3 (the machine or folder cannot be used), and the wizard
can show them; nothing here writes a file. Standard library only (the command line calls it before any import of
Rich, torch or Olive).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

#: Exit codes, as olive_lab.cli defines them: the input is wrong / the input is fine but cannot be used here.
USAGE, BLOCKED = 2, 3


#: File systems that hold kernel or device information, not files: a work folder there can only fail.
SPECIAL_FILESYSTEMS = frozenset({
    "proc", "sysfs", "devtmpfs", "devpts", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs", "configfs",
    "pstore", "bpf", "mqueue", "hugetlbfs", "fusectl", "efivarfs", "binfmt_misc", "autofs", "nsfs", "rpc_pipefs",
})
SPECIAL_PREFIXES = ("/proc", "/sys", "/dev")

#: Model types that are encoders or encoder-decoders: no causal language model the lab can fine-tune and run.
NOT_CAUSAL_TYPES = frozenset({
    "bert", "roberta", "distilbert", "albert", "electra", "deberta", "deberta-v2", "xlm-roberta", "camembert",
    "mpnet", "t5", "mt5", "bart", "mbart", "pegasus", "marian", "vit", "clip", "whisper", "wav2vec2", "modernbert",
})
CAUSAL_SUFFIXES = ("ForCausalLM", "LMHeadModel")


@dataclass(frozen=True)
class InputProblem:
    """One input that cannot be used: `message` says what, where and how to fix it; `exit_code` is 2 or 3."""

    message: str
    exit_code: int = USAGE


# ----------------------------------------------------------------------------------------------- work folder


def _mounts() -> list[tuple[str, str, set[str]]]:
    """(mount point, file system type, options) of every mount this process sees, from /proc/self/mountinfo."""
    try:
        lines = Path("/proc/self/mountinfo").read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    mounts = []
    for line in lines:
        head, _, tail = line.partition(" - ")
        fields, rest = head.split(), tail.split()
        if len(fields) >= 6 and rest:
            point = fields[4].replace("\\040", " ").replace("\\011", "\t").replace("\\134", "\\")
            mounts.append((point, rest[0], set(fields[5].split(","))))
    return mounts


def mount_of(path: Path) -> tuple[str, str, set[str]] | None:
    """The mount that holds `path` (the longest mount point above it), or None where that cannot be read."""
    text = str(path)
    best = None
    for point, fstype, options in _mounts():
        if text == point or text.startswith(point.rstrip("/") + "/"):
            if best is None or len(point) >= len(best[0]):
                best = (point, fstype, options)
    return best


def _existing_ancestor(path: Path) -> Path:
    while not os.path.lexists(path) and path != path.parent:
        path = path.parent
    return path


def workdir_problem(workdir, *, writes: bool = True) -> InputProblem | None:
    """Why `workdir` cannot be the lab's work folder (a file, a special file system, read-only), or None.

    A folder that does not exist yet is fine when its nearest existing parent is a folder the lab may write in.
    """
    given = str(workdir)
    fix = "Give a folder on a disk you can write to (it is made if missing), e.g. --workdir ~/olive-lab."
    try:
        path = Path(workdir).expanduser().resolve()
    except (OSError, RuntimeError) as exc:
        return InputProblem(f"--workdir {given} cannot be resolved ({exc}). {fix}")
    if path.exists() and not path.is_dir():
        kind = "file" if path.is_file() else "special file"
        return InputProblem(f"--workdir {given} is a {kind}, not a folder. {fix}")
    existing = _existing_ancestor(path)
    if not existing.is_dir():
        return InputProblem(f"--workdir {given} cannot be made: {existing} is a file, not a folder. {fix}")
    mount = mount_of(existing)
    special = mount[1] if mount and mount[1] in SPECIAL_FILESYSTEMS else None
    if special is None and any(str(path) == p or str(path).startswith(p + "/") for p in SPECIAL_PREFIXES):
        special = "a kernel file system"
    if special:
        where = f" (mounted at {mount[0]})" if mount and mount[1] == special else ""
        return InputProblem(f"--workdir {given} is on {special if ' ' in special else 'the ' + special + ' file system'}"
                            f"{where}, which holds kernel and device information, not files: the lab cannot keep "
                            f"models there. {fix}")
    if writes and not os.access(existing, os.W_OK | os.X_OK):
        if mount and "ro" in mount[2]:
            why = f"its file system (mounted at {mount[0]}) is read-only"
        else:
            why = f"you have no permission to write in {existing}"
        return InputProblem(f"--workdir {given} cannot be written: {why}. The lab keeps its models, logs and state "
                            f"there. {fix}", BLOCKED)
    return None


# ----------------------------------------------------------------------------------------------- dataset




def dataset_problem(path) -> InputProblem | None:
    """A dataset that fine-tuning (and the tiny model's tokenizer) cannot use, as one message, or None."""
    from .data import inspect_dataset

    report = inspect_dataset(path)
    from .data import training_problems

    problems = training_problems(report)
    if not problems:
        return None
    tail = "" if report.missing else f"\n`olive-lab data {report.path}` shows every problem."
    return InputProblem("\n".join(problems) + tail)


# ----------------------------------------------------------------------------------------------- base model


def model_problem(model: str, workdir=".") -> InputProblem | None:
    """Why `--model` cannot be the lab's base model: no such folder, not a model folder, not a causal LM."""
    from .lab import Lab
    from .model_files import check_model_folder
    from .model import plan as model_plan
    from .profiles import CPU, TINY_MODEL

    if model == TINY_MODEL:
        return None
    fix = ("Give a transformers causal language model: a folder with config.json, *.safetensors and the tokenizer, "
           "or a Hugging Face id such as microsoft/Phi-3.5-mini-instruct.")
    folder = Path(model).expanduser()
    if folder.is_dir():
        if problem := causal_lm_problem(folder, model, fix):
            return problem
        problems = check_model_folder(folder.resolve())
        if problems:
            details = "; ".join(p.split(": ", 1)[-1] for p in problems)
            return InputProblem(f"--model {model} is not a complete model folder: {details}. {fix}")
        return None
    if folder.exists():
        return InputProblem(f"--model {model} is a file, not a model folder. {fix}")
    blocked = model_plan(Lab.create(workdir, CPU, model=model)).blocked
    return InputProblem(f"{blocked}. {fix}") if blocked else None


def causal_lm_problem(folder: Path, given: str, fix: str) -> InputProblem | None:
    """A model folder whose config.json says it is an encoder (BERT, T5...): the lab fine-tunes causal LMs only."""
    try:
        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None  # check_model_folder says what is wrong with it
    model_type = str(config.get("model_type", "?"))
    architectures = [str(a) for a in config.get("architectures") or [] if isinstance(a, str)]
    if any(a.endswith(CAUSAL_SUFFIXES) for a in architectures):
        return None
    if architectures or model_type in NOT_CAUSAL_TYPES:
        found = f" (architectures: {', '.join(architectures)})" if architectures else ""
        return InputProblem(f"--model {given}: model_type {model_type}{found}: not a causal language model, so it "
                            f"cannot be fine-tuned to chat or run by onnxruntime-genai. {fix}")
    return None


# ----------------------------------------------------------------------------------------------- chat


def context_length(model_dir: Path) -> int | None:
    """The model's context window in tokens, from its genai_config.json (None when unknown)."""
    try:
        config = json.loads((Path(model_dir) / "genai_config.json").read_text(encoding="utf-8"))
        value = config["model"]["context_length"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return value if isinstance(value, int) and value > 0 else None


def chat_problem(prompt: str | None, max_new_tokens: int, context: int | None,
                 where: str = "genai_config.json") -> InputProblem | None:
    """A `--prompt` or `--max-new-tokens` the model cannot take (checked before the model loads)."""
    if prompt is not None and not prompt.strip():
        return InputProblem("--prompt is empty: give the message to answer, e.g. --prompt 'What should I see in "
                            "Lisbon?', or leave --prompt out to chat interactively.")
    if max_new_tokens < 1:
        return InputProblem(f"--max-new-tokens {max_new_tokens} is not a length: give a number of tokens of at "
                            "least 1 (default 200).")
    if context is not None and max_new_tokens >= context:
        return InputProblem(f"--max-new-tokens {max_new_tokens} does not fit the model's context of {context} tokens "
                            f"(context_length in {where}), which also holds the prompt: give at most "
                            f"{max(1, context // 2)} or so.")
    return None


def prompt_too_long(prompt_tokens: int, max_new_tokens: int, context: int | None) -> str:
    """Why a tokenized prompt plus the reply does not fit the model's context ("" when it does)."""
    if context is None or prompt_tokens + max_new_tokens <= context:
        return ""
    room = context - max_new_tokens
    return (f"The message is {prompt_tokens} tokens; with a reply of up to {max_new_tokens} tokens that is more "
            f"than the model's context of {context} tokens. Shorten it to under {max(room, 0)} tokens, or ask "
            "for a shorter reply.")
