"""The one run planner: which steps a run asks for, which of them must run, which are skipped and why, what stops
the first one, and which outputs were found made by hand.

The CLI (`olive-lab run`), the wizard (F9 on a step, "run all") and the supervisor (before each step of a run) all
ask here, so the faces cannot decide differently. Outputs found on disk that no state records are recorded here
as done (made by hand, or by the runner when its record says so), once, the same way for every face. The GPU flow
(a fact about this machine) is resolved once per run and every plan of that run uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from . import pipeline
from .lab import Lab
from .protocol import RUNNABLE
from .runstate import StepState


class UnknownStep(ValueError):
    """A step name that is not one of the runnable steps; str() names the ones there are."""


def select_steps(*, only: str | None = None, from_step: str | None = None, upto: str | None = None) -> list[str]:
    """The runnable steps a run asks for: `only` one, `from_step` on, up to and including `upto`, or all."""
    chosen = only or from_step or upto
    if chosen is None:
        return list(RUNNABLE)
    if chosen not in RUNNABLE:
        raise UnknownStep(f"unknown step {chosen!r}: choose one of {', '.join(RUNNABLE)}")
    index = RUNNABLE.index(chosen)
    if only:
        return [chosen]
    return list(RUNNABLE[index:]) if from_step else list(RUNNABLE[:index + 1])


@dataclass(frozen=True)
class StepDecision:
    """Whether one step runs now, and why, in words a user reads."""

    step: str
    run: bool
    reason: str
    #: what stops the step: nothing to run and its outputs incomplete, a blocked plan, or missing inputs
    blocked: str = ""
    #: its outputs were found on disk, made by hand (recorded as done)
    found_by_hand: bool = False


def decide_step(lab: Lab, step: str, force: bool = False, flow=None) -> StepDecision:
    """Decide one step; a step that needs no run has its found outputs recorded as done.

    The supervisor calls this before each step of a run (the earlier steps of the run may have changed its inputs);
    `plan_run` calls it for the steps up to the first that must run.
    """
    decision = pipeline.decide(lab, step, force, flow)
    if decision.run:
        return StepDecision(step, True, decision.reason)
    problems = pipeline.verify(lab, step)
    if problems:  # nothing to run and nothing there (e.g. a --model folder that is not a model)
        return StepDecision(step, False, decision.reason, blocked="; ".join(problems))
    pipeline.record_found_outputs(lab, step, flow)
    return StepDecision(step, False, decision.reason,
                        found_by_hand=StepState.load(lab.workspace, step).found_by_hand)


def first_step_blocked(lab: Lab, step: str, flow=None) -> str:
    """What stops a step that must run from starting: its plan says it cannot, or its inputs are not there."""
    step_plan = pipeline.plan(lab, step, flow)
    if step_plan.blocked:
        return step_plan.blocked
    return "; ".join(pipeline.missing_text(p) for p in pipeline.missing_inputs(step_plan))


@dataclass(frozen=True)
class RunRequest:
    """What a run of the asked steps does now.

    `steps` go to the runner: from the first step that must run to the last one asked for (the later ones are
    decided again, by the supervisor, once the earlier ones have run). Empty when nothing needs to run, or when the
    first step is blocked.
    """

    asked: tuple[str, ...]
    steps: tuple[str, ...] = ()
    #: the steps before the first that runs: why each needs no run
    skipped: dict[str, str] = field(default_factory=dict)
    #: the step that cannot run or be skipped: what stops it
    blocked: dict[str, str] = field(default_factory=dict)
    #: skipped steps whose outputs were made by hand (recorded as done by this planning)
    found_by_hand: tuple[str, ...] = ()
    #: why the first of `steps` runs
    reason: str = ""


def plan_run(lab: Lab, asked: Sequence[str], force: bool = False, flow=None) -> RunRequest:
    """Plan a run of `asked` (see `select_steps`), with `force` rerunning them even when up to date."""
    if flow is None:
        flow = pipeline.machine_flow(lab)
    skipped: dict[str, str] = {}
    found: list[str] = []
    for i, step in enumerate(asked):
        decision = decide_step(lab, step, force, flow)
        blocked = decision.blocked or (first_step_blocked(lab, step, flow) if decision.run else "")
        if blocked:
            return RunRequest(tuple(asked), (), skipped, {step: blocked}, tuple(found), decision.reason)
        if decision.run:
            return RunRequest(tuple(asked), tuple(asked[i:]), skipped, {}, tuple(found), decision.reason)
        skipped[step] = decision.reason
        if decision.found_by_hand:
            found.append(step)
    return RunRequest(tuple(asked), (), skipped, {}, tuple(found))
