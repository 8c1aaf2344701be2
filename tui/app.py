"""The Olive Lab wizard: a step list that is always visible, one pane per step, a header with the lab's context.

Threads and messages: everything that may block (the machine check, reading the dataset, planning, starting
or following a run, loading the model, uploading) runs in a worker that only posts messages; the UI thread only
applies them. Runs are detached processes owned by olive_lab.steps.runner, so closing the wizard never stops
one, and a wizard opened later re-attaches (`runner.attach`) and replays the step's log from its start.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Iterable

from rich.text import Text
from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.lazy import Lazy
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, ListView, Static
from textual.worker import get_current_worker

from . import core
from .base import StepPane
from .chat_pane import ChatPane
from .check_pane import CheckPane
from .data_pane import DataPane
from .eval_pane import EvalPane
from .feed import Feed, deliver, pump
from .modals import Confirm, Help
from .outcome import Outcome
from .run_pane import RunPane
from .steplist import StepList
from .upload_pane import UploadPane
from olive_lab.steps.protocol import RUNNABLE, STEP_ORDER as STEPS
from olive_lab.steps.units import fmt_duration

from .util import LABELS, short_path

REFRESH_S = 2.0
#: Ticks on which nothing on disk changed that may pass before the wizard re-plans anyway (a file overwritten in
#: place leaves its folder's mtime alone).
FULL_REFRESH_TICKS = 15


class LabHeader(Static):
    """One line: the app, the profile, the work folder, the GPU, and the run in progress."""

    def __init__(self) -> None:
        super().__init__("", id="header", markup=False)
        self.profile = "…"
        self.workdir = ""
        self.gpu = "…"
        self.running = ""

    def show(self) -> None:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" Olive Lab ", style="bold")
        text.append("│ profile ")
        text.append(self.profile, style="bold")
        text.append(" │ ")
        text.append(self.workdir)
        text.append(" │ GPU ")
        text.append(self.gpu)
        if self.running:
            text.append(" │ ")
            text.append(self.running, style="bold")
        self.update(text)


#: One-key shortcuts beside the F-keys, each with the actions it may mean (the first the pane can do runs). They act
#: only where nothing can be typed (`letters_allowed`): "rg lab" typed on the upload form must not go back a step.
LETTERS = {
    "b": ("step(-1)",),
    "n": ("step(1)",),
    "c": ("pane('copy')",),
    "x": ("pane('cancel')",),
    "r": ("pane('run')", "pane('retry')", "pane('rerun')", "pane('recheck')", "pane('reread')"),
    "v": ("pane('view')",),
    "left_square_bracket": ("pane('page_prev')",),
    "right_square_bracket": ("pane('page_next')",),
    "q": ("quit",),
    "question_mark": ("help",),
}


class OliveLabApp(App):
    """`olive-lab` with no subcommand."""

    CSS_PATH = [Path(__file__).with_name("app.tcss"), Path(__file__).with_name("eval_pane.tcss"),
                Path(__file__).with_name("chat_pane.tcss")]
    TITLE = "Olive Lab"
    # ctrl+p is VS Code's Quick Open: the palette lives on F2 (passes through VS Code's terminal and SSH).
    COMMAND_PALETTE_BINDING = "f2"
    COMMAND_PALETTE_DISPLAY = "F2"

    BINDINGS = [
        Binding("f2", "command_palette", "commands", priority=True, key_display="F2"),
        Binding("f3", "step(-1)", "back", key_display="F3"),
        Binding("f4", "step(1)", "next", key_display="F4"),
        Binding("f6", "pane('setup')", "set up AWQ flow", key_display="F6"),
        Binding("f7", "pane('copy')", "copy cmd", key_display="F7"),
        Binding("f7", "pane('adapter')", "adapter", key_display="F7"),
        Binding("f8", "pane('cancel')", "cancel", key_display="F8"),
        Binding("f6", "pane('compare')", "compare", key_display="F6"),
        Binding("f8", "pane('stop')", "stop", key_display="F8"),
        Binding("f9", "pane('run')", "run", key_display="F9"),
        Binding("f9", "pane('retry')", "retry", key_display="F9"),
        Binding("f9", "pane('rerun')", "run again", key_display="F9"),
        Binding("f9", "pane('recheck')", "re-check", key_display="F9"),
        Binding("f9", "pane('reread')", "re-read", key_display="F9"),
        Binding("f9", "pane('load')", "load model", key_display="F9"),
        Binding("f9", "pane('upload')", "upload", key_display="F9"),
        Binding("f10", "quit", "quit", key_display="F10"),
        Binding("ctrl+q", "quit", "quit", show=False, priority=True),
        Binding("f1", "help", "help", show=False),
        Binding("escape", "focus_steps", "steps", show=False),
        *(Binding(key, f"letter('{key}')", show=False) for key in LETTERS),
    ]

    class LabReady(Message):
        def __init__(self, lab, report, gpu: str) -> None:
            super().__init__()
            self.lab, self.report, self.gpu = lab, report, gpu

    class LabFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Refreshed(Message):
        def __init__(self, plans: dict, states: dict, handle, decision: tuple[str, str] | None,
                     missing: dict | None = None, signature: tuple | None = None) -> None:
            super().__init__()
            self.plans, self.states, self.handle, self.decision = plans, states, handle, decision
            self.missing = missing or {}
            self.signature = signature  # what the plans were made from (pipeline.disk_signature)

    class Unchanged(Message):
        """A tick found nothing changed on disk: nothing was re-planned or redrawn."""

    class RunStarted(Message):
        def __init__(self, handle, steps: list[str], force: bool = False) -> None:
            super().__init__()
            self.handle, self.steps, self.force = handle, steps, force

    class RunNotStarted(Message):
        """The run planner's answer held nothing to start: a blocked step, or every step up to date."""

        def __init__(self, request) -> None:
            super().__init__()
            self.request = request

    class RunStartFailed(Message):
        def __init__(self, error: str, already: bool) -> None:
            super().__init__()
            self.error, self.already = error, already

    class RunFollowed(Message):
        """The follower finished with this run (every step ended, or it was stopped)."""

        def __init__(self, handle) -> None:
            super().__init__()
            self.handle = handle

    def __init__(self, workdir: str | Path = ".", profile: str | None = None, model: str | None = None,
                 data: str | None = None, *, clock: Callable[[], float] = time.time, attach: bool = True,
                 check_report=None, gpu: str | None = None, run_check: bool = True,
                 refresh_s: float = REFRESH_S) -> None:
        super().__init__()
        self.workdir = Path(workdir).expanduser().resolve()
        self.profile_arg, self.model_arg, self.data_arg = profile, model, data
        self.now = clock
        self.attach_on_start = attach
        self.injected_report = check_report
        self.injected_gpu = gpu
        self.run_check = run_check
        self.refresh_s = refresh_s
        self.lab = None
        self.plans: dict = {}
        self.states: dict = {}
        self.handle = None  # the run this wizard follows
        self.follow_worker = None
        self._refreshing = False
        self._seen: tuple | None = None  # the signature the panes show
        self._unchanged_ticks = 0
        self.header = LabHeader()

    # --- layout -------------------------------------------------------------------------------------------------

    def compose(self):
        yield self.header
        with Horizontal(id="body"):
            with Vertical(id="sidebar"):
                yield StepList(id="steps")
            with ContentSwitcher(id="panes", initial="pane-check"):
                given = {"clock": self.now, "workdir": self.workdir}
                yield CheckPane(**given)
                # The hidden panes mount just after the first frame: the wizard shows up sooner.
                run_panes = (EvalPane(**given) if step == "evaluate" else RunPane(step, **given) for step in RUNNABLE)
                for pane in (DataPane(**given), *run_panes, ChatPane(**given), UploadPane(**given)):
                    pane.display = False
                    yield Lazy(pane)
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.header.workdir = compact_path(self.workdir)
        self.header.show()
        self.query_one(StepList).focus()
        # Loading imports the step modules (GIL-heavy): after the first frame, so the wizard shows up at once.
        self.call_after_refresh(self._load)
        self.set_interval(1.0, self._tick)

    @property
    def steps(self) -> StepList:
        return self.query_one("#steps", StepList)

    def pane(self, step: str) -> StepPane:
        return self.query_one(f"#pane-{step}", StepPane)

    @property
    def current_pane(self) -> StepPane:
        current = self.query_one("#panes", ContentSwitcher).current or "pane-check"
        return self.query_one(f"#{current}", StepPane)

    # --- start-up -----------------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="load", exit_on_error=False)
    def _load(self) -> None:
        gpu = self.injected_gpu if self.injected_gpu is not None else core.gpu_summary()
        report = self.injected_report
        from olive_lab.steps.inputs import workdir_problem

        if problem := workdir_problem(self.workdir):  # a file, /proc, read-only: say so, not NotADirectoryError
            self.post_message(self.LabFailed(problem.message))
            return
        try:
            profile = core.resolve_profile(self.workdir, self.profile_arg)
            if profile is None and report is None and self.run_check:
                # The pipeline would run the check to pick a profile: run it once here and show it too.
                report = core.run_checks(str(self.workdir), None)
                profile = report.profile
            lab = core.load_lab(self.workdir, profile, self.model_arg, self.data_arg)
        except Exception as exc:  # noqa: BLE001 - shown on screen
            self.post_message(self.LabFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.LabReady(lab, report, gpu))

    @on(LabFailed)
    def _lab_failed(self, message: LabFailed) -> None:
        self.notify(message.error, title="The lab could not be loaded", severity="error", timeout=30)
        self.header.profile = "?"
        self.header.show()

    @on(LabReady)
    def _lab_ready(self, message: LabReady) -> None:
        if len(self.query(StepPane)) < len(STEPS):  # lazy panes still mounting
            self.set_timer(0.02, lambda: self._lab_ready(message))
            return
        self.lab = message.lab
        self.header.profile = self.lab.profile.name
        self.header.gpu = message.gpu
        self.header.show()
        for pane in self.query(StepPane):
            pane.set_lab(self.lab)
        check = self.pane("check")
        if message.report is not None:
            check.show_report(message.report)
        elif self.run_check:
            check.recheck()
        self.refresh_state(attach=self.attach_on_start)
        self.set_interval(self.refresh_s, self._refresh_tick)

    # --- state on disk ------------------------------------------------------------------------------------------

    def _refresh_tick(self) -> None:
        """The timer's refresh: re-plans only when something on disk changed (or after FULL_REFRESH_TICKS)."""
        self.refresh_state(if_changed=self._unchanged_ticks < FULL_REFRESH_TICKS)

    def refresh_state(self, attach: bool = True, if_changed: bool = False) -> None:
        if self.lab is None or self._refreshing:
            return
        try:
            current = self.current_pane.step
        except NoMatches:  # the app is closing (a step's end can arrive while it does)
            return
        self._refreshing = True
        self._refresh(self.lab, attach and self.handle is None, current if current in RUNNABLE else None,
                      self._seen if if_changed else None)

    @work(thread=True, group="refresh", exit_on_error=False)
    def _refresh(self, lab, attach: bool, decide_step: str | None, seen: tuple | None = None) -> None:
        try:
            signature = (decide_step, core.disk_signature(lab))
            if signature == seen:
                self.post_message(self.Unchanged())
                return
            plans = core.plans(lab, STEPS)
            states = core.status(lab)
            handle = core.attach(lab) if attach else None
            missing = {step: core.missing_inputs(plan)
                       for step, plan in plans.items() if step in RUNNABLE and not isinstance(plan, Exception)}
            decision = None
            if decide_step and decide_step in plans and not isinstance(plans[decide_step], Exception):
                try:
                    decision = (decide_step, core.decide(lab, decide_step).reason)
                except Exception as exc:  # noqa: BLE001
                    decision = (decide_step, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.Refreshed({}, {}, None, None))
            self.log.error(f"refresh failed: {exc}")
            return
        self.post_message(self.Refreshed(plans, states, handle, decision, missing, signature))

    @on(Unchanged)
    def _unchanged(self) -> None:
        self._refreshing = False
        self._unchanged_ticks += 1

    @on(Refreshed)
    def _refreshed(self, message: Refreshed) -> None:
        self._refreshing = False
        self._seen, self._unchanged_ticks = message.signature, 0
        try:
            self._apply_refresh(message)
        except NoMatches:  # the app is closing and its panes are gone
            pass

    def _apply_refresh(self, message: Refreshed) -> None:
        if message.plans:
            self.plans = message.plans
        if message.states:
            self.states = message.states
        for step, plan in self.plans.items():
            try:
                pane = self.pane(step)
            except Exception:  # noqa: BLE001 - a step the wizard has no pane for
                continue
            pane.set_plan(plan, self.states.get(step))
        for step, paths in message.missing.items():
            pane = self.pane(step)
            if isinstance(pane, RunPane):
                pane.set_missing(paths)
        if message.decision:
            step, reason = message.decision
            pane = self.pane(step)
            if isinstance(pane, RunPane):
                pane.set_decision(reason)
        if message.handle is not None and self.handle is None:
            self.follow(message.handle, jump=True)
        self._show_rows()
        self.update_keys()

    # --- the step list ------------------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = self.now()
        try:
            # The panes only: a query of the whole app would walk every line and message of a long session.
            for pane in self.query_one("#panes", ContentSwitcher).query_children(StepPane):
                pane.tick(now)
            self._show_rows()
        except NoMatches:  # the app is closing
            pass

    def show_rows(self) -> None:
        try:
            self._show_rows()
        except NoMatches:
            pass

    def _show_rows(self) -> None:
        now = self.now()
        steps = self.steps
        running = ""
        for step in STEPS:
            state = self.row_state(step)
            steps.row(step).show(state, now)
            if state.status == "running" and step in RUNNABLE:
                running = f"▶ {LABELS[step]} {fmt_duration(now - state.started_at) if state.started_at else ''}"
        if running != self.header.running:
            self.header.running = running
            self.header.show()

    def row_state(self, step: str) -> Outcome:
        """A run pane's outcome (the state on disk plus its run's events); the other panes' own word."""
        pane = self.pane(step)
        plan = self.plans.get(step)
        if isinstance(pane, RunPane):
            if pane.outcome.status != "pending":
                return pane.outcome
        elif own := pane.row_status:
            status, note = own
            return Outcome(status, note=note)
        if plan is not None and getattr(plan, "blocked", ""):
            return Outcome("blocked", note="blocked")
        return Outcome("pending", note="ready" if plan is not None and step in ("chat", "upload") else "")

    # --- what the panes ask for ---------------------------------------------------------------------------------

    @on(StepPane.RowChanged)
    def _row_changed(self, message: StepPane.RowChanged) -> None:
        self.show_rows()

    @on(StepPane.CopyRequested)
    def _copy_requested(self, message: StepPane.CopyRequested) -> None:
        self.copy_to_clipboard(message.text)
        if message.title:
            self.notify(message.text, title=message.title, timeout=6)

    @on(RunPane.RunRequested)
    def _run_requested(self, message: RunPane.RunRequested) -> None:
        self.run_steps(message.step, force=message.force)

    @on(RunPane.CancelRequested)
    def _cancel_requested(self, message: RunPane.CancelRequested) -> None:
        self.confirm_cancel(message.step)

    @on(ListView.Highlighted, "#steps")
    def _highlighted(self, event: ListView.Highlighted) -> None:
        if event.item is None:
            return
        step = event.item.step
        if self.steps.current_step != step:
            return  # stale: the selection moved again since (keys pressed quickly)
        self.show_step(step)

    @on(ListView.Selected, "#steps")
    def _selected(self, event: ListView.Selected) -> None:
        self.current_pane.focus_first() if hasattr(self.current_pane, "focus_first") else self.screen.focus_next()

    def show_step(self, step: str) -> None:
        if not self.query(f"#pane-{step}"):  # not mounted yet (the first frame is just out)
            self.set_timer(0.02, lambda: self.show_step(step))
            return
        switcher = self.query_one("#panes", ContentSwitcher)
        if switcher.current != f"pane-{step}":
            switcher.current = f"pane-{step}"
            pane = self.pane(step)
            pane.on_show_pane()
            if step in RUNNABLE:
                self.refresh_state(attach=False)
        if self.steps.current_step != step:
            self.steps.select_step(step)
        self.update_keys()

    def action_step(self, delta: int) -> None:
        current = self.current_pane.step
        index = STEPS.index(current) + delta
        if 0 <= index < len(STEPS):
            self.show_step(STEPS[index])

    def action_focus_steps(self) -> None:
        self.steps.focus()

    def action_help(self) -> None:
        self.push_screen(Help())

    # --- pane actions behind the F-keys -------------------------------------------------------------------------

    def letters_allowed(self) -> bool:
        """Letters are keys, not text, only when no text field has the focus and the pane shown has none at all."""
        from textual.widgets import Input, TextArea

        if isinstance(self.focused, (Input, TextArea)):
            return False
        try:
            return not self.current_pane.query("Input, TextArea")
        except NoMatches:
            return False

    async def action_letter(self, key: str) -> None:
        for action in LETTERS[key]:
            if action.startswith("pane("):
                name = action[len("pane('"):-len("')")]
                if self.current_pane.can(name):
                    self.current_pane.do(name)
                    return
            else:
                await self.run_action(action)
                return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "letter":
            return self.letters_allowed()
        if action == "pane":
            try:
                return self.current_pane.can(str(parameters[0]))
            except Exception:  # noqa: BLE001 - before the panes exist
                return False
        return True

    PANE_ACTIONS = ("setup", "copy", "adapter", "compare", "cancel", "stop", "run", "retry", "rerun", "recheck", "reread", "load",
                    "upload", "view", "page_prev", "page_next")

    def update_keys(self) -> None:
        """Refresh the footer only when what the keys do changed (a footer rebuild is not cheap)."""
        try:
            pane = self.current_pane
            signature = (pane.step, tuple(pane.can(a) for a in self.PANE_ACTIONS))
        except Exception:  # noqa: BLE001 - before the panes exist
            return
        if signature != getattr(self, "_keys_signature", None):
            self._keys_signature = signature
            self.refresh_bindings()

    def action_pane(self, name: str) -> None:
        pane = self.current_pane
        if pane.can(name):
            pane.do(name)

    # --- runs ---------------------------------------------------------------------------------------------------

    def run_steps(self, step: str, force: bool = False) -> None:
        """Run `step` (forced: it alone), after the earlier steps it needs: the run planner decides, as for the CLI."""
        if self.lab is None:
            return
        if self.handle is not None:
            self.notify("A run is already going on in this work folder.", severity="warning")
            return
        self._start(self.lab, {"only": step} if force else {"upto": step}, force)

    def run_all(self) -> None:
        """Every runnable step, in order (the planner and the runner skip the ones that are up to date)."""
        if self.lab is not None and self.handle is None:
            self._start(self.lab, {}, False)

    @work(thread=True, exclusive=True, group="start", exit_on_error=False)
    def _start(self, lab, selection: dict, force: bool) -> None:
        already = core.already_running_type()
        try:
            request = core.plan_run(lab, force, **selection)
            if request.blocked or not request.steps:
                self.post_message(self.RunNotStarted(request))
                return
            handle = core.start(lab, list(request.steps), force=force)
        except Exception as exc:  # noqa: BLE001
            is_already = already is not None and isinstance(exc, already)
            self.post_message(self.RunStartFailed(str(exc), is_already))
            return
        self.post_message(self.RunStarted(handle, list(request.steps), force))

    @on(RunStarted)
    def _run_started(self, message: RunStarted) -> None:
        self.notify(("Running " + ", ".join(LABELS[s] for s in message.steps)) + (" (forced)" if message.force else ""),
                    timeout=4)
        self.follow(message.handle, jump=True)

    @on(RunNotStarted)
    def _run_not_started(self, message: RunNotStarted) -> None:
        """The planner found a step that cannot run yet, or nothing to run (outputs found are recorded now)."""
        request = message.request
        if request.blocked:
            step, reason = next(iter(request.blocked.items()))
            self.notify(reason, title=f"{LABELS[step]} cannot run yet", severity="warning", timeout=10)
            self.show_step(step)
        else:
            last = request.asked[-1]
            self.notify(request.skipped.get(last, ""), title=f"{LABELS[last]}: nothing to run", timeout=6)
        self.refresh_state(attach=False)

    @on(RunStartFailed)
    def _run_start_failed(self, message: RunStartFailed) -> None:
        self.notify(message.error, title="The run did not start", severity="error", timeout=15)
        if message.already:
            self.refresh_state(attach=True)

    def follow(self, handle, jump: bool = False) -> None:
        """Show `handle`'s steps live, each from the start of its log; `jump` shows the running step now."""
        self.handle = handle
        self._jump = jump
        self.follow_worker = self._follow(handle)
        self._run_panes_busy(True)

    @work(thread=True, exclusive=True, group="follow", exit_on_error=False)
    def _follow(self, handle) -> None:
        from olive_lab.steps.events import Finished

        worker = get_current_worker()
        cancelled = lambda: worker.is_cancelled  # noqa: E731
        try:
            current = handle.current_step()
            at_start = {s: handle.decision(s)[0] for s in handle.steps}
        except Exception:  # noqa: BLE001
            current, at_start = None, {}
        # The step to show first: the one running now, else the first still to run.
        target = current or next((s for s in handle.steps if at_start.get(s, "queued") in ("queued", "running")),
                                 None)
        for step in handle.steps:
            if step not in RUNNABLE:
                continue
            pane = self.pane(step)
            feed = Feed(step, max_lines=5000)
            # Steps that ended before this wizard attached are replayed, not announced as news.
            live = at_start.get(step, "queued") in ("queued", "running")

            def events(step=step, feed=feed):
                for event in handle.follow(step):
                    if isinstance(event, Finished) and event.skipped:
                        try:
                            feed.note = handle.decision(step)[1]
                        except Exception:  # noqa: BLE001
                            pass
                    yield event

            pump(events(), feed)
            # Show the step only once it has something to show (queued steps wait silently).
            while not feed.ready.wait(0.1):
                if cancelled():
                    return
            started_at = _started_at(handle, step)
            pane.post_message(RunPane.FollowStarted(feed, started_at, live=live))
            if live:
                self.call_from_thread(self._show_live_step, handle, step, step == target)
            if not deliver(feed, lambda pane=pane, feed=feed: pane.post_message(RunPane.EventsReady(feed)),
                           cancelled):
                return
            if feed.error or feed.failed:
                break
        self.post_message(self.RunFollowed(handle))

    def _show_live_step(self, handle, step: str, is_target: bool) -> None:
        """Show a step of the followed run as it starts, unless the user went to look at something else."""
        pane = self.current_pane
        if is_target and self._jump:
            self.show_step(step)
        elif isinstance(pane, RunPane) and pane.step in handle.steps and pane.run_status != "running":
            self.show_step(step)

    @on(RunFollowed)
    def _run_followed(self, message: RunFollowed) -> None:
        if self.handle is message.handle:
            self.handle = None
        self._run_panes_busy(self.handle is not None)
        self.refresh_state(attach=True)

    def _run_panes_busy(self, busy: bool) -> None:
        """Every run pane's keys follow whether a run is going on (none may start a second one)."""
        for pane in self.query_one("#panes", ContentSwitcher).query_children(RunPane):
            pane.run_busy = busy

    @on(RunPane.Ended)
    def _step_ended(self, message: RunPane.Ended) -> None:
        self.refresh_state(attach=False)
        if message.ok:
            self.notify(f"{LABELS[message.step]} finished", timeout=4)
        else:
            self.notify(f"{LABELS[message.step]} did not finish: see its pane", severity="error", timeout=8)

    def confirm_cancel(self, step: str) -> None:
        handle = self.handle
        if handle is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and self.handle is handle:
                pane = self.pane(step)
                if isinstance(pane, RunPane):
                    pane.cancelling = True
                    pane.tick(self.now())
                self._cancel(handle)
                self.update_keys()

        self.push_screen(Confirm(f"Cancel {LABELS[step]}?",
                                 "The Olive process is stopped (SIGTERM, then SIGKILL after 10 s). "
                                 "Its partial outputs are not used; you can run the step again later.",
                                 yes="Cancel the step", no="Keep running"), answered)

    @work(thread=True, exclusive=True, group="cancel", exit_on_error=False)
    def _cancel(self, handle) -> None:
        try:
            handle.cancel(grace_s=10)
        except Exception as exc:  # noqa: BLE001
            self.call_from_thread(self.notify, f"Cancel failed: {exc}", severity="error")

    # --- the palette ---------------------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for step in STEPS:
            yield SystemCommand(f"Go to: {LABELS[step]}", f"Show the {LABELS[step]} step",
                                lambda step=step: self.show_step(step))
        yield SystemCommand("Run the whole lab", "base model → quantize → finetune → optimize (skips what is "
                            "up to date)", self.run_all)
        yield SystemCommand("Keys", "What every key does", self.action_help)
        yield from super().get_system_commands(screen)


def compact_path(path: Path, limit: int = 32) -> str:
    """The work folder for the header: ~ for home, and only its last parts when long."""
    text = short_path(path)
    if len(text) <= limit:
        return text
    parts = Path(text).parts
    tail = parts[-1]
    for part in reversed(parts[:-1]):
        if len(part) + len(tail) + 3 > limit:
            break
        tail = f"{part}/{tail}"
    return f"…/{tail}"


def _started_at(handle, step: str) -> float | None:
    try:
        from olive_lab.steps.workspace import StepState

        return StepState.load(handle.lab.workspace, step).started_at
    except Exception:  # noqa: BLE001
        return None


def main(workdir=".", profile=None, model=None, data=None) -> int:
    app = OliveLabApp(workdir, profile, model, data)
    app.run()
    return 0
