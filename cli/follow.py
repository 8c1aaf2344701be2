"""Show a running step's events on a Rich console: the headless counterpart of the wizard's step screen.

On a terminal a live line shows phase, progress, ETA, loss and elapsed time; in a pipe or CI log the same facts
come as plain lines (phase changes, loss values, the end), so a script's log stays readable.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable

from rich.console import Console
from rich.live import Live
from rich.text import Text

from olive_lab.steps.events import Event, Failed, Finished, LogLine, Loss, Phase, Progress
from olive_lab.steps.units import fmt_duration

TAIL_LINES = 15


class StepView:
    """What we know about one running step, rendered as one status line."""

    def __init__(self, step: str, started: float | None = None):
        self.step = step
        self.started = started or time.time()
        self.phase = "starting"
        self.progress: Progress | None = None
        self.loss: Loss | None = None
        self.tail: list[str] = []

    def apply(self, event: Event) -> None:
        if isinstance(event, Phase):
            self.phase = event.name
        elif isinstance(event, Progress):
            self.progress = event
        elif isinstance(event, Loss):
            self.loss = event
        elif isinstance(event, LogLine):
            self.tail = (self.tail + [event.text])[-TAIL_LINES:]

    def line(self) -> Text:
        text = Text.assemble(("⠿ ", "cyan"), (f"{self.step:<9}", "bold"), f" {fmt_duration(time.time() - self.started)}  ",
                             (self.phase, "magenta"))
        if p := self.progress:
            if p.fraction is not None:
                filled = int(p.fraction * 20)
                text.append(f"  [{'█' * filled}{'·' * (20 - filled)}] {p.fraction:4.0%}")
            else:
                text.append(f"  {p.current:g} {p.unit}")
            if p.eta_s is not None:
                text.append(f" ETA {fmt_duration(p.eta_s)}", "dim")
        if self.loss:
            text.append(f"  loss {self.loss.value:.3f}", "yellow")
        return text


def show(console: Console, step: str, events: Iterable[Event], verbose: bool = False,
         started: float | None = None) -> Finished | Failed:
    """Consume a step's events until its end; return that end event."""
    view = StepView(step, started)
    interactive = console.is_terminal
    with Live(view.line(), console=console, refresh_per_second=8, transient=True, auto_refresh=interactive,
              redirect_stdout=False) as live:
        for event in events:
            if isinstance(event, (Finished, Failed)):
                live.update(Text(""))
                return _end(console, view, event)
            previous_phase = view.phase
            view.apply(event)
            if verbose and isinstance(event, LogLine):
                live.console.print(Text.from_ansi(event.styled), highlight=False)
            elif not interactive and isinstance(event, Phase) and event.name != previous_phase:
                console.print(f"  {step}: {event.name}", highlight=False)
            elif not interactive and isinstance(event, Loss):
                console.print(f"  {step}: loss {event.value:.4f}", highlight=False)
            if interactive:
                live.update(view.line())
    return _end(console, view, Failed("The step's output ended without a result."))


def _end(console: Console, view: StepView, event: Finished | Failed) -> Finished | Failed:
    if isinstance(event, Finished):
        if event.skipped:
            console.print(Text.assemble(("↷ ", "dim"), (f"{view.step:<9}", "bold"), (" skipped", "dim")))
        else:
            console.print(Text.assemble(("✓ ", "green"), (f"{view.step:<9}", "bold"),
                                        f" done in {fmt_duration(event.duration_s)}"))
        return event
    mark = "■ cancelled" if event.cancelled else "✗ failed"
    console.print(Text.assemble((f"{mark} ", "red"), (view.step, "bold")))
    console.print(Text(f"  {event.reason}", "red"), highlight=False)
    if event.advice:
        console.print(Text(f"  Fix: {event.advice}", "yellow"), highlight=False)
    if view.tail and not event.cancelled:
        console.print(Text("  Last lines of the log:", "dim"))
        for line in view.tail[-8:]:
            console.print(Text(f"    {line}", "dim"), highlight=False)
    return event


class PipeConsole(Console):
    """A console whose reader may go away: printing then goes nowhere, and the caller hears BrokenPipeError once.

    (Rich's own answer is SystemExit(1), which would skip the cancel that Ctrl+C under `| tee` asks for.)
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise BrokenPipeError


def without_broken_pipe(command: Callable[..., int], *args) -> int:
    """Run a command whose output may go to a pipe that closes (`| head`, a `| tee` ended by Ctrl+C).

    A closed pipe is no failure to report: no traceback, and no "Exception ignored" when Python exits.
    """
    try:
        code = command(*args)
    except BrokenPipeError:
        code = 1
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return code
