"""The wizard's one door into olive_lab.steps: imports the step modules lazily and says plainly what is missing.

The TUI presents steps and never re-implements them; this module only adapts call shapes and turns "module not
there (yet)" into a sentence a screen can show. Every function here may block (file reads, imports): call them
from workers, never from the UI thread.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from types import ModuleType
from typing import Any


class Missing(RuntimeError):
    """A step module the wizard needs is not importable; str() says which and why."""


def module(name: str) -> ModuleType:
    """`olive_lab.steps.<name>`, or Missing with a readable reason."""
    try:
        return importlib.import_module(f"olive_lab.steps.{name}")
    except ModuleNotFoundError as exc:
        if exc.name in (f"olive_lab.steps.{name}",):
            raise Missing(f"steps/{name}.py is not there yet") from exc
        raise Missing(f"steps/{name}.py cannot be imported: missing package {exc.name!r}") from exc
    except ImportError as exc:
        raise Missing(f"steps/{name}.py cannot be imported: {exc}") from exc


def available(name: str) -> str:
    """"" if `olive_lab.steps.<name>` imports, else why not."""
    try:
        module(name)
    except Missing as exc:
        return str(exc)
    return ""


# --- the lab --------------------------------------------------------------------------------------------------

def load_lab(workdir: str | Path, profile: str | None = None, model: str | None = None, data: str | None = None):
    """The Lab for a work folder (pipeline.load_lab remembers the choice in .olive-lab/lab.json)."""
    try:
        pipeline = module("pipeline")
    except Missing:
        # Before the pipeline exists: a Lab straight from the skeleton, so the shell and check/data panes work.
        from olive_lab.steps.lab import Lab
        from olive_lab.steps.profiles import PROFILES

        return Lab.create(workdir, PROFILES[profile or "cpu"], data, model)
    return pipeline.load_lab(workdir, profile=profile, model=model, data=data)


def plan(lab, step: str):
    return module("pipeline").plan(lab, step)


def plans(lab, steps) -> dict[str, Any]:
    """Plans for the steps that have one; a step whose plan fails gets the exception text instead."""
    try:
        pipeline = module("pipeline")
    except Missing:
        return {}
    out: dict[str, Any] = {}
    for step in steps:
        try:
            out[step] = pipeline.plan(lab, step)
        except Exception as exc:  # noqa: BLE001 - a broken plan must not take the wizard down
            out[step] = exc
    return out


def status(lab) -> dict[str, Any]:
    """pipeline.status(lab): {step: StepState}; {} while the pipeline is missing."""
    try:
        pipeline = module("pipeline")
    except Missing:
        return {}
    return pipeline.status(lab)


def disk_signature(lab) -> tuple:
    return module("pipeline").disk_signature(lab)


def verify(lab, step: str) -> list[str]:
    return list(module("pipeline").verify(lab, step))


def decide(lab, step: str, force: bool = False):
    return module("pipeline").decide(lab, step, force=force)


def resolve_profile(workdir: str | Path, asked: str | None = None) -> str | None:
    """The profile asked for, else the one remembered in the work folder; None: the check picks it."""
    return module("pipeline").resolve_profile(workdir, asked)


def missing_inputs(plan) -> list[Path]:
    return module("pipeline").missing_inputs(plan)


def plan_run(lab, force: bool = False, **selection):
    """The run planner's request (steps/planner.py) for `selection` (only=, upto=, or all the runnable steps)."""
    planner = module("planner")
    return planner.plan_run(lab, planner.select_steps(**selection), force)


def attach(lab):
    """The active run in this work folder, or None (also None while the runner is missing)."""
    try:
        runner = module("runner")
    except Missing:
        return None
    return runner.attach(lab)


def start(lab, steps: list[str], force: bool = False):
    return module("runner").start(lab, steps, force=force)


def already_running_type():
    try:
        return module("runner").AlreadyRunning
    except (Missing, AttributeError):
        return None


# --- check and data ---------------------------------------------------------------------------------------------

def run_checks(workdir: str | Path, profile_name: str | None = None):
    return module("check").run_checks(workdir, profile_name)


def inspect_dataset(path: Path, template: str):
    return module("data").inspect_dataset(path, template)


def render_template(template: str, row) -> str:
    return module("data").render_template(template, row)


def text_template(lab) -> str:
    """The template the finetune step gives Olive: the lab's Phi-3 format, or the base model's chat template."""
    from olive_lab.steps.profiles import LAB_TEXT_TEMPLATE

    try:
        return module("finetune").text_template(lab)
    except module("template").TemplateError:
        return LAB_TEXT_TEMPLATE  # a hub model not downloaded yet: its fields are the same


def template_source(lab) -> str:
    """Where the text template comes from, in words (e.g. "the model's chat template (tokenizer_config.json)")."""
    template = module("template")
    try:
        return template.for_lab(lab).source
    except template.TemplateError as exc:
        return f"the lab's Phi-3 template for now ({exc})"


def write_split(lab, report):
    """The data step's train / held-out split, written into the work folder (steps/data.py write_split)."""
    return module("data").write_split(lab, report)


# --- the machine ------------------------------------------------------------------------------------------------

def gpu_summary() -> str:
    """"none" or the first GPU's name and memory (NVML; quick, no torch)."""
    try:
        import pynvml
    except ImportError:
        return "none"
    try:
        pynvml.nvmlInit()
    except Exception:  # noqa: BLE001 - no driver, no GPU
        return "none"
    try:
        count = pynvml.nvmlDeviceGetCount()
        if not count:
            return "none"
        handle = pynvml.nvmlDeviceGetHandleByIndex(0)
        name = pynvml.nvmlDeviceGetName(handle)
        if isinstance(name, bytes):
            name = name.decode()
        mem = pynvml.nvmlDeviceGetMemoryInfo(handle).total / 1024**3
        more = f" (+{count - 1})" if count > 1 else ""
        return f"{name} {mem:.0f} GB{more}"
    except Exception:  # noqa: BLE001
        return "none"
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def read_tail(path: Path, max_lines: int = 2000, max_bytes: int = 2_000_000) -> list[str]:
    """The last lines of a log file on disk (raw, with ANSI), `\\r` redraws kept for the view to collapse."""
    try:
        with open(path, "rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - max_bytes))
            data = fh.read()
    except OSError:
        return []
    text = data.decode("utf-8", errors="replace").replace("\r\n", "\n")
    lines = text.split("\n")
    if size > max_bytes:
        lines = lines[1:]  # the first one is cut
    if lines and lines[-1] == "":
        lines.pop()
    return lines[-max_lines:]
