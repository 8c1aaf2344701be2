"""The panes of the steps that run as Olive commands (model, quantize, finetune, optimize).

"About" says, before anything runs, what the step does and why, the exact command (F7 copies it), its inputs
and outputs, and what it costs. "Run" shows the live log (bounded; the full log stays on disk), a progress bar
with ETA when the output has one, the elapsed time, the current phase, the loss curve while fine-tuning, and on
failure the reason and advice from the runner above the log's tail.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.reactive import var
from textual.widgets import Sparkline, Static, TabbedContent, TabPane

from . import core
from .base import StepPane
from olive_lab.steps.events import LogLine

from .feed import Batch, Feed
from .logview import LogView
from .outcome import Outcome, status_text
from .progress import ProgressRow
from olive_lab.steps.units import fmt_duration, fmt_expected, fmt_gb

from .util import rel

LOG_LINES = 5000

#: The pane's own words where the plan's title is long.
TITLES = {"model": "Base model", "quantize": "Quantize", "finetune": "Fine-tune", "optimize": "Optimize",
          "evaluate": "Evaluate"}


class RunPane(StepPane):
    ACTIONS = {"run": "run", "retry": "retry", "rerun": "run again", "cancel": "cancel", "copy": "copy cmd"}

    @dataclass
    class FollowStarted(Message):
        """A feed for this step begins: what follows replays the step's log from its start."""

        feed: Feed
        started_at: float | None
        live: bool

    @dataclass
    class EventsReady(Message):
        feed: Feed

    @dataclass
    class Ended(Message):
        """The step ended (bubbles to the app: refresh states, follow the next step)."""

        step: str
        ok: bool

    @dataclass
    class RunRequested(Message):
        """F9 on this pane: run `step` (after the earlier steps not done yet), or alone and again when `force`."""

        step: str
        force: bool = False

    @dataclass
    class CancelRequested(Message):
        """F8 on this pane: stop the running step (the app asks first)."""

        step: str

    #: What the keys can do follows these: the footer refreshes by itself when one changes.
    #: `followed`: the outcome the events of the run this pane follows (or the log it replayed) gave, newer than
    #: the state on disk; None while it has followed none.
    followed: var[Outcome | None] = var(None, bindings=True)
    cancelling = var(False, bindings=True)
    run_busy = var(False, bindings=True)  # some run is going on in the work folder (this step's or another's)

    def __init__(self, step: str, **kwargs) -> None:
        self.step = step
        super().__init__(**kwargs)
        self.feed: Feed | None = None
        self.live = False  # following a step that is running now (not a replay of a finished one)
        self.phase = ""
        self.losses: list[float] = []
        self.last_loss = None
        self.history_loaded = False
        self.decision = ""
        self.missing_inputs: list = []

    # --- layout -------------------------------------------------------------------------------------------------

    def compose(self):
        yield self.title_widget(TITLES.get(self.step, self.step))
        with TabbedContent(initial=f"{self.step}-about", id=f"{self.step}-tabs"):
            with TabPane("About", id=f"{self.step}-about"):
                with VerticalScroll(classes="about"):
                    yield Static("", id=f"{self.step}-blocked", classes="blocked", markup=False)
                    yield Static("", id=f"{self.step}-decision", classes="decision", markup=False)
                    yield Static("The command (F7 copies it; you can also select it with the mouse):",
                                 classes="label")
                    command = Static("", id=f"{self.step}-command", classes="command", markup=False)
                    command.ALLOW_SELECT = True
                    yield command
                    yield Static("", id=f"{self.step}-explain", classes="explain", markup=False)
                    yield Static("", id=f"{self.step}-notes", classes="notes", markup=False)
                    yield Static("", id=f"{self.step}-io", classes="io", markup=False)
            with TabPane("Run", id=f"{self.step}-run"):
                with Vertical(classes="run"):
                    yield Static("Not run yet. F9 runs it.", id=f"{self.step}-status", classes="run-status",
                                 markup=False)
                    with ProgressRow(classes="progress-row", id=f"{self.step}-progress-row",
                                     bar_id=f"{self.step}-progress"):
                        yield Static("", id=f"{self.step}-progress-label", classes="progress-label",
                                     markup=False)
                    if self.step == "finetune":
                        with Horizontal(classes="loss-row", id="finetune-loss-row"):
                            yield Sparkline([], id="finetune-loss", summary_function=max)
                            yield Static("loss: waiting for the first report", id="finetune-loss-label",
                                         classes="loss-label", markup=False)
                    yield Static("", id=f"{self.step}-failure", classes="failure", markup=False)
                    yield LogView(max_lines=LOG_LINES, id=f"{self.step}-log", classes="log")
            yield from self.extra_tabs()

    def extra_tabs(self):
        """More tabs after About and Run (the evaluate pane's report)."""
        return ()

    def on_mount(self) -> None:
        self.query_one(f"#{self.step}-progress-row", ProgressRow).clear()
        self.query_one(f"#{self.step}-failure").display = False
        self.query_one(f"#{self.step}-blocked").display = False
        if self.step == "finetune":
            self.query_one("#finetune-loss-row").display = False

    @property
    def log_view(self) -> LogView:
        return self.query_one(f"#{self.step}-log", LogView)

    def show_tab(self, which: str) -> None:
        self.query_one(f"#{self.step}-tabs", TabbedContent).active = f"{self.step}-{which}"

    def action_toggle_view(self) -> None:
        tabs = self.query_one(f"#{self.step}-tabs", TabbedContent)
        tabs.active = f"{self.step}-run" if tabs.active.endswith("-about") else f"{self.step}-about"

    # --- the plan -----------------------------------------------------------------------------------------------

    def set_plan(self, plan, state) -> None:
        super().set_plan(plan, state)
        q = self.query_one
        if isinstance(plan, Exception) or plan is None:
            why = "the pipeline is not available yet" if plan is None else f"{type(plan).__name__}: {plan}"
            q(f"#{self.step}-blocked", Static).update(Text(f"This step cannot be planned: {why}", style="bold red"))
            q(f"#{self.step}-blocked").display = True
            return
        title = TITLES.get(self.step, self.step)
        q(f"#{self.step}-title", Static).update(plan.title or title)
        blocked = q(f"#{self.step}-blocked", Static)
        if plan.blocked:
            blocked.update(Text.assemble(("Not possible yet: ", "bold yellow"), plan.blocked))
        blocked.display = bool(plan.blocked) and self.run_status != "running"
        q(f"#{self.step}-explain", Static).update(plan.explain)
        notes = Text()
        for note in plan.notes:
            notes.append("Note: ", style="bold")
            notes.append(note + "\n")
        if olive_line := plan.olive_line(self.lab.workspace):
            notes.append("The Olive command it stands for: ", style="bold")
            notes.append(olive_line + "\n")
        q(f"#{self.step}-notes", Static).update(notes)
        q(f"#{self.step}-notes").display = bool(notes.plain)
        root = self.lab.workspace.root if self.lab else None
        q(f"#{self.step}-command", Static).update(self.command_line())
        io = Text()
        io.append("Inputs:  ", style="bold")
        io.append(", ".join(rel(p, root) for p in plan.inputs) or "none")
        io.append("\nOutputs: ", style="bold")
        io.append(", ".join(f"{rel(p, root)} ({name})" for name, p in plan.outputs.items()) or "none")
        io.append("\nExpected: ", style="bold")
        io.append(f"{fmt_expected(plan.expected_s)}, {fmt_gb(plan.expected_disk_gb)} of disk")
        if self.lab is not None:
            io.append("\nFull log: ", style="bold")
            io.append(rel(self.lab.workspace.log_path(self.step), root))
        q(f"#{self.step}-io", Static).update(io)
        if self.followed is None:
            self._show_outcome()

    def set_missing(self, paths) -> None:
        """Inputs not there yet: say which earlier step makes them (F9 runs those first)."""
        self.missing_inputs = list(paths)
        self._show_decision()

    def set_decision(self, reason: str) -> None:
        self.decision = reason
        self._show_decision()

    def _show_decision(self) -> None:
        text = Text()
        if self.decision:
            text.append("Status: ", style="bold")
            text.append(self.decision)
        missing = getattr(self, "missing_inputs", [])
        if missing and self.run_status != "running":
            root = self.lab.workspace.root if self.lab else None
            if text:
                text.append("\n")
            text.append("Needs first: ", style="bold yellow")
            text.append(", ".join(rel(p, root) for p in missing))
            text.append(" (not there yet). F9 runs the earlier steps, then this one.", style="dim")
        self.query_one(f"#{self.step}-decision", Static).update(text)

    def command_line(self) -> str:
        plan = self.plan
        if plan is None or isinstance(plan, Exception) or not plan.argv or self.lab is None:
            return ""
        return plan.command_line(self.lab.workspace)

    @property
    def outcome(self) -> Outcome:
        """What the step list and this pane show: the followed run's outcome, else the state on disk."""
        return self.followed if self.followed is not None else Outcome.on_disk(self.state)

    @property
    def row(self) -> Outcome | None:
        return None if self.outcome.status == "pending" else self.outcome

    @property
    def run_status(self) -> str:
        """The followed run's status (idle: none followed), which decides what the keys do."""
        return self.followed.status if self.followed is not None else "idle"

    def _show_outcome(self) -> None:
        """The status line and the failure box, from `outcome` (a running step's line ticks instead: `tick`)."""
        outcome = self.outcome
        if outcome.status == "running":
            return
        self._status(status_text(outcome))
        if outcome.status in ("failed", "cancelled"):
            self._show_failure(outcome.reason, outcome.advice)

    # --- following a run ----------------------------------------------------------------------------------------

    @on(FollowStarted)
    def _follow_started(self, message: FollowStarted) -> None:
        self.feed = message.feed
        self.live = message.live
        self.log_view.clear()
        self.losses = []
        self.last_loss = None
        self.phase = ""
        self.cancelling = False
        self.history_loaded = True
        self.query_one(f"#{self.step}-failure").display = False
        self.query_one(f"#{self.step}-progress-row", ProgressRow).clear()
        if self.step == "finetune":
            self.query_one("#finetune-loss", Sparkline).data = []
            self.query_one("#finetune-loss-label", Static).update("loss: waiting for the first report")
        if message.live:
            self.followed = Outcome("running", started_at=message.started_at)
            self.query_one(f"#{self.step}-blocked").display = False
            self.show_tab("run")
            self.tick(self.clock())
        self.row_changed()

    @on(EventsReady)
    def _events(self, message: EventsReady) -> None:
        if message.feed is not self.feed:
            message.feed.take()  # a feed this pane no longer shows
            return
        self.apply(message.feed.take())

    def apply(self, batch: Batch) -> None:
        if batch.dropped:
            self.log_view.skip_lines(batch.dropped)
        if batch.lines:
            lines = batch.lines
            self.log_view.write_lines([line.styled for line in lines], [len(line.text) for line in lines])
        if batch.phase is not None:
            self.phase = batch.phase.name
        if batch.progress is not None:
            self._show_progress(batch.progress)
        if batch.losses:
            self._show_losses(batch.losses)
        if batch.end is not None:
            self._end(batch.end, batch.note)
        elif self.run_status == "running":
            self.tick(self.clock())

    def _show_progress(self, progress) -> None:
        if self.run_status != "running":
            return  # a finished run's history: its progress is over
        self.query_one(f"#{self.step}-progress-row", ProgressRow).show(progress.total, progress.current)
        label = progress.label or ""
        cur = _num(progress.current)
        tot = _num(progress.total) if progress.total else "?"
        text = f"{label} {cur}/{tot} {progress.unit}".strip()
        if progress.eta_s is not None:
            text += f" · ETA {fmt_duration(progress.eta_s)}"
        self.query_one(f"#{self.step}-progress-label", Static).update(text)

    def _show_losses(self, losses) -> None:
        self.losses.extend(loss.value for loss in losses)
        self.last_loss = losses[-1]
        if self.step != "finetune":
            return
        self.query_one("#finetune-loss-row").display = True
        self.query_one("#finetune-loss", Sparkline).data = list(self.losses)
        first, last = self.losses[0], self.losses[-1]
        where = f" (step {self.last_loss.step})" if self.last_loss.step is not None else ""
        self.query_one("#finetune-loss-label", Static).update(
            f"loss {first:.3f} → {last:.3f}{where}\nlow {min(self.losses):.3f} · {len(self.losses)} reports")

    def _end(self, end, note: str) -> None:
        self.query_one(f"#{self.step}-progress-row", ProgressRow).clear()
        self.cancelling = False
        self.followed = self.outcome.ended(end, note, self.clock(), self.live)
        self._show_outcome()
        ok = self.followed.status in ("done", "skipped")
        if not ok and self.live:
            self.show_tab("run")
        was_live = self.live
        self.live = False
        self.row_changed()
        if was_live:
            self.post_message(self.Ended(self.step, ok))

    def _show_failure(self, reason: str, advice: str) -> None:
        box = self.query_one(f"#{self.step}-failure", Static)
        text = Text()
        text.append("Why: ", style="bold red")
        text.append(reason or "unknown")
        if advice:
            text.append("\nWhat to do: ", style="bold")
            text.append(advice)
        text.append("\nF9 retries. The end of the log is below; the full log is in ", style="dim")
        if self.lab is not None:
            text.append(rel(self.lab.workspace.log_path(self.step), self.lab.workspace.root), style="dim")
        box.update(text)
        box.display = True

    def _status(self, text) -> None:
        self.query_one(f"#{self.step}-status", Static).update(text)

    def tick(self, now: float) -> None:
        if self.run_status != "running":
            return
        text = Text()
        text.append("▶ cancelling… " if self.cancelling else "▶ running ", style="bold yellow")
        if self.followed.started_at is not None:
            text.append(f"{fmt_duration(now - self.followed.started_at)} elapsed")
        expected = getattr(self.plan, "expected_s", None) if self.plan is not None else None
        if expected:
            text.append(f" (expected {fmt_expected(expected)})", style="dim")
        if self.phase:
            text.append(" · ")
            text.append(self.phase, style="cyan")
        text.append(" · F8 cancels", style="dim")
        self._status(text)

    # --- history of a step not followed live --------------------------------------------------------------------

    def on_show_pane(self) -> None:
        if self.history_loaded or self.lab is None or self.run_status == "running":
            return
        state = self.state
        if state is None or getattr(state, "status", "pending") in ("pending", "running"):
            return
        self.history_loaded = True
        self._load_history(self.lab)

    @work(thread=True, exclusive=True, group="history", exit_on_error=False)
    def _load_history(self, lab) -> None:
        """Replay a finished step's log (parsed like a live one) so its log, loss curve and outcome show."""
        feed = Feed(self.step, LOG_LINES)
        try:
            runner = core.module("runner")
            events = runner.follow_log(lab.workspace, self.step, 0.1, lambda: False)
        except (core.Missing, AttributeError):
            events = iter(())
        self.post_message(self.FollowStarted(feed, None, live=False))
        try:
            for event in events:
                feed.put(event)
        except Exception as exc:  # noqa: BLE001
            feed.put(LogLine(f"(reading the log failed: {exc})", f"(reading the log failed: {exc})"))
        feed.posted = True
        self.post_message(self.EventsReady(feed))

    # --- actions (keys live on the wizard screen; it asks the visible pane) ----------------------------------------

    def can(self, action: str):
        running_here = self.run_status == "running"
        busy = self.run_busy
        if action == "copy":
            return True if self.command_line() else None
        if action == "view":
            return True
        if action == "cancel":
            return (None if self.cancelling else True) if running_here else False
        if action in ("run", "retry", "rerun"):
            if running_here:
                return False
            status = self.outcome.status
            failed, done = status in ("failed", "cancelled"), status in ("done", "skipped")
            wanted = "retry" if failed else "rerun" if done else "run"
            if action != wanted:
                return False
            if busy or self.lab is None or self.plan is None or isinstance(self.plan, Exception):
                return None
            return True
        return False

    def do(self, action: str) -> None:
        if action == "view":
            self.action_toggle_view()
        elif action == "copy":
            self.post_message(self.CopyRequested(self.command_line(), "Command copied to the clipboard"))
        elif action == "cancel":
            self.post_message(self.CancelRequested(self.step))
        elif action in ("run", "retry", "rerun"):
            self.post_message(self.RunRequested(self.step, force=action == "rerun"))


def _num(value: float | None) -> str:
    if value is None:
        return "?"
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"


def log_path(lab, step: str) -> Path:
    return lab.workspace.log_path(step)
