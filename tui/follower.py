"""The run follower: starts a run through the run planner and follows the supervisor's run step by step.

Runs are detached processes owned by olive_lab.steps.runner, so closing the wizard never stops one, and a wizard
opened later re-attaches (`runner.attach`) and replays each step's log from its start. The follower feeds each
step's RunPane (it is given the panes, attributes down) and tells the screen what to show with messages (up).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from textual import on, work
from textual.message import Message
from textual.widget import Widget
from textual.worker import get_current_worker

from . import core
from .feed import Feed, deliver, pump
from .modals import Confirm
from .run_pane import RunPane
from .util import LABELS
from olive_lab.steps.protocol import RUNNABLE


class RunFollower(Widget):
    """Owns the run this wizard follows (`handle`); has no looks of its own."""

    DEFAULT_CSS = "RunFollower { display: none; }"

    @dataclass
    class RunStarted(Message):
        handle: object  # steps.runner's RunHandle
        steps: list[str]
        force: bool = False

    @dataclass
    class RunNotStarted(Message):
        """The run planner's answer held nothing to start: a blocked step, or every step up to date."""

        request: object  # steps.planner's RunRequest

    @dataclass
    class RunStartFailed(Message):
        error: str
        already: bool  # another run holds the work folder

    @dataclass
    class RunFollowed(Message):
        """The follower finished with this run (every step ended, or it was stopped)."""

        handle: object

    @dataclass
    class StepLive(Message):
        """A step of the followed run starts: the screen shows it (`jump`), or when the user stays on the run."""

        steps: list[str]  # the run's steps
        step: str
        jump: bool

    def __init__(self, pane: Callable[[str], RunPane]) -> None:
        super().__init__(id="follower")
        self.pane = pane  # the screen's run pane of a step
        self.lab = None
        self.handle = None  # the run this wizard follows
        self.follow_worker = None
        self._jump = False

    # --- starting a run -----------------------------------------------------------------------------------------

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
        """The planner found a step that cannot run yet, or nothing to run (the screen shows that step)."""
        request = message.request
        if request.blocked:
            step, reason = next(iter(request.blocked.items()))
            self.notify(reason, title=f"{LABELS[step]} cannot run yet", severity="warning", timeout=10)
        else:
            last = request.asked[-1]
            self.notify(request.skipped.get(last, ""), title=f"{LABELS[last]}: nothing to run", timeout=6)

    @on(RunStartFailed)
    def _run_start_failed(self, message: RunStartFailed) -> None:
        self.notify(message.error, title="The run did not start", severity="error", timeout=15)

    # --- following it -------------------------------------------------------------------------------------------

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
            pane.post_message(RunPane.FollowStarted(feed, _started_at(handle, step), live=live))
            if live:
                self.post_message(self.StepLive(list(handle.steps), step, step == target and self._jump))
            if not deliver(feed, lambda pane=pane, feed=feed: pane.post_message(RunPane.EventsReady(feed)),
                           cancelled):
                return
            if feed.error or feed.failed:
                break
        self.post_message(self.RunFollowed(handle))

    @on(RunFollowed)
    def _run_followed(self, message: RunFollowed) -> None:
        if self.handle is message.handle:
            self.handle = None
        self._run_panes_busy(self.handle is not None)

    def _run_panes_busy(self, busy: bool) -> None:
        """Every run pane's keys follow whether a run is going on (none may start a second one)."""
        for step in RUNNABLE:
            self.pane(step).run_busy = busy

    def step_ended(self, step: str, ok: bool) -> None:
        if ok:
            self.notify(f"{LABELS[step]} finished", timeout=4)
        else:
            self.notify(f"{LABELS[step]} did not finish: see its pane", severity="error", timeout=8)

    # --- cancelling it ------------------------------------------------------------------------------------------

    def confirm_cancel(self, step: str) -> None:
        handle = self.handle
        if handle is None:
            return

        def answered(yes: bool | None) -> None:
            if yes and self.handle is handle:
                pane = self.pane(step)
                pane.cancelling = True
                pane.tick(pane.clock())
                self._cancel(handle)

        self.app.push_screen(Confirm(f"Cancel {LABELS[step]}?",
                                     "The Olive process is stopped (SIGTERM, then SIGKILL after 10 s). "
                                     "Its partial outputs are not used; you can run the step again later.",
                                     yes="Cancel the step", no="Keep running"), answered)

    @work(thread=True, exclusive=True, group="cancel", exit_on_error=False)
    def _cancel(self, handle) -> None:
        try:
            handle.cancel(grace_s=10)
        except Exception as exc:  # noqa: BLE001
            self.app.call_from_thread(self.notify, f"Cancel failed: {exc}", severity="error")


def _started_at(handle, step: str) -> float | None:
    try:
        from olive_lab.steps.workspace import StepState

        return StepState.load(handle.lab.workspace, step).started_at
    except Exception:  # noqa: BLE001
        return None
