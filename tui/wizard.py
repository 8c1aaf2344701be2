"""The wizard's screen: a header with the lab's context, the step list that is always visible, one pane per step.

It owns the keys (screen-scoped bindings: the F-keys ask the pane shown through `can` / `do`), keeps the panes
current with the state on disk (re-planned only when something there changed), and hands runs to the follower.
Everything that may block runs in a worker that only posts messages; the UI thread only applies them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from rich.text import Text
from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.lazy import Lazy
from textual.message import Message
from textual.screen import Screen
from textual.widgets import ContentSwitcher, Footer, ListView, Static

from . import core
from .base import StepPane
from .chat_pane import ChatPane
from .check_pane import CheckPane
from .data_pane import DataPane
from .eval_pane import EvalPane
from .follower import RunFollower
from .modals import Help
from .outcome import Outcome
from .run_pane import RunPane
from .steplist import StepList
from .upload_pane import UploadPane
from .util import LABELS, short_path
from olive_lab.steps.protocol import RUNNABLE, STEP_ORDER as STEPS
from olive_lab.steps.units import fmt_duration

REFRESH_S = 2.0
#: Ticks on which nothing on disk changed that may pass before the wizard re-plans anyway (a file overwritten in
#: place leaves its folder's mtime alone).
FULL_REFRESH_TICKS = 15

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
    "q": ("app.quit",),
    "question_mark": ("help",),
}

#: The pane actions behind the F-keys: (key, action, footer word, what it does). One key may mean several actions;
#: the footer shows the one the pane shown can do.
PANE_KEYS = (
    ("f6", "setup", "set up AWQ flow", "Set up the AWQ flow here (olive-lab setup --profile gpu), then check again"),
    ("f7", "copy", "copy cmd", "Copy the step's Olive command"),
    ("f7", "adapter", "adapter", "Turn the fine-tuned adapter on or off in the chat"),
    ("f8", "cancel", "cancel", "Cancel the running step (asks first)"),
    ("f6", "compare", "compare", "Compare: each prompt answered with the adapter off and on, side by side"),
    ("f8", "stop", "stop", "Stop the reply"),
    ("f9", "run", "run", "Run the step, after the earlier steps it needs"),
    ("f9", "retry", "retry", "Run the step again after it failed"),
    ("f9", "rerun", "run again", "Run the step alone again (forced)"),
    ("f9", "recheck", "re-check", "Check the machine again"),
    ("f9", "reread", "re-read", "Read the dataset again"),
    ("f9", "load", "load model", "Load the model to chat with"),
    ("f9", "upload", "upload", "Upload the model to Azure ML"),
)
PANE_ACTIONS = (*(action for _, action, _, _ in PANE_KEYS), "view", "page_prev", "page_next")


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


class WizardScreen(Screen):
    """The header, the step list and the panes; the keys; the state on disk."""

    BINDINGS = [
        # Priority, like the app's own F2: the footer shows this one (first), the app's opens the palette.
        Binding("f2", "app.command_palette", "commands", priority=True, key_display="F2", id="commands",
                tooltip="Open the command palette"),
        Binding("f3", "step(-1)", "back", key_display="F3", id="back", tooltip="Show the step before"),
        Binding("f4", "step(1)", "next", key_display="F4", id="next", tooltip="Show the next step"),
        *(Binding(key, f"pane('{action}')", word, key_display=key.upper(), id=action, tooltip=tooltip)
          for key, action, word, tooltip in PANE_KEYS),
        Binding("f10", "app.quit", "quit", key_display="F10", id="quit",
                tooltip="Quit (a run goes on: open the wizard again to follow it)"),
        Binding("f1", "help", "help", show=False, id="help"),
        Binding("escape", "focus_steps", "steps", show=False, id="focus-steps"),
        *(Binding(key, f"letter('{key}')", show=False) for key in LETTERS),
    ]

    @dataclass
    class Refreshed(Message):
        """Plans and states read afresh; `signature` is what they were made from (pipeline.disk_signature)."""

        plans: dict
        states: dict
        handle: object  # the active run in the work folder, when asked to attach
        decision: tuple[str, str] | None
        missing: dict = field(default_factory=dict)
        signature: tuple | None = None

    @dataclass
    class Unchanged(Message):
        """A tick found nothing changed on disk: nothing was re-planned or redrawn."""

    def __init__(self, workdir: Path, clock: Callable[[], float], refresh_s: float = REFRESH_S) -> None:
        super().__init__()
        self.workdir = workdir
        self.now = clock
        self.refresh_s = refresh_s
        self.lab = None
        self.plans: dict = {}
        self.states: dict = {}
        self._refreshing = False
        self._seen: tuple | None = None  # the signature the panes show
        self._unchanged_ticks = 0
        self._keys_signature: tuple | None = None
        self.header = LabHeader()
        self.follower = RunFollower(self.pane)

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
        yield self.follower
        yield Footer(compact=True, show_command_palette=False)

    def on_mount(self) -> None:
        self.header.workdir = compact_path(self.workdir)
        self.header.show()
        self.steps.focus()
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

    def lab_failed(self) -> None:
        self.header.profile = "?"
        self.header.show()

    def set_lab(self, lab, report, gpu: str, run_check: bool, attach: bool) -> None:
        """The lab is loaded: every pane gets it, the check shows (or runs), the state on disk is read."""
        if len(self.query(StepPane)) < len(STEPS):  # lazy panes still mounting
            self.set_timer(0.02, lambda: self.set_lab(lab, report, gpu, run_check, attach))
            return
        self.lab = self.follower.lab = lab
        self.header.profile = lab.profile.name
        self.header.gpu = gpu
        self.header.show()
        for pane in self.query(StepPane):
            pane.set_lab(lab)
        check = self.pane("check")
        if report is not None:
            check.show_report(report)
        elif run_check:
            check.recheck()
        self.refresh_state(attach=attach)
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
        self._refresh(self.lab, attach and self.follower.handle is None, current if current in RUNNABLE else None,
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
        if message.handle is not None and self.follower.handle is None:
            self.follower.follow(message.handle, jump=True)
        self._show_rows()
        self.update_keys()

    # --- the step list ------------------------------------------------------------------------------------------

    def _tick(self) -> None:
        now = self.now()
        try:
            # The panes only: a query of the whole screen would walk every line and message of a long session.
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
        """What the pane shows (a run pane: the state on disk plus its run's events), else what the plan says."""
        if (shown := self.pane(step).row) is not None:
            return shown
        plan = self.plans.get(step)
        if plan is not None and getattr(plan, "blocked", ""):
            return Outcome("blocked", note="blocked")
        return Outcome("pending", note="ready" if plan is not None and step in ("chat", "upload") else "")

    # --- what the panes and the follower ask for ----------------------------------------------------------------

    @on(StepPane.RowChanged)
    def _row_changed(self, message: StepPane.RowChanged) -> None:
        self.show_rows()

    @on(StepPane.CopyRequested)
    def _copy_requested(self, message: StepPane.CopyRequested) -> None:
        self.app.copy_to_clipboard(message.text)
        if message.title:
            self.notify(message.text, title=message.title, timeout=6)

    @on(RunPane.RunRequested)
    def _run_requested(self, message: RunPane.RunRequested) -> None:
        self.follower.run_steps(message.step, force=message.force)

    @on(RunPane.CancelRequested)
    def _cancel_requested(self, message: RunPane.CancelRequested) -> None:
        self.follower.confirm_cancel(message.step)

    @on(RunPane.Ended)
    def _step_ended(self, message: RunPane.Ended) -> None:
        self.refresh_state(attach=False)
        self.follower.step_ended(message.step, message.ok)

    @on(RunFollower.RunNotStarted)
    def _run_not_started(self, message: RunFollower.RunNotStarted) -> None:
        """Outputs found by hand are recorded now: show them; a blocked step is shown with its reason."""
        if message.request.blocked:
            self.show_step(next(iter(message.request.blocked)))
        self.refresh_state(attach=False)

    @on(RunFollower.RunStartFailed)
    def _run_start_failed(self, message: RunFollower.RunStartFailed) -> None:
        if message.already:
            self.refresh_state(attach=True)

    @on(RunFollower.RunFollowed)
    def _run_followed(self, message: RunFollower.RunFollowed) -> None:
        self.refresh_state(attach=True)

    @on(RunFollower.StepLive)
    def _step_live(self, message: RunFollower.StepLive) -> None:
        """Show a step of the followed run as it starts, unless the user went to look at something else."""
        pane = self.current_pane
        if message.jump:
            self.show_step(message.step)
        elif isinstance(pane, RunPane) and pane.step in message.steps and pane.run_status != "running":
            self.show_step(message.step)

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
        self.current_pane.focus_first() if hasattr(self.current_pane, "focus_first") else self.focus_next()

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

    # --- the keys -----------------------------------------------------------------------------------------------

    def action_step(self, delta: int) -> None:
        current = self.current_pane.step
        index = STEPS.index(current) + delta
        if 0 <= index < len(STEPS):
            self.show_step(STEPS[index])

    def action_focus_steps(self) -> None:
        self.steps.focus()

    def action_help(self) -> None:
        self.app.push_screen(Help())

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

    def update_keys(self) -> None:
        """Refresh the footer only when what the keys do changed (a footer rebuild is not cheap)."""
        try:
            pane = self.current_pane
            signature = (pane.step, tuple(pane.can(a) for a in PANE_ACTIONS))
        except Exception:  # noqa: BLE001 - before the panes exist
            return
        if signature != self._keys_signature:
            self._keys_signature = signature
            self.refresh_bindings()

    def action_pane(self, name: str) -> None:
        pane = self.current_pane
        if pane.can(name):
            pane.do(name)


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
