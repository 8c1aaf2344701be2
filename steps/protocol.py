"""The step protocol: the lab's steps in order, each registered with a plan and a verify.

A plan is the pure description of a step (`lab.StepPlan`): an argv for the steps the runner starts as detached
subprocesses, none for the steps that run inside the front end. A verify lists what is wrong with the step's outputs
on disk ([] when they are there and complete). The plans of the GPU profile's quantize, finetune and optimize steps
depend on the GPU flow (`flows.gpu_flow`, a fact about this machine): they take it as an argument, resolved once by
whoever plans a run (`pipeline.plan` resolves it when it is not given).

Modules are imported when a step is planned, so this registry stays light and the front ends start fast.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Callable

STEP_ORDER = ("check", "data", "model", "quantize", "finetune", "optimize", "evaluate", "chat", "upload")
#: Steps that run as detached subprocesses through the runner; the others run inside the front end.
RUNNABLE = ("model", "quantize", "finetune", "optimize", "evaluate")


@dataclass(frozen=True)
class Registered:
    """Where a step's plan and verify live: `olive_lab.steps.<module>.<plan>(lab[, flow])` and `.<verify>(lab)`."""

    module: str
    plan: str = "plan"
    verify: str = "verify"
    #: the plan takes the GPU flow (a `flows.Flow`) as its second argument on the gpu profile
    takes_flow: bool = False

    def _function(self, name: str) -> Callable:
        return getattr(importlib.import_module(f"olive_lab.steps.{self.module}"), name)

    def planner(self) -> Callable:
        return self._function(self.plan)

    def verifier(self) -> Callable:
        return self._function(self.verify)


REGISTRY: dict[str, Registered] = {
    "check": Registered("inprocess", "plan_check", "verify_check"),
    "data": Registered("inprocess", "plan_data", "verify_data"),
    "model": Registered("model"),
    "quantize": Registered("quantize", takes_flow=True),
    "finetune": Registered("finetune", takes_flow=True),
    "optimize": Registered("optimize", takes_flow=True),
    "evaluate": Registered("evaluate"),
    "chat": Registered("chat"),
    "upload": Registered("inprocess", "plan_upload", "verify_upload"),
}


def registered(step: str) -> Registered:
    """The step's registration; KeyError names the steps there are."""
    try:
        return REGISTRY[step]
    except KeyError:
        raise KeyError(f"unknown step {step!r}: the steps are {', '.join(STEP_ORDER)}") from None
