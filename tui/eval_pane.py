"""The evaluate step's pane: a run pane (About, Run: F9 runs it, F8 cancels) plus a Report tab.

The report (reports/eval.json, written by steps/evaluate.py) shows as a table per stage (loss, change against
the base, perplexity, size, time to first token, tokens/s with the adapter off and on), bars of the held-out loss
per stage, and the base and tuned answers side by side. A thread worker reads the file when it changes; the UI
thread only draws what the `ReportLoaded` message brings.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static, TabPane

from . import core
from .run_pane import RunPane

BAR_WIDTH = 28


class EvalPane(RunPane):
    @dataclass
    class ReportLoaded(Message):
        """The report on disk changed (or was read the first time); `report` is None when it is gone."""

        report: dict | None
        mtime: float | None

    def __init__(self, step: str = "evaluate", **kwargs) -> None:
        super().__init__(step, **kwargs)
        self.report: dict | None = None
        self.report_mtime: float | None = None
        self._reading = False

    def extra_tabs(self):
        with TabPane("Report", id="evaluate-report"):
            with VerticalScroll(classes="eval-report"):
                yield Static("No report yet: F9 runs the evaluation (after the earlier steps).",
                             id="eval-summary", markup=False)
                yield DataTable(id="eval-stages", show_cursor=False, zebra_stripes=True)
                yield Static("", id="eval-bars", markup=False)
                yield Static("", id="eval-notes", markup=False)
                with Horizontal(id="eval-answers"):
                    yield Static("", id="eval-off", classes="eval-answer", markup=False)
                    yield Static("", id="eval-on", classes="eval-answer", markup=False)

    def on_mount(self) -> None:
        super().on_mount()
        from olive_lab.steps.evaluate import STAGE_COLUMNS

        self.query_one("#eval-stages", DataTable).add_columns(*STAGE_COLUMNS)

    # --- the report on disk -------------------------------------------------------------------------------------

    def set_plan(self, plan, state) -> None:
        super().set_plan(plan, state)
        if self.lab is not None and not self._reading:
            self._reading = True
            self._read_report(self.lab, self.report_mtime)

    def _end(self, end, note: str) -> None:
        super()._end(end, note)
        if self.lab is not None:
            self._read_report(self.lab, None)

    @work(thread=True, exclusive=True, group="eval-report", exit_on_error=False)
    def _read_report(self, lab, known_mtime: float | None) -> None:
        try:
            evaluate = core.module("evaluate")
            mtime = evaluate.report_paths(lab)[0].stat().st_mtime
        except (core.Missing, OSError):
            mtime = None
        if mtime is not None and mtime == known_mtime:
            self.post_message(self.ReportLoaded(self.report, mtime))
            return
        self.post_message(self.ReportLoaded(evaluate.load_report(lab) if mtime else None, mtime))

    @on(ReportLoaded)
    def _report_loaded(self, message: ReportLoaded) -> None:
        self._reading = False
        if message.mtime == self.report_mtime and message.report is self.report:
            return
        first = self.report is None
        self.report, self.report_mtime = message.report, message.mtime
        if message.report is not None:
            self.show_report(message.report)
            if first or self.run_status == "done":
                self.show_tab("report")

    # --- drawing ------------------------------------------------------------------------------------------------

    def show_report(self, report: dict) -> None:
        from olive_lab.steps.evaluate import COLUMNS_LEGEND, stage_cells

        held = report["heldout"]
        summary = Text()
        summary.append(f"{held['rows_scored']} held-out rows", style="bold")
        summary.append(f" ({held['answer_tokens_scored']} answer tokens) · {report['seconds']['total_s']:.0f} s · "
                       f"{report['created']}\n")
        summary.append(f"Held-out set: {held['source']}.\n{COLUMNS_LEGEND}.", style="dim")
        self.query_one("#eval-summary", Static).update(summary)
        table = self.query_one("#eval-stages", DataTable)
        table.clear()
        for stage in report["stages"]:
            table.add_row(*stage_cells(report, stage), key=stage["name"])
        self.query_one("#eval-bars", Static).update(loss_bars(report["stages"]))
        notes = [f"{s['label']}: {s['note']}" for s in report["stages"] if s.get("note")] + report.get("notes", [])
        self.query_one("#eval-notes", Static).update(Text("\n".join(notes), style="dim"))
        self.query_one("#eval-off", Static).update(answers_text(report["answers"], "adapter_off", "adapter off"))
        self.query_one("#eval-on", Static).update(answers_text(report["answers"], "adapter_on", "adapter on"))


def loss_bars(stages: list[dict], width: int = BAR_WIDTH) -> Text:
    """Held-out loss per stage as horizontal bars, longest for the highest loss (a stage not scored says why)."""
    scored = [s["loss"] for s in stages if s.get("loss") is not None]
    top = max(scored, default=0.0) or 1.0
    label_width = max((len(s["label"]) for s in stages), default=0)
    text = Text("Held-out loss per stage\n", style="bold")
    for stage in stages:
        text.append(stage["label"].ljust(label_width) + " ")
        if stage.get("loss") is None:
            text.append("not scored\n", style="dim")
            continue
        cells = max(1, round(width * stage["loss"] / top))
        style = "green" if stage["name"] in ("tuned", "onnx_adapter") else "cyan"
        text.append("█" * cells, style=style)
        text.append(f" {stage['loss']:.3f}\n")
    return text


def answers_text(answers: list[dict], key: str, title: str) -> Text:
    from olive_lab.steps.evaluate import one_line

    text = Text(title + "\n", style="bold")
    for answer in answers:
        text.append(answer["prompt"] + "\n", style="italic")
        text.append(one_line(answer.get(key), 300) + "\n\n")
    return text
