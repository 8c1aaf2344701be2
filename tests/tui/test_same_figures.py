"""The CLI and the wizard show the same figures for the same run: a finished step's time and an output's size."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys

from conftest import FIXED_NOW, app_for, ready, screen_text, wait_for
from test_eval_pane import FIXED_REPORT

from olive_lab.steps import pipeline
from olive_lab.steps.units import fmt_bytes, fmt_duration
from olive_lab.steps.workspace import DONE, StepState

TOOK_S = 83.0  # shown as 1:23 by both
OUTPUT_BYTES = 2_400_000  # shown as 2.4 MB by both


def finished_quantize(workdir) -> None:
    """A quantize step that finished in TOOK_S, its output OUTPUT_BYTES, and an evaluate report naming that size."""
    lab = pipeline.load_lab(workdir, "cpu", model="tiny")
    out = lab.quantized_dir / "model"
    out.mkdir(parents=True)
    (out / "model.safetensors").write_bytes(b"\0" * OUTPUT_BYTES)
    state = StepState("quantize", status=DONE, started_at=FIXED_NOW - 600, ended_at=FIXED_NOW - 600 + TOOK_S)
    state.outputs = {"model": lab.workspace.relative(out)}
    state.save(lab.workspace)
    report = copy.deepcopy(FIXED_REPORT)
    report["stages"] = [{**s, "path": state.outputs["model"], "size_bytes": OUTPUT_BYTES}
                        for s in report["stages"] if s["name"] == "quantized"]
    (lab.workspace.root / "reports").mkdir()
    (lab.workspace.root / "reports" / "eval.json").write_text(json.dumps(report))


def cli_status_row(workdir, step: str) -> str:
    shown = subprocess.run([sys.executable, "-m", "olive_lab", "status", "--workdir", str(workdir)],
                           capture_output=True, text=True, timeout=120, env={**os.environ, "COLUMNS": "160"})
    rows = [line for line in shown.stdout.splitlines() if f" {step} " in line]
    assert rows, shown.stdout + shown.stderr
    return rows[0]


async def test_status_and_the_wizard_show_one_time_and_one_size(fresh_lab):
    finished_quantize(fresh_lab)
    time_text, size_text = fmt_duration(TOOK_S), fmt_bytes(OUTPUT_BYTES)
    assert (time_text, size_text) == ("1:23", "2.4 MB")
    cli = cli_status_row(fresh_lab, "quantize")
    assert time_text in cli and size_text in cli, cli

    app = app_for(fresh_lab, model="tiny")
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot, app)
        row = next(line for line in screen_text(app).splitlines() if "✓ quantize" in line)
        assert time_text in row, row
        app.wizard.show_step("evaluate")
        await wait_for(pilot, lambda: app.wizard.pane("evaluate").report is not None)
        table = app.query_one("#eval-stages")
        assert str(table.get_row_at(0)[4]) == size_text
