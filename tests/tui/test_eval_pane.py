"""The evaluate pane: the report of the real tiny lab as a table, loss bars and answers; F9 evaluates again."""

from __future__ import annotations

import json

import pytest

from conftest import app_for, ready, screen_text, settled, wait_for
from test_snapshots import settle, snap_app, snap_lab  # noqa: F401 - snap_lab is a fixture


def table_labels(app) -> list[str]:
    table = app.query_one("#eval-stages")
    return [str(table.get_row_at(i)[0]) for i in range(table.row_count)]


async def eval_pane_with_report(pilot, app):
    await ready(pilot, app)
    app.wizard.show_step("evaluate")
    pane = app.wizard.pane("evaluate")
    await wait_for(pilot, lambda: pane.report is not None)
    return pane


@pytest.mark.slow
async def test_the_eval_pane_shows_every_stage_of_the_lab_report(lab_copy):
    report = json.loads((lab_copy / "reports" / "eval.json").read_text())
    app = app_for(lab_copy)
    async with app.run_test(size=(100, 40)) as pilot:
        await eval_pane_with_report(pilot, app)
        assert table_labels(app) == [s["label"] for s in report["stages"]]
        assert app.query_one("#evaluate-tabs").active == "evaluate-report"
        await pilot.pause()
        text = screen_text(app)
        assert "int4 ONNX, adapter on" in text and "perplexity" in text
        bars = str(app.query_one("#eval-bars").render())
        assert "Held-out loss per stage" in bars and "█" in bars
        first = report["answers"][0]["prompt"]
        assert first in str(app.query_one("#eval-off").render()) and first in str(app.query_one("#eval-on").render())
        assert app.wizard.steps.row("evaluate").state.status == "done"


@pytest.mark.slow
async def test_f9_evaluates_again_and_the_pane_shows_the_new_report(lab_copy):
    app = app_for(lab_copy)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await eval_pane_with_report(pilot, app)
        before = pane.report_mtime
        await pilot.press("f9")  # done already: F9 is "run again"
        await wait_for(pilot, lambda: pane.run_status == "running", 30)
        await wait_for(pilot, lambda: pane.run_status in ("done", "failed"), 600)  # busy 2-core CI
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


# --- snapshot: a fixed report, so the picture only changes when the pane does ------------------------------------

FIXED_REPORT = {
    "version": 1, "created": "2027-01-15T08:00:00Z", "profile": "cpu", "model": "tiny", "device": "cpu",
    "template": "the lab's Phi-3 template",
    "heldout": {"source": "the last 30 of 299 rows of data_sample_travel.jsonl", "rows_available": 30,
                "rows_scored": 24, "answer_tokens_scored": 1670},
    "limits": {"max_rows": 24, "answer_prompts": 3, "answer_tokens": 48}, "onnx_logits": True,
    "stages": [
        {"name": "base", "label": "base model", "path": "models/tiny-phi3", "size_bytes": 2_400_000, "loss": 3.884,
         "perplexity": 48.6, "tokens": 1670, "ttft_ms": None, "tokens_per_s": None, "note": ""},
        {"name": "quantized", "label": "quantized (RTN int4)", "path": "models/phi/rtn/model",
         "size_bytes": 1_300_000, "loss": None, "perplexity": None, "tokens": 0, "ttft_ms": None,
         "tokens_per_s": None, "note": "cannot be evaluated with PyTorch on cpu here (example)"},
        {"name": "tuned", "label": "base + adapter (LoRA)", "path": "models/phi/ft/adapter", "size_bytes": 400_000,
         "loss": 3.245, "perplexity": 25.7, "tokens": 1670, "ttft_ms": None, "tokens_per_s": None, "note": ""},
        {"name": "onnx", "label": "int4 ONNX, adapter off", "path": "models/phi/onnx-ao", "size_bytes": 1_200_000,
         "loss": 3.95, "perplexity": 51.9, "tokens": 1670, "ttft_ms": 41.0, "tokens_per_s": 59.2, "note": ""},
        {"name": "onnx_adapter", "label": "int4 ONNX, adapter on", "path": "models/phi/onnx-ao/a",
         "size_bytes": 86_000, "loss": 3.31, "perplexity": 27.4, "tokens": 1670, "ttft_ms": 80.0,
         "tokens_per_s": 27.5, "note": ""},
    ],
    "answers": [{"prompt": "What should I see in Kyoto?", "reference": "Fushimi Inari at dawn.",
                 "adapter_off": "Kyoto is a city steeped in tradition.",
                 "adapter_on": "Visit the Kiyomizu-dera temple, then walk the Philosopher's Path."}],
    "notes": [], "seconds": {"total_s": 41.0},
}


def test_eval_pane_snapshot(snap_lab, snap_compare):
    (snap_lab / "reports").mkdir()
    (snap_lab / "reports" / "eval.json").write_text(json.dumps(FIXED_REPORT))

    async def run_before(pilot):
        app = pilot.app
        await settle(pilot, app)
        app.wizard.show_step("evaluate")
        await wait_for(pilot, lambda: app.wizard.pane("evaluate").report is not None)
        await settled(pilot)

    assert snap_compare(snap_app(snap_lab), terminal_size=(100, 40), run_before=run_before)
