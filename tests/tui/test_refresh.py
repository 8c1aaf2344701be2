"""The wizard re-plans when something on disk changed, not on every tick: an idle wizard costs nothing, and what
another terminal does still shows up at the next tick."""

from __future__ import annotations

from conftest import app_for, ready, settled, wait_for
from model_fakes import fake_model

from olive_lab.steps import pipeline, planner
from olive_lab.tui import core
from olive_lab.tui.wizard import FULL_REFRESH_TICKS


async def test_ticks_replan_only_after_a_change_on_disk(fresh_lab, tmp_path, monkeypatch):
    base = fake_model(tmp_path / "base")
    lab = pipeline.load_lab(fresh_lab, "cpu", model=str(base))
    planned = []
    real_plans = core.plans
    monkeypatch.setattr(core, "plans", lambda lab, steps: planned.append(1) or real_plans(lab, steps))
    app = app_for(fresh_lab, model=str(base), refresh_s=3600)  # ticks are called by the test, not the clock
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("quantize")
        await settled(pilot)
        before = len(planned)
        for _ in range(3):
            app.wizard._refresh_tick()
            await settled(pilot)
        assert len(planned) == before, "nothing changed on disk: the ticks must not re-plan"
        assert app.wizard.steps.row("quantize").state.note != "found"

        # another terminal's `olive-lab run` finds the quantized model made by hand and records it
        fake_model(lab.quantized_dir / "model")
        planner.plan_run(lab, ["quantize"], False)
        app.wizard._refresh_tick()
        await wait_for(pilot, lambda: app.wizard.steps.row("quantize").state.note == "found")
        assert len(planned) == before + 1


async def test_a_tick_replans_anyway_after_many_unchanged_ones(fresh_lab, tmp_path, monkeypatch):
    """A file overwritten in place leaves its folder's mtime alone: every FULL_REFRESH_TICKS the plans are redone."""
    base = fake_model(tmp_path / "base")
    planned = []
    real_plans = core.plans
    monkeypatch.setattr(core, "plans", lambda lab, steps: planned.append(1) or real_plans(lab, steps))
    app = app_for(fresh_lab, model=str(base), refresh_s=3600)
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        before = len(planned)
        for _ in range(FULL_REFRESH_TICKS + 1):
            app.wizard._refresh_tick()
            await settled(pilot)
        assert len(planned) == before + 1
