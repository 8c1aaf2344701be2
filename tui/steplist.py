"""The always-visible list of steps, one row each: symbol, name, and elapsed time or duration."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import ListItem, ListView, Static

from olive_lab.steps.protocol import STEP_ORDER as STEPS
from olive_lab.steps.units import fmt_duration

from .outcome import Outcome
from .util import LABELS, SYMBOLS

ROW_WIDTH = 20


def row_text(step: str, state: Outcome, now: float) -> Text:
    symbol = SYMBOLS.get(state.status, "·")
    if state.status == "running" and state.started_at is not None:
        right = fmt_duration(now - state.started_at)
    elif state.status in ("done", "failed", "cancelled") and state.duration_s is not None:
        right = fmt_duration(state.duration_s)
    elif state.status == "skipped":
        right = "skip"
    else:
        right = state.note
    name = LABELS.get(step, step)
    width = ROW_WIDTH - 2
    pad = max(1, width - len(name) - len(right))
    return Text(f"{symbol} {name}{' ' * pad}{right}", no_wrap=True, overflow="ellipsis")


class StepRow(ListItem):
    def __init__(self, step: str) -> None:
        super().__init__(id=f"row-{step}", classes="step-row -pending")
        self.step = step
        self.state = Outcome()
        self._label = Static(row_text(step, self.state, 0.0), classes="step-label")

    def compose(self):
        yield self._label

    def show(self, state: Outcome, now: float) -> None:
        if state.status != self.state.status:
            self.remove_class(f"-{self.state.status}")
            self.add_class(f"-{state.status}")
        self.state = state
        text = row_text(self.step, state, now)
        if text.plain != getattr(self, "_shown", None):  # most ticks change nothing: skip the re-layout
            self._shown = text.plain
            self._label.update(text)


class StepList(ListView):
    """Arrows move between steps (the pane follows); Enter moves the focus into the step's pane."""

    def __init__(self, steps=STEPS, **kwargs) -> None:
        super().__init__(*(StepRow(s) for s in steps), **kwargs)
        self.steps = tuple(steps)

    def row(self, step: str) -> StepRow:
        return self.query_one(f"#row-{step}", StepRow)

    def select_step(self, step: str) -> None:
        if step in self.steps:
            self.index = self.steps.index(step)

    @property
    def current_step(self) -> str | None:
        if self.index is None:
            return None
        return self.steps[self.index]
