"""The lab's steps in order: their plans, whether each needs to run, and the state of each on disk."""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .lab import Lab, StepPlan
from .profiles import PROFILES
from .workspace import DONE, FAILED, RUNNING, STATE_DIR, StepState, Workspace

STEP_ORDER = ("check", "data", "model", "quantize", "finetune", "optimize", "evaluate", "chat", "upload")
#: Steps that run as detached subprocesses through the runner; the others run inside the front end.
RUNNABLE = ("model", "quantize", "finetune", "optimize", "evaluate")
LAB_FILE = "lab.json"


def _module(step: str):
    return importlib.import_module(f"olive_lab.steps.{step}")


def lab_settings_path(workdir) -> Path:
    return Workspace.at(workdir).root / STATE_DIR / LAB_FILE


def load_lab(workdir, profile: str | None = None, model: str | None = None, data: str | None = None) -> Lab:
    """The lab in `workdir`. Choices given here are remembered; missing ones come from the last run, then defaults.

    With no profile given or remembered, the machine check picks one (gpu only with a usable NVIDIA GPU).
    """
    path = lab_settings_path(workdir)
    saved = saved_settings(workdir)
    profile = profile or saved.get("profile")
    if profile is None:
        from .check import run_checks

        profile = run_checks(workdir).profile
    if model is None and profile == saved.get("profile"):
        model = saved.get("model")
    data = data or saved.get("data")
    lab = Lab.create(workdir, PROFILES[profile], dataset=data, model=model)
    settings = {"profile": profile, "model": model, "data": str(lab.dataset)}
    if settings != saved:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(settings, indent=2), encoding="utf-8")
    return lab


def saved_settings(workdir) -> dict:
    """The profile, model and dataset chosen the last time in this work folder ({} if none yet)."""
    try:
        return json.loads(lab_settings_path(workdir).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def plan(lab: Lab, step: str) -> StepPlan:
    return _module(step).plan(lab)


def verify(lab: Lab, step: str) -> list[str]:
    """Problems with the step's outputs on disk; an empty list means they are there and complete."""
    return _module(step).verify(lab)


def preflight(lab: Lab, step: str) -> list[str]:
    """Problems that would make the step fail before it does real work (missing inputs, bad data)."""
    problems = [f"{p} is missing: run the step that makes it first" for p in plan(lab, step).inputs
                if not p.exists()]
    if step == "finetune" and lab.dataset.exists():
        from .data import DataError, require_valid
        from .profiles import LAB_TEXT_TEMPLATE

        try:
            require_valid(lab.dataset, LAB_TEXT_TEMPLATE)
        except DataError as exc:
            problems.append(str(exc))
    return problems


def _file_signature(path: Path, root: Path) -> list:
    stat = path.stat()
    return [str(path.relative_to(root)) if path != root else path.name, stat.st_size, stat.st_mtime_ns]


def fingerprint(step_plan: StepPlan) -> str:
    """What the step's result depends on: its command and settings, and the size and time of every input file.

    Sizes and times (not contents) keep a rerun that skips everything fast at full size (GBs of weights).
    """
    h = hashlib.sha256(json.dumps([step_plan.argv, step_plan.settings], sort_keys=True).encode())
    for item in step_plan.inputs:
        files = sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
        for f in files:
            if f.exists():
                h.update(json.dumps(_file_signature(f, item)).encode())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Decision:
    run: bool
    reason: str


def decide(lab: Lab, step: str, force: bool = False) -> Decision:
    """Whether a runnable step must run now, and why, in words a user reads."""
    step_plan = plan(lab, step)
    if step_plan.argv is None:
        problems = verify(lab, step)
        return Decision(False, "; ".join(problems) if problems else "nothing to do: " + step_plan.title)
    if force:
        return Decision(True, "forced (--force)")
    state = StepState.load(lab.workspace, step)
    problems = verify(lab, step)
    if problems:
        return Decision(True, "never run" if state.status == "pending" else f"outputs incomplete: {problems[0]}")
    if state.status == DONE and state.fingerprint == fingerprint(step_plan):
        when = time.strftime("%H:%M %d %b", time.localtime(state.ended_at or 0))
        return Decision(False, f"up to date (done {when}, inputs unchanged)")
    if state.status == "pending" or (state.found_by_hand and state.status == DONE):
        return Decision(False, "outputs found (made earlier by hand)")
    if state.status == DONE:
        return Decision(True, "inputs changed since the last run")
    return Decision(True, f"last run {state.status}")


def record_found_by_hand(lab: Lab, step: str) -> None:
    """Outputs a person made by following the lab by hand count as done."""
    state = StepState.load(lab.workspace, step)
    if state.status == "pending":
        state.status, state.found_by_hand, state.ended_at = DONE, True, time.time()
        state.outputs = {k: lab.workspace.relative(v) for k, v in plan(lab, step).outputs.items()}
        state.save(lab.workspace)


def status(lab: Lab) -> dict[str, StepState]:
    """Each step's state; a step recorded as running whose run is gone is reported as interrupted."""
    from .runner import run_active

    active = run_active(lab.workspace)
    states = {}
    for step in STEP_ORDER:
        state = StepState.load(lab.workspace, step)
        if state.status == RUNNING and not active:
            state.status, state.reason = FAILED, "interrupted: the process running it is gone (killed or rebooted)"
            state.advice = "Run the step again."
        states[step] = state
    return states


def clear_olive_cache(workspace: Workspace) -> None:
    """Olive serves identical reruns from .olive-cache; a forced rerun must really run."""
    shutil.rmtree(workspace.root / ".olive-cache", ignore_errors=True)


def output_size(path: Path) -> int:
    """Bytes under `path` (0 when missing)."""
    if path.is_file():
        return path.stat().st_size
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.is_dir() else 0


def relative_outputs(lab: Lab, step: str) -> dict[str, str]:
    return {name: lab.workspace.relative(p) for name, p in plan(lab, step).outputs.items()}


def environ_for(lab: Lab) -> dict[str, str]:
    """The subprocess environment, with this Python's bin folder first so `olive` is the one beside it."""
    env = lab.workspace.subprocess_env()
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    return env
