"""The dataset: statistics, a paged list of samples, problems by line, and the text template on the chosen sample."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.containers import VerticalScroll
from textual.message import Message
from textual.reactive import var
from textual.widgets import DataTable, Static

from . import core
from .base import StepPane
from .outcome import Outcome
from olive_lab.steps.data import training_problems
from olive_lab.steps.safe_text import clip, visible

from olive_lab.steps.units import fmt_bytes

from .util import rel

#: The most of one sample the template box shows (a 5 MB row would stall the screen).
SHOWN_CHARS = 5000

PAGE_SIZE = 50


def stats_text(report) -> Text:
    """The data step's summary line, then the figures a learner looks at (counts, lengths, tokens)."""
    text = Text()
    summary = getattr(report, "summary", None)
    if callable(summary):
        text.append(summary())
    s = getattr(report, "stats", None)
    if s is None:
        return text
    parts = []
    for label, name in (("rows", "rows"), ("distinct prompts", "distinct_prompts"),
                        ("duplicate prompts", "duplicate_prompts"), ("non-ASCII rows", "non_ascii_rows"),
                        ("blank lines", "blank_lines")):
        value = getattr(s, name, None)
        if value:
            parts.append(f"{value} {label}")
    for label, name in (("prompt words", "prompt_words"), ("response words", "response_words"),
                        ("tokens per sample", "sample_tokens")):
        value = getattr(s, name, None)
        if value is not None and getattr(value, "max", 0):
            parts.append(f"{label} {value} (min/median/max)")
    size = getattr(s, "size_bytes", 0)
    if size:
        parts.append(fmt_bytes(size))
    if parts:
        text.append("\n" + " · ".join(parts), style="dim")
    return text


class DataPane(StepPane):
    step = "data"
    ACTIONS = {"reread": "re-read"}

    @dataclass
    class Inspected(Message):
        """`split` is the written train / held-out split (None when the data has errors); `split_error` why not."""

        report: object  # steps.data.DataReport
        template: str
        source: str = ""
        split: object = None
        split_error: str = ""

    @dataclass
    class InspectFailed(Message):
        error: str

    #: What F9 and [ ] can do follows these: the footer refreshes by itself when one changes.
    report = var(None, bindings=True, always_update=True)
    reading = var(False, bindings=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.template = ""
        self.template_source = ""
        self.page_index = 0
        self._rows_on_page: list = []

    def compose(self):
        yield self.title_widget("Dataset")
        yield Static("Reading the dataset…", id="data-stats", markup=False)
        yield Static("", id="data-split", markup=False)
        table = DataTable(id="samples", cursor_type="row")
        table.add_column("line", key="line", width=5)
        table.add_column("prompt", key="prompt", width=40)
        yield table
        yield Static("", id="data-page", markup=False)
        with VerticalScroll(id="template-box"):
            yield Static("", id="template", markup=False)
        yield Static("✓ no problems found", id="data-no-problems", markup=False)
        problems = DataTable(id="problems", cursor_type="row")
        problems.add_column("line", key="line", width=5)
        problems.add_column("", key="sev", width=7)
        problems.add_column("problem", key="message", width=40)
        yield problems

    def on_mount(self) -> None:
        self.query_one("#problems").display = False
        self.query_one("#data-no-problems").display = False

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        """The text columns take the rest of the width (cut with …), so no table scrolls sideways."""
        for table_id, key, used in (("#samples", "prompt", 5), ("#problems", "message", 12)):
            table = self.query_one(table_id, DataTable)
            width = max(10, self.size.width - used - 2 * 2 - 2)
            for col in table.columns.values():
                if col.key.value == key and col.width != width:
                    col.width = width
                    col.auto_width = False
                    table.refresh()

    def set_lab(self, lab) -> None:
        super().set_lab(lab)
        self.query_one("#data-title", Static).update(f"Dataset: {rel(lab.dataset, lab.workspace.root)}")
        self.inspect()

    # --- reading ------------------------------------------------------------------------------------------------

    def can(self, action: str):
        if action == "reread":
            return None if (self.reading or self.lab is None) else True
        if action in ("page_prev", "page_next"):
            return self.report is not None
        return False

    def do(self, action: str) -> None:
        if action == "reread":
            self.inspect()
        elif action == "page_prev":
            self.show_page(self.page_index - 1)
        elif action == "page_next":
            self.show_page(self.page_index + 1)

    def inspect(self) -> None:
        if self.lab is None:
            return
        self.reading = True
        self._inspect(self.lab)

    @work(thread=True, exclusive=True, group="data", exit_on_error=False)
    def _inspect(self, lab) -> None:
        try:
            template, source = core.text_template(lab), core.template_source(lab)
            report = core.inspect_dataset(lab.dataset, template)
        except Exception as exc:  # noqa: BLE001 - shown on screen
            self.post_message(self.InspectFailed(f"{type(exc).__name__}: {exc}"))
            return
        split, split_error = None, ""
        if report.ok:
            try:
                split = core.write_split(lab, report)
            except Exception as exc:  # noqa: BLE001 - a bad --eval-data file, shown on screen
                split_error = str(exc)
        self.post_message(self.Inspected(report, template, source, split, split_error))

    @on(InspectFailed)
    def _failed(self, message: InspectFailed) -> None:
        self.reading = False
        self.query_one("#data-stats", Static).update(Text(f"✗ Could not read the dataset: {message.error}",
                                                          style="bold red"))

    @on(Inspected)
    def _inspected(self, message: Inspected) -> None:
        self.reading = False
        self.report = message.report
        self.template = message.template
        self.template_source = message.source
        report = self.report
        head = Text()
        blocking = training_problems(report) if report.ok else []
        if blocking:
            head.append(f"✗ fine-tuning refuses it: {visible(blocking[0])}", style="bold red")
        elif report.ok:
            head.append("✓ usable for fine-tuning", style="green")
        else:
            head.append("✗ not usable as it is", style="bold red")
        head.append(" · ")
        head.append_text(stats_text(report))
        split = Text()
        if message.split is not None:
            split.append(f"Split: {message.split.describe()}")
        elif message.split_error:
            split.append(f"✗ {message.split_error}", style="bold red")
        self.query_one("#data-split", Static).update(split)
        self.query_one("#data-stats", Static).update(head)
        problems = self.query_one("#problems", DataTable)
        problems.clear()
        for i, p in enumerate(report.problems):
            style = {"error": "bold red", "blocking": "bold red", "warning": "yellow"}.get(p.severity, "")
            problems.add_row(str(p.line) if p.line else "–", Text(p.severity, style=style),
                             Text(visible(p.detail), no_wrap=True, overflow="ellipsis"), key=str(i))
        problems.border_title = f"problems by line ({len(report.problems)})"
        problems.display = bool(report.problems)
        self.query_one("#data-no-problems").display = not report.problems
        self.show_page(0)
        self.row_changed()

    # --- paging -------------------------------------------------------------------------------------------------

    @property
    def page_count(self) -> int:
        if self.report is None:
            return 0
        return max(1, -(-len(self.report.rows) // PAGE_SIZE))

    def action_page(self, delta: int) -> None:
        self.show_page(self.page_index + delta)

    def show_page(self, index: int) -> None:
        if self.report is None:
            return
        index = max(0, min(index, self.page_count - 1))
        self.page_index = index
        rows = self._page_rows(index)
        self._rows_on_page = rows
        table = self.query_one("#samples", DataTable)
        table.clear()
        for row in rows:
            table.add_row(str(row.line), Text(visible(clip(row.prompt, 500)), no_wrap=True, overflow="ellipsis"),
                          key=str(row.line))
        total = len(self.report.rows)
        first = index * PAGE_SIZE + 1 if total else 0
        last = min(total, (index + 1) * PAGE_SIZE)
        self.query_one("#data-page", Static).update(
            Text(f"samples {first}–{last} of {total} · page {index + 1}/{self.page_count} · [ ] change page",
                 style="dim"))
        if rows:
            self._show_sample(rows[0])

    def _page_rows(self, index: int) -> list:
        try:
            return list(core.module("data").page(self.report, index, PAGE_SIZE))
        except (core.Missing, AttributeError, TypeError):
            return list(self.report.rows[index * PAGE_SIZE:(index + 1) * PAGE_SIZE])

    @on(DataTable.RowHighlighted, "#samples")
    def _sample(self, event: DataTable.RowHighlighted) -> None:
        if event.cursor_row < len(self._rows_on_page):
            self._show_sample(self._rows_on_page[event.cursor_row])

    @on(DataTable.RowSelected, "#problems")
    def _problem(self, event: DataTable.RowSelected) -> None:
        """Selecting a problem jumps to its sample when that line is a sample."""
        if self.report is None:
            return
        problem = self.report.problems[int(event.row_key.value)]
        for i, row in enumerate(self.report.rows):
            if row.line == problem.line:
                self.show_page(i // PAGE_SIZE)
                self.query_one("#samples", DataTable).move_cursor(row=i % PAGE_SIZE)
                return

    def _show_sample(self, row) -> None:
        try:
            rendered = core.render_template(self.template, row)
        except Exception as exc:  # noqa: BLE001
            rendered = f"(the template does not render on this sample: {exc})"
        box = self.query_one("#template-box", VerticalScroll)
        box.border_title = f"line {row.line} in the training template"
        box.border_subtitle = self.template_source
        self.query_one("#template", Static).update(Text(visible(clip(rendered, SHOWN_CHARS))))

    @property
    def row(self) -> Outcome:
        if self.report is None:
            return Outcome("running" if self.reading else "pending")
        if not self.report.ok:
            return Outcome("failed")
        warnings = [p for p in self.report.problems if p.severity == "warning"]
        return Outcome("warning", note="warn") if warnings else Outcome("done", note="ok")
