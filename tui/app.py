"""The Olive Lab wizard (`olive-lab` with no subcommand): loads the lab and shows it on the wizard screen.

The screen (tui/wizard.py) holds the header, the step list, the panes and the keys; the run follower
(tui/follower.py) starts and follows runs; each pane (tui/*_pane.py) owns its step. This app only loads the lab
in a worker, hands it to the screen, and offers the palette's commands.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

from textual import on, work
from textual.app import App, SystemCommand
from textual.message import Message
from textual.screen import Screen

from . import core
from .util import LABELS
from .wizard import REFRESH_S, WizardScreen
from olive_lab.steps.protocol import STEP_ORDER as STEPS


class OliveLabApp(App):
    """`olive-lab` with no subcommand."""

    CSS_PATH = [Path(__file__).with_name("app.tcss"), Path(__file__).with_name("eval_pane.tcss"),
                Path(__file__).with_name("chat_pane.tcss")]
    TITLE = "Olive Lab"
    # ctrl+p is VS Code's Quick Open: the palette lives on F2 (passes through VS Code's terminal and SSH).
    COMMAND_PALETTE_BINDING = "f2"
    COMMAND_PALETTE_DISPLAY = "F2"

    @dataclass
    class LabReady(Message):
        lab: object  # steps.lab.Lab
        report: object  # steps.check's CheckReport, None when the check has not run
        gpu: str

    @dataclass
    class LabFailed(Message):
        error: str

    def __init__(self, workdir: str | Path = ".", profile: str | None = None, model: str | None = None,
                 data: str | None = None, *, clock: Callable[[], float] = time.time, attach: bool = True,
                 check_report=None, gpu: str | None = None, run_check: bool = True,
                 refresh_s: float = REFRESH_S) -> None:
        super().__init__()
        self.workdir = Path(workdir).expanduser().resolve()
        self.profile_arg, self.model_arg, self.data_arg = profile, model, data
        self.attach_on_start = attach
        self.injected_report = check_report
        self.injected_gpu = gpu
        self.run_check = run_check
        self.wizard = WizardScreen(self.workdir, clock, refresh_s)

    def get_default_screen(self) -> Screen:
        return self.wizard

    def on_mount(self) -> None:
        # Loading imports the step modules (GIL-heavy): after the first frame, so the wizard shows up at once.
        self.call_after_refresh(self._load)

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
        self.wizard.lab_failed()

    @on(LabReady)
    def _lab_ready(self, message: LabReady) -> None:
        self.wizard.set_lab(message.lab, message.report, message.gpu, self.run_check, self.attach_on_start)

    # --- the palette ---------------------------------------------------------------------------------------------

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        for step in STEPS:
            yield SystemCommand(f"Go to: {LABELS[step]}", f"Show the {LABELS[step]} step",
                                lambda step=step: self.wizard.show_step(step))
        yield SystemCommand("Run the whole lab", "base model → quantize → finetune → optimize (skips what is "
                            "up to date)", self.wizard.follower.run_all)
        yield SystemCommand("Keys", "What every key does", self.wizard.action_help)
        yield from super().get_system_commands(screen)


def main(workdir=".", profile=None, model=None, data=None) -> int:
    app = OliveLabApp(workdir, profile, model, data)
    app.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
