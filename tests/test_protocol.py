"""The step protocol: every step in the order has a plan and a verify, the in-process ones included."""

import pytest

from olive_lab.steps import pipeline
from olive_lab.steps.lab import Lab
from olive_lab.steps.profiles import PROFILES
from olive_lab.steps.protocol import REGISTRY, RUNNABLE, STEP_ORDER, registered


def test_every_step_in_the_order_is_registered_in_order():
    assert tuple(REGISTRY) == STEP_ORDER and set(RUNNABLE) <= set(STEP_ORDER)
    with pytest.raises(KeyError, match="unknown step 'qantize'"):
        registered("qantize")


@pytest.mark.parametrize("step", STEP_ORDER)
def test_each_step_plans_and_verifies_in_an_empty_work_folder(tmp_path, step):
    lab = Lab.create(tmp_path, PROFILES["cpu"], model="tiny")
    step_plan = pipeline.plan(lab, step)
    assert step_plan.step == step and step_plan.title
    assert (step_plan.argv is not None) == (step in RUNNABLE)
    problems = pipeline.verify(lab, step)
    assert isinstance(problems, list) and all(isinstance(p, str) and p for p in problems)
    if step in ("data", "upload", *RUNNABLE):
        assert problems, f"nothing of {step} is there yet, yet its verify finds nothing missing"


def test_the_in_process_steps_leave_the_step_list_ready(tmp_path):
    """The wizard shows check, data and upload "ready": their plans never block (their panes say what they need)."""
    lab = Lab.create(tmp_path, PROFILES["cpu"], model="tiny")
    assert [pipeline.plan(lab, s).blocked for s in ("check", "data", "upload")] == ["", "", ""]


def test_the_gpu_plans_take_the_flow_they_are_given(tmp_path):
    from olive_lab.steps.flows import FALLBACK, FAITHFUL, Flow

    lab = Lab.create(tmp_path, PROFILES["gpu"], model="tiny")
    faithful, fallback = Flow(FAITHFUL, "given", True), Flow(FALLBACK, "given", False)
    assert pipeline.plan(lab, "optimize", faithful).settings["flow"] == FAITHFUL
    assert pipeline.plan(lab, "optimize", fallback).settings["flow"] == FALLBACK
    assert "olive_lab.steps.awq" in pipeline.plan(lab, "quantize", faithful).argv
    assert "rtn" in pipeline.plan(lab, "quantize", fallback).argv
