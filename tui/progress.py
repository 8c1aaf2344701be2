"""A row whose progress bar exists only while something is in progress.

Textual's ProgressBar keeps two clocks from its mount on, shown or not: a redraw 15 times a second to animate
an unknown total, and one a second for its ETA. The wizard has a bar for each of five steps, hidden nearly all
the time, and their 80 wake-ups a second kept an idle wizard busy and, during a chat reply, took cores from the
model. So the bar is mounted when progress starts and removed when it ends.
"""

from __future__ import annotations

from textual.containers import Horizontal
from textual.widgets import ProgressBar


class ProgressRow(Horizontal):
    """A row (a label may sit beside the bar) that holds a `ProgressBar` between `show` and `clear`."""

    DEFAULT_CSS = """
    ProgressRow { height: auto; }
    """

    def __init__(self, *children, show_eta: bool = False, bar_id: str | None = None, **kwargs) -> None:
        super().__init__(*children, **kwargs)
        self.show_eta = show_eta
        self.bar_id = bar_id

    @property
    def bar(self) -> ProgressBar | None:
        bars = self.query_children(ProgressBar)
        return bars.first() if bars else None

    def show(self, total: float | None, progress: float) -> None:
        """Show this progress (an unknown total animates), mounting the bar first if there is none."""
        bar = self.bar
        if bar is None:
            bar = ProgressBar(total=total, show_eta=self.show_eta, id=self.bar_id)
            self.mount(bar, before=0 if self.children else None)
        bar.update(total=total, progress=progress)
        self.display = True

    def clear(self) -> None:
        """Hide the row and drop the bar with its clocks."""
        self.display = False
        self.query_children(ProgressBar).remove()
