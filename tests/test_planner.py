"""The run planner (steps/planner.py) every face asks: which steps run, which are skipped, what blocks the first.

Fast: the model folders here are made of the files the steps' verifies look for (no Olive runs); the real runs
that go through the planner are the CLI and wizard tests.
"""

from __future__ import annotations

import pytest
from model_fakes import fake_model

from olive_lab.steps import pipeline
from olive_lab.steps.planner import UnknownStep, plan_run, select_steps
from olive_lab.steps.protocol import RUNNABLE
from olive_lab.steps.workspace import DONE, StepState


@pytest.fixture
def lab(tmp_path):
    """A cpu lab on a local base model folder: the model step has nothing to run."""
    return pipeline.load_lab(tmp_path / "w", "cpu", model=str(fake_model(tmp_path / "base")))


def test_select_steps_only_from_upto_and_all():
    assert select_steps() == list(RUNNABLE)
    assert select_steps(only="finetune") == ["finetune"]
    assert select_steps(from_step="finetune") == ["finetune", "optimize", "evaluate"]
    assert select_steps(upto="quantize") == ["model", "quantize"]
    with pytest.raises(UnknownStep, match="unknown step 'bake': choose one of model, quantize"):
        select_steps(only="bake")


def test_a_fresh_folder_runs_from_the_first_step(tmp_path):
    lab = pipeline.load_lab(tmp_path, "cpu", model="tiny")
    request = plan_run(lab, select_steps())
    assert request.steps == RUNNABLE and request.reason == "never run"
    assert (request.skipped, request.blocked, request.found_by_hand) == ({}, {}, ())


def test_a_step_whose_inputs_are_missing_is_blocked_before_anything_starts(tmp_path):
    lab = pipeline.load_lab(tmp_path, "cpu", model="tiny")
    request = plan_run(lab, select_steps(only="quantize"))
    assert request.steps == () and list(request.blocked) == ["quantize"]
    assert f"{lab.base_dir} is missing: run the step that makes it first" in request.blocked["quantize"]


def test_outputs_found_by_hand_are_skipped_and_recorded_once(lab):
    fake_model(lab.quantized_dir / "model")
    request = plan_run(lab, select_steps(upto="finetune"))
    assert request.skipped == {"model": "nothing to do: Use the local base model",
                               "quantize": "outputs found (made earlier by hand)"}
    assert request.found_by_hand == ("quantize",) and request.steps == ("finetune",)
    state = StepState.load(lab.workspace, "quantize")
    assert state.status == DONE and state.found_by_hand
    again = plan_run(lab, select_steps(upto="finetune"))
    assert again.skipped["quantize"] == "outputs found (made earlier by hand), inputs unchanged"


def test_force_runs_the_step_asked_for_even_when_up_to_date(lab):
    fake_model(lab.quantized_dir / "model")
    plan_run(lab, ["quantize"])  # recorded as found
    request = plan_run(lab, select_steps(only="quantize"), force=True)
    assert request.steps == ("quantize",) and request.reason == "forced (--force)" and not request.skipped


def test_from_runs_the_later_steps_and_leaves_the_earlier_ones_alone(lab):
    request = plan_run(lab, select_steps(from_step="finetune"))
    assert request.asked == ("finetune", "optimize", "evaluate")
    assert request.steps == request.asked and request.reason == "never run" and not request.skipped
    assert StepState.load(lab.workspace, "model").status == "pending"  # not asked: neither decided nor recorded


def test_a_step_with_nothing_to_run_and_nothing_there_is_blocked(tmp_path):
    base = fake_model(tmp_path / "base")
    lab = pipeline.load_lab(tmp_path / "w", "cpu", model=str(base))
    (base / "config.json").unlink()  # the folder stopped being a model after it was chosen
    request = plan_run(lab, select_steps())
    assert request.steps == () and "config.json is missing" in request.blocked["model"]
