"""The command line's front door: every argument checked before any command writes anything, and every failure
turned into a message (what is wrong, where, how to fix it) with exit code 2 (bad input) or 3 (blocked), never a
traceback. The checks themselves are in olive_lab.steps.inputs; this module picks which apply to each command.
"""

from __future__ import annotations

import argparse
import errno
import os
import sys

from .cli import EXIT_BLOCKED, EXIT_FAILED, EXIT_USAGE

#: Commands that only read the work folder (the others write state, logs or models in it).
READ_ONLY_COMMANDS = ("check", "data")
#: Commands that ignore --workdir, --model and --data.
NO_LAB_COMMANDS = ("setup",)
#: Arguments whose text is the user's own words, not a path or a name: never refused for looking like a secret.
FREE_TEXT = ("prompt",)
#: Steps whose work reads the dataset: the tiny model's tokenizer is trained on it, LoRA learns from it.
DATA_STEPS = ("model", "finetune")


def say(name: str, message: str) -> None:
    """Print one message to stderr, with no secret and no control character a terminal would act on."""
    from .steps.redact import scrub
    from .steps.safe_text import visible

    print(f"{name}: {visible(scrub(message))}", file=sys.stderr)


def check_inputs(args: argparse.Namespace):
    """The first problem with the arguments (an `InputProblem`), or None when the command may start."""
    from .steps import inputs

    command = args.command
    problem = secret_problem(args)
    if problem or command in NO_LAB_COMMANDS:
        return problem
    workdir = getattr(args, "workdir", None) or "."
    problem = inputs.workdir_problem(workdir, writes=command not in READ_ONLY_COMMANDS)
    if problem or command in ("check",):
        return problem
    if command == "data":
        return None  # it reports every problem of the dataset itself
    model = getattr(args, "model", None)
    if model is not None and (problem := inputs.model_problem(model, workdir)):
        return problem
    if command == "run":
        return run_problem(args, workdir)
    if (data := getattr(args, "data", None)) is not None and not os.path.isfile(os.path.expanduser(data)):
        return inputs.InputProblem(f"--data {data}: no such file. Give the path of a .jsonl dataset, or leave "
                                   "--data out to use the lab's travel dataset.")
    if command == "command":
        return step_problem("the step", getattr(args, "step", None), allow_none=True)
    if command == "chat":
        return chat_problem(args, workdir)
    return None


def secret_problem(args: argparse.Namespace):
    """An argument that holds a SAS signature, key, token or password: refused, and echoed only redacted."""
    from .steps.inputs import InputProblem
    from .steps.redact import scrub, secrets_in

    for key, value in vars(args).items():
        if key in FREE_TEXT or key in ("run", "command"):
            continue
        for text in value if isinstance(value, list) else [value]:
            if isinstance(text, str) and secrets_in(text):
                flag = key.upper() if key in ("file", "step") else "--" + key.replace("_", "-")
                return InputProblem(
                    f"{flag} holds what looks like a secret (a SAS token, key or password): {scrub(text)}. "
                    "Olive Lab never needs one on its command line: it reads local files and folders, and "
                    "`olive-lab upload` signs in with `az login`. Download the file first (e.g. `az storage blob "
                    "download` or azcopy) and pass its local path. Nothing was printed with the secret or stored.")
    return None


def step_problem(what: str, step: str | None, *, allow_none: bool = False):
    from .steps.inputs import InputProblem
    from .steps.pipeline import RUNNABLE

    if step is None and allow_none:
        return None
    if not step or not step.strip():
        return InputProblem(f"{what} is empty: name one of {', '.join(RUNNABLE)}.")
    return None


def run_problem(args: argparse.Namespace, workdir: str):
    """`olive-lab run`: an empty --only/--from, then the dataset the chosen steps will train on."""
    from .steps import inputs
    from .steps.planner import UnknownStep, select_steps

    for flag, value in (("--only", args.only), ("--from", args.from_step)):
        if value is not None and (problem := step_problem(flag, value)):
            return problem
    try:
        steps = select_steps(only=args.only, from_step=args.from_step)
    except UnknownStep:
        return None  # `run` names the steps there are
    if not any(step in DATA_STEPS for step in steps):
        return None
    return inputs.dataset_problem(dataset_for(args, workdir))


def dataset_for(args: argparse.Namespace, workdir: str):
    """The dataset a run will use: --data, else the one remembered in the work folder, else the lab's default."""
    from .steps.lab import Lab
    from .steps.pipeline import saved_settings
    from .steps.profiles import CPU

    data = getattr(args, "data", None)
    if data is None:
        try:
            saved = saved_settings(workdir)
            data = saved.get("data") if isinstance(saved, dict) and isinstance(saved.get("data"), str) else None
        except (OSError, ValueError):
            data = None
    return Lab.create(workdir, CPU, data).dataset


def chat_problem(args: argparse.Namespace, workdir: str):
    """An empty --prompt or a --max-new-tokens the model's context cannot hold, before the model loads."""
    from .steps import inputs
    from .steps.lab import Lab
    from .steps.optimize import model_folder
    from .steps.profiles import CPU

    if problem := inputs.chat_problem(args.prompt, args.max_new_tokens, None):
        return problem
    lab = Lab.create(workdir, CPU)
    folder = model_folder(lab)
    if not (folder / "genai_config.json").is_file():
        return inputs.InputProblem(f"The optimized model is not there yet ({lab.workspace.relative(folder)} has no "
                                   "genai_config.json): run the optimize step first (`olive-lab run`).",
                                   EXIT_BLOCKED)
    return inputs.chat_problem(args.prompt, args.max_new_tokens, inputs.context_length(folder),
                               f"{folder.name}/genai_config.json")


def report_crash(name: str, exc: BaseException) -> int:
    """What escaped a command: a file-system error as what it means (exit 2/3), anything else as one line (1).

    OLIVE_LAB_DEBUG=1 shows the traceback instead, for a bug report.
    """
    if os.environ.get("OLIVE_LAB_DEBUG"):
        raise exc
    if isinstance(exc, OSError):
        message, code = os_error_message(exc)
        say(name, message)
        return code
    say(name, f"unexpected error: {type(exc).__name__}: {exc}. This is a bug in Olive Lab; run again with "
              "OLIVE_LAB_DEBUG=1 to see where, and report it.")
    return EXIT_FAILED


def os_error_message(exc: OSError) -> tuple[str, int]:
    """A file-system error in words, and whether it is the input's fault (2) or the machine's (3)."""
    where = exc.filename or "a file"
    text = exc.strerror or str(exc)
    if exc.errno == errno.ENOSPC:
        return (f"no space left on the disk that holds {where}. Free some space (`df -h` shows it) or use a work "
                "folder on a bigger disk (--workdir), then run the command again.", EXIT_BLOCKED)
    if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        return (f"cannot write {where} ({text}). Use a work folder you can write to (--workdir), or fix its "
                "permissions.", EXIT_BLOCKED)
    if exc.errno in (errno.ENOTDIR, errno.EISDIR, errno.ENOENT):
        return f"{where}: {text}. Check the paths given (--workdir, --model, --data).", EXIT_USAGE
    return f"{where}: {text}.", EXIT_FAILED
