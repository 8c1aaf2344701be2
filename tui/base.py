"""What every step pane shares: a title line, a "why not yet" banner, and the actions the app's keys call."""

from __future__ import annotations

from textual.containers import Vertical
from textual.widgets import Static


class StepPane(Vertical):
    """One step's pane. The app forwards its F-keys to the current pane through `can(action)` / `do(action)`."""

    step: str = ""
    #: action -> footer description; the app shows the F-key only when `can(action)` is not False.
    ACTIONS: dict[str, str] = {}

    def __init__(self, **kwargs) -> None:
        super().__init__(id=f"pane-{self.step}", classes="step-pane", **kwargs)
        self.lab = None
        self.plan = None
        self.state = None

    def title_widget(self, text: str) -> Static:
        return Static(text, classes="pane-title", id=f"{self.step}-title", markup=False)

    # --- called by the app -------------------------------------------------------------------------------------

    def set_lab(self, lab) -> None:
        self.lab = lab

    def set_plan(self, plan, state) -> None:
        """A fresh plan (or the exception that made it) and the step's state on disk."""
        self.plan = plan
        self.state = state

    def on_show_pane(self) -> None:
        """The pane became the visible one."""

    def tick(self, now: float) -> None:
        """Once a second, for ticking elapsed times."""

    def can(self, action: str) -> bool | None:
        """True: shown and enabled; None: shown greyed; False: hidden."""
        return False

    def do(self, action: str) -> None:
        """Run one of ACTIONS."""
