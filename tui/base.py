"""What every step pane shares: a title line, a "why not yet" banner, and the actions the wizard's keys call.

Panes never reach into the app: they post the messages below (owned by the pane, handled by the wizard screen), and
the state that decides what their keys can do is reactive with `bindings=True`, so the footer follows by itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static

from .outcome import Outcome


class StepPane(Vertical):
    """One step's pane. The wizard screen forwards its F-keys to the pane shown through `can(action)` / `do(action)`."""

    step: str = ""
    #: action -> footer description; the footer shows the F-key only when `can(action)` is not False.
    ACTIONS: dict[str, str] = {}

    @dataclass
    class RowChanged(Message):
        """What the step list shows for this pane's step changed (a check came back, a run or upload ended)."""

        step: str

    @dataclass
    class CopyRequested(Message):
        """Put `text` on the clipboard; `title` (when given) tells the user it was done."""

        text: str
        title: str = ""

    def __init__(self, *, clock: Callable[[], float] = time.time, workdir: Path | None = None, **kwargs) -> None:
        super().__init__(id=f"pane-{self.step}", classes="step-pane", **kwargs)
        self.clock = clock  # the app's clock: a fixed one in tests
        self.workdir = workdir  # the work folder before the lab is loaded
        self.lab = None
        self.plan = None
        self.state = None

    def title_widget(self, text: str) -> Static:
        return Static(text, classes="pane-title", id=f"{self.step}-title", markup=False)

    def row_changed(self) -> None:
        self.post_message(self.RowChanged(self.step))

    # --- called by the wizard screen ---------------------------------------------------------------------------

    def set_lab(self, lab) -> None:
        self.lab = lab

    def set_plan(self, plan, state) -> None:
        """A fresh plan (or the exception that made it) and the step's state on disk."""
        self.plan = plan
        self.state = state

    def on_show_pane(self) -> None:
        """The pane became the visible one."""

    @property
    def row(self) -> Outcome | None:
        """What the step list shows for this step; None: what its plan says (pending, blocked or ready)."""
        return None

    def tick(self, now: float) -> None:
        """Once a second, for ticking elapsed times."""

    def can(self, action: str) -> bool | None:
        """True: shown and enabled; None: shown greyed; False: hidden."""
        return False

    def do(self, action: str) -> None:
        """Run one of ACTIONS."""
