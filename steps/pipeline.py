"""The lab's steps in order: their plans, whether each needs to run, and the state of each on disk."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from .envs import envs_root
from .lab import Lab, StepPlan
from .profiles import PROFILES
from .protocol import RUNNABLE, STEP_ORDER, registered
from .runstate import DONE, PENDING, StepState, effective, run_active
from .workspace import STATE_DIR, Workspace, read_json, write_json

LAB_FILE = "lab.json"
#: `.olive-lab/made/<step>.json`: what the runner made a step's outputs from, kept apart from the step's state, so
#: outputs whose state file was lost or broken are never mistaken for outputs made by hand.
MADE_DIR = "made"


def lab_settings_path(workdir) -> Path:
    return Workspace.at(workdir).root / STATE_DIR / LAB_FILE


def load_lab(workdir, profile: str | None = None, model: str | None = None, data: str | None = None,
             eval_data: str | None = None) -> Lab:
    """The lab in `workdir`. Choices given here are remembered; missing ones come from the last run, then defaults.

    With no profile given or remembered, the machine check picks one (gpu only with a usable NVIDIA GPU).
    A remembered dataset inside the work folder is kept relative to it, so a moved folder still finds it.
    """
    root = Workspace.at(workdir).root
    saved = saved_settings(workdir)
    profile = resolve_profile(workdir, profile)
    if profile is None:
        from .check import run_checks

        profile = run_checks(workdir).profile
    if model is None and profile == saved.get("profile"):
        model = saved.get("model")
    if data is None and saved.get("data"):
        data = root / saved["data"]
    if eval_data is None and saved.get("eval_data"):
        eval_data = root / saved["eval_data"]
    lab = Lab.create(workdir, PROFILES[profile], dataset=data, model=model, eval_data=eval_data)
    settings = {"profile": profile, "model": model, "data": lab.workspace.relative(lab.dataset)}
    if lab.eval_data is not None:
        settings["eval_data"] = lab.workspace.relative(lab.eval_data)
    if settings != saved:
        write_json(lab_settings_path(workdir), settings)
    return lab


def _settings_problem(data) -> str:
    if not isinstance(data, dict):
        return f"it holds a JSON {type(data).__name__}, not an object"
    if data.get("profile") is not None and data["profile"] not in PROFILES:
        return f"unknown profile {data['profile']!r} (choose {' or '.join(PROFILES)})"[:200]
    wrong = [k for k in ("profile", "model", "data") if not isinstance(data.get(k), (str, type(None)))]
    return f"{wrong[0]!r} is {data[wrong[0]]!r}, not text"[:200] if wrong else ""


def saved_settings(workdir) -> dict:
    """The profile, model and dataset chosen the last time in this work folder ({} if none, or if broken)."""
    return read_json(lab_settings_path(workdir), _settings_problem,
                     "the profile, model and dataset are chosen again") or {}


def resolve_profile(workdir, asked: str | None = None) -> str | None:
    """The profile a run in `workdir` uses: the one asked for, else the one remembered there (`lab.json`).

    None: neither, so the machine check picks it (the CLI and the wizard run the check and show why;
    `load_lab` runs it itself when called without one).
    """
    return asked or saved_settings(workdir).get("profile")


def machine_flow(lab: Lab):
    """The GPU flow this machine runs for the lab (`flows.gpu_flow`), or None off the gpu profile."""
    if not lab.profile.gpu_flows:
        return None
    from .flows import gpu_flow

    return gpu_flow()


def plan(lab: Lab, step: str, flow=None) -> StepPlan:
    """The step's plan (steps/protocol.py says where it lives). `flow`: the GPU flow, resolved here when not given."""
    entry = registered(step)
    if entry.takes_flow and lab.profile.gpu_flows:
        return entry.planner()(lab, flow or machine_flow(lab))
    return entry.planner()(lab)


def verify(lab: Lab, step: str) -> list[str]:
    """Problems with the step's outputs on disk; an empty list means they are there and complete."""
    return registered(step).verifier()(lab)


def missing_inputs(step_plan: StepPlan) -> list[Path]:
    """The plan's inputs that are not on disk (yet): the one place a missing input is found."""
    return [p for p in step_plan.inputs if not p.exists()]


def missing_text(path: Path) -> str:
    return f"{path} is missing: run the step that makes it first"


def preflight(lab: Lab, step: str) -> list[str]:
    """Problems that would make the step fail before it does real work (missing inputs, bad data)."""
    problems = [missing_text(p) for p in missing_inputs(plan(lab, step))]
    if step == "finetune" and lab.dataset.exists():
        from .data import prepare_training_data

        problems += prepare_training_data(lab)
    return problems


def _file_signature(path: Path, root: Path) -> list:
    stat = path.stat()
    return [str(path.relative_to(root)) if path != root else path.name, stat.st_size, stat.st_mtime_ns]


def _tree_signatures(item: Path):
    """Name, size and time of each file of `item` (a file or a folder), relative to it."""
    files = sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
    for f in files:
        if f.exists():
            yield json.dumps(_file_signature(f, item)).encode()


def fingerprint(step_plan: StepPlan, workspace: Workspace | None = None) -> str:
    """What the step's result depends on: its command and settings, and the size and time of every input file.

    Sizes and times (not contents) keep a rerun that skips everything fast at full size (GBs of weights). Paths
    inside the work folder count relative to it, so moving the folder does not make everything stale.
    """
    recipe = json.dumps([step_plan.argv, step_plan.settings], sort_keys=True)
    if workspace is not None:
        root = str(workspace.root)
        recipe = recipe.replace(f'"{root}"', '"<workdir>"').replace(root + "/", "<workdir>/")
    h = hashlib.sha256(recipe.encode())
    for item in step_plan.inputs:
        for signature in _tree_signatures(item):
            h.update(signature)
    return h.hexdigest()[:16]


def outputs_signature(step_plan: StepPlan) -> str:
    """The outputs as they are now (names, sizes, times): tells outputs a person replaced from the runner's."""
    h = hashlib.sha256()
    for name, path in sorted(step_plan.outputs.items()):
        h.update(name.encode())
        for signature in _tree_signatures(path):
            h.update(signature)
    return h.hexdigest()[:16]


def _made_path(workspace: Workspace, step: str) -> Path:
    return workspace.root / STATE_DIR / MADE_DIR / f"{step}.json"


def record_made(lab: Lab, step: str, fingerprint_now: str) -> None:
    """The runner made the step's outputs from inputs with this fingerprint (written once they are verified)."""
    write_json(_made_path(lab.workspace, step), {"step": step, "fingerprint": fingerprint_now,
                                                 "outputs": outputs_signature(plan(lab, step))})


def forget_made(lab: Lab, step: str) -> None:
    """The step's outputs are about to be rebuilt: what made the old ones no longer describes them."""
    _made_path(lab.workspace, step).unlink(missing_ok=True)


def _made_problem(data) -> str:
    if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in ("fingerprint", "outputs")):
        return "it is not a record of what made the outputs"
    return ""


def made_by_runner(lab: Lab, step: str, flow=None) -> str | None:
    """The fingerprint the runner made the current outputs from; None when nothing says the runner made them.

    A broken record says the runner made them from inputs no longer known: "" (never equal to a fingerprint).
    """
    path = _made_path(lab.workspace, step)
    record = read_json(path, _made_problem, "the step will be redone")
    if record is None:
        return "" if any(path.parent.glob(f"{path.name}.corrupt-*")) else None
    if record["outputs"] != outputs_signature(plan(lab, step, flow)):
        return None  # the outputs were replaced since: a person put them there
    return record["fingerprint"]


@dataclass(frozen=True)
class Decision:
    run: bool
    reason: str


def decide(lab: Lab, step: str, force: bool = False, flow=None) -> Decision:
    """Whether a runnable step must run now, and why, in words a user reads.

    Done means: outputs complete, and recorded (in the state, or else in what the runner wrote when it made
    them) with the fingerprint of the inputs as they are now. Outputs nothing records count as made by hand,
    once; when their inputs change later, they are remade like any other.
    """
    step_plan = plan(lab, step, flow)
    if step_plan.argv is None:
        problems = verify(lab, step)
        return Decision(False, "; ".join(problems) if problems else "nothing to do: " + step_plan.title)
    if force:
        return Decision(True, "forced (--force)")
    state = StepState.load(lab.workspace, step)
    problems = verify(lab, step)
    if problems:
        return Decision(True, "never run" if state.status == PENDING else f"outputs incomplete: {problems[0]}")
    now = fingerprint(step_plan, lab.workspace)
    if state.status == DONE:
        if state.fingerprint != now:
            return Decision(True, "inputs changed since the last run")
        if state.found_by_hand:
            return Decision(False, "outputs found (made earlier by hand), inputs unchanged")
        when = time.strftime("%H:%M %d %b", time.localtime(state.ended_at or 0))
        return Decision(False, f"up to date (done {when}, inputs unchanged)")
    if state.status != PENDING:
        return Decision(True, f"last run {state.status}")
    made = made_by_runner(lab, step, flow)
    if made is None:
        return Decision(False, "outputs found (made earlier by hand)")
    if made != now:
        return Decision(True, "inputs changed since these outputs were made (their state file was missing)")
    return Decision(False, "up to date (inputs unchanged; its state file was missing and is written again)")


def record_found_outputs(lab: Lab, step: str, flow=None) -> None:
    """Outputs that need no run but have no state get one: made by hand, or by the runner (from its record)."""
    state = StepState.load(lab.workspace, step)
    step_plan = plan(lab, step, flow)
    if state.status != PENDING or step_plan.argv is None or verify(lab, step):
        return
    now = fingerprint(step_plan, lab.workspace)
    made = made_by_runner(lab, step, flow)
    if made is not None and made != now:
        return
    state.status, state.found_by_hand, state.ended_at = DONE, made is None, time.time()
    state.fingerprint = now
    state.outputs = {name: lab.workspace.relative(p) for name, p in step_plan.outputs.items()}
    state.save(lab.workspace)


def status(lab: Lab) -> dict[str, StepState]:
    """Each step's state; a step recorded as running whose run is gone is reported as interrupted."""
    active = run_active(lab.workspace)
    return {step: effective(StepState.load(lab.workspace, step), active) for step in STEP_ORDER}


#: The folders of a work folder whose contents the plans and states are read from.
WATCHED = (STATE_DIR, "models", "data", "reports")


def disk_signature(lab: Lab) -> tuple:
    """A cheap fingerprint of what `lab`'s plans and states are read from: the mtime of every folder under the
    watched ones (a file written, renamed or removed changes its folder's mtime), of the dataset, the held-out set,
    the base model folder and the GPU overlays. The wizard re-plans when it changes instead of on every tick."""
    paths = [lab.dataset, lab.eval_data, lab.base_dir, envs_root()]
    for name in WATCHED:
        for folder, _, _ in os.walk(lab.workspace.root / name):
            paths.append(Path(folder))
    signature = []
    for path in paths:
        try:
            st = path.stat() if path is not None else None
        except OSError:
            st = None
        signature.append((str(path), st and st.st_mtime_ns, st and st.st_size))
    return tuple(signature)


def space_needed(lab: Lab, steps: list[str], force: bool = False) -> float:
    """Bytes the steps that will run need, from their plans' estimates (the profile's share when unknown)."""
    need = 0.0
    for step in steps:
        step_plan = plan(lab, step)
        if step_plan.argv is not None and decide(lab, step, force).run:
            gb = step_plan.expected_disk_gb
            need += (gb if gb is not None else lab.profile.disk_gb / len(RUNNABLE)) * 1e9
    return need


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
