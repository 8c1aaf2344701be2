"""The wizard asks the run planner too: outputs made by hand are recorded as done, as `olive-lab run` records them."""

from __future__ import annotations

from conftest import app_for, ready, wait_for
from model_fakes import fake_model

from olive_lab.steps import pipeline
from olive_lab.steps.workspace import StepState


async def test_f9_on_a_step_made_by_hand_records_it_as_found_without_running(fresh_lab, tmp_path):
    base = fake_model(tmp_path / "base")
    lab = pipeline.load_lab(fresh_lab, "cpu", model=str(base))
    fake_model(lab.quantized_dir / "model")
    app = app_for(fresh_lab, model=str(base))
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("quantize")
        pane = app.wizard.pane("quantize")
        await wait_for(pilot, lambda: pane.can("run") is True)
        await pilot.press("f9")
        await wait_for(pilot, lambda: app.wizard.steps.row("quantize").state.note == "found")
        assert app.wizard.follower.handle is None, "nothing needed to run"
        assert StepState.load(lab.workspace, "quantize").found_by_hand
