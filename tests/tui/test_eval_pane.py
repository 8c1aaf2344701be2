"""The evaluate pane: the report of the real tiny lab as a table, loss bars and answers; F9 evaluates again."""

from __future__ import annotations

import json

import pytest

from conftest import app_for, ready, screen_text, wait_for


def table_labels(app) -> list[str]:
    table = app.query_one("#eval-stages")
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


@pytest.mark.slow
async def test_the_eval_pane_shows_every_stage_of_the_lab_report(lab_copy):
    report = json.loads((lab_copy / "reports" / "eval.json").read_text())
    app = app_for(lab_copy)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        app.show_step("evaluate")
        pane = app.pane("evaluate")
        await wait_for(pilot, lambda: pane.report is not None)
        assert table_labels(app) == [s["label"] for s in report["stages"]]
        assert app.query_one("#evaluate-tabs").active == "evaluate-report"
        await pilot.pause()
        text = screen_text(app)
        assert "int4 ONNX, adapter on" in text and "perplexity" in text
        bars = str(app.query_one("#eval-bars").render())
        assert "Held-out loss per stage" in bars and "█" in bars
        first = report["answers"][0]["prompt"]
        assert first in str(app.query_one("#eval-off").render()) and first in str(app.query_one("#eval-on").render())
        assert app.steps.row("evaluate").state.status == "done"


@pytest.mark.slow
async def test_f9_evaluates_again_and_the_pane_shows_the_new_report(lab_copy):
    app = app_for(lab_copy)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        app.show_step("evaluate")
        pane = app.pane("evaluate")
        await wait_for(pilot, lambda: pane.report is not None)
        before = pane.report_mtime
        await pilot.press("f9")  # done already: F9 is "run again"
        await wait_for(pilot, lambda: pane.run_status == "running", 30)
        await wait_for(pilot, lambda: pane.run_status in ("done", "failed"), 240)
        assert pane.run_status == "done", screen_text(app)
        await wait_for(pilot, lambda: pane.report_mtime != before, 30)
        assert len(table_labels(app)) == len(pane.report["stages"]) == 5
        assert app.query_one("#evaluate-tabs").active == "evaluate-report"


def test_loss_bars_scale_to_the_highest_loss_and_name_what_was_not_scored():
    from olive_lab.tui.eval_pane import loss_bars

    text = loss_bars([{"name": "base", "label": "base", "loss": 4.0}, {"name": "tuned", "label": "tuned", "loss": 2.0},
                      {"name": "quantized", "label": "quant", "loss": None}], width=20).plain
    lines = text.splitlines()
    assert lines[1].count("█") == 20 and lines[2].count("█") == 10
    assert lines[3].startswith("quant") and "not scored" in lines[3]
