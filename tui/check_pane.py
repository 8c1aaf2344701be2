"""The machine check: findings as a table (ok / warning / blocking, with the fix), the chosen profile and why.

Where the gpu profile would run the fallback flow because the awq-tf4 overlay is missing, F6 "set up AWQ flow"
runs `olive-lab setup --profile gpu` here, its output live in a log view (and in logs/setup.log), then re-checks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.message import Message
from textual.reactive import var
from textual.widgets import DataTable, Static

from . import core
from .base import StepPane
from .outcome import Outcome
from .logview import LogView


def setup_argv() -> list[str]:
    """The one command that makes the gpu profile's AWQ overlay (what the CLI's check tells you to run)."""
    return [sys.executable, "-m", "olive_lab.cli", "setup", "--profile", "gpu"]

SEVERITY = {"ok": ("✓ ok", "sev-ok"), "warning": ("! warn", "sev-warning"), "blocking": ("✗ block", "sev-blocking")}
SEVERITY_STYLE = {"ok": "green", "warning": "yellow", "blocking": "bold red"}


class CheckPane(StepPane):
    step = "check"
    ACTIONS = {"recheck": "re-check", "setup": "set up AWQ flow"}

    @dataclass
    class Checked(Message):
        """A check report arrived (from the re-check worker or from the app's start-up)."""

        report: object  # steps.check.CheckReport
        lab_profile: str | None = None

    @dataclass
    class CheckFailed(Message):
        error: str

    @dataclass
    class SetupLine(Message):
        """One line of `olive-lab setup`'s output, as it comes."""

        line: str

    @dataclass
    class SetupDone(Message):
        returncode: int

    #: What F9 and F6 can do follows these: the footer refreshes by itself when one changes.
    report = var(None, bindings=True)
    checking = var(False, bindings=True)
    setting_up = var(False, bindings=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.checked_at: float | None = None
        self.forced_profile: str | None = None
        self.setup_returncode: int | None = None

    def compose(self):
        yield self.title_widget("Machine check")
        yield Static("Not checked yet: F9 checks this machine.", id="check-summary", markup=False)
        table = DataTable(id="findings", cursor_type="row", zebra_stripes=False)
        table.add_column("", key="sev", width=7)
        table.add_column("check", key="title", width=16)
        table.add_column("found", key="detail", width=30)
        yield table
        yield Static("", id="check-detail", markup=False)
        yield Static("", id="check-profile", markup=False)
        yield LogView(max_lines=2000, id="check-setup-log", classes="log")

    # --- running the check -------------------------------------------------------------------------------------

    def can(self, action: str):
        if action == "recheck":
            return None if self.checking or self.setting_up else True
        if action == "setup":
            if self.setting_up:
                return None
            return self._overlay_missing() or False
        return False

    def do(self, action: str) -> None:
        if action == "recheck" and not self.checking:
            self.recheck()
        elif action == "setup" and not self.setting_up and self._overlay_missing():
            self.set_up_awq_flow()

    def _overlay_missing(self) -> bool:
        """The report says the gpu profile runs without its AWQ overlay (the flow finding is not ok)."""
        flow = self.report.finding("flow") if self.report is not None else None
        return flow is not None and flow.severity != "ok"

    # --- making the AWQ overlay -----------------------------------------------------------------------------------

    def set_up_awq_flow(self) -> None:
        self.setting_up = True
        self.setup_returncode = None
        log = self.query_one("#check-setup-log", LogView)
        log.clear()
        log.add_class("-shown")
        workdir = Path(self.lab.workspace.root if self.lab else self.workdir)
        self.query_one("#check-summary", Static).update("Setting up the AWQ flow: `olive-lab setup --profile gpu` "
                                                        f"(log: {workdir / 'logs' / 'setup.log'})…")
        self._run_setup(setup_argv(), workdir / "logs" / "setup.log")

    @work(thread=True, exclusive=True, group="check-setup", exit_on_error=False)
    def _run_setup(self, argv: list[str], log_path: Path) -> None:
        """Run the setup command in its own process group, teed to `log_path`; post each line, then the exit."""
        log_path.parent.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="100")
        with open(log_path, "a", encoding="utf-8") as tee:
            tee.write("$ " + " ".join(argv) + "\n")
            self.post_message(self.SetupLine("$ " + " ".join(argv)))
            try:
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                        bufsize=1, env=env, start_new_session=True)
            except OSError as exc:
                self.post_message(self.SetupLine(f"cannot start {argv[0]}: {exc}"))
                self.post_message(self.SetupDone(127))
                return
            for line in proc.stdout:
                tee.write(line)
                self.post_message(self.SetupLine(line.rstrip("\n")))
            self.post_message(self.SetupDone(proc.wait()))

    @on(SetupLine)
    def _setup_line(self, message: SetupLine) -> None:
        self.query_one("#check-setup-log", LogView).write_line(message.line)

    @on(SetupDone)
    def _setup_done(self, message: SetupDone) -> None:
        self.setting_up = False
        self.setup_returncode = message.returncode
        if message.returncode == 0:
            self.recheck()  # the flow row turns faithful
            return
        self.query_one("#check-summary", Static).update(Text(
            f"✗ Setting up the AWQ flow failed (exit {message.returncode}): the log below says why; "
            "F6 tries again.", style="bold red"))

    def recheck(self) -> None:
        self.checking = True
        self.query_one("#check-summary", Static).update("Checking this machine… (GPU, CUDA, torch, "
                                                        "onnxruntime-genai, packages, disk, Azure)")
        workdir = self.lab.workspace.root if self.lab else self.workdir
        self._run_check(str(workdir), self.forced_profile)
        self.row_changed()

    @work(thread=True, exclusive=True, group="check", exit_on_error=False)
    def _run_check(self, workdir: str, profile: str | None) -> None:
        try:
            report = core.run_checks(workdir, profile)
        except Exception as exc:  # noqa: BLE001 - shown on screen
            self.post_message(self.CheckFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Checked(report))

    @on(Checked)
    def _checked(self, message: Checked) -> None:
        self.show_report(message.report)

    @on(CheckFailed)
    def _failed(self, message: CheckFailed) -> None:
        self.checking = False
        self.query_one("#check-summary", Static).update(Text(f"✗ The check itself failed: {message.error}",
                                                             style="bold red"))
        self.row_changed()

    # --- showing it ---------------------------------------------------------------------------------------------

    def on_resize(self) -> None:
        self._fit_columns()

    def _fit_columns(self) -> None:
        """The "found" column takes the rest of the width (its text is cut with … ; the full text is below)."""
        table = self.query_one("#findings", DataTable)
        width = max(12, self.size.width - 7 - 16 - 2 * 3 - 3)
        for col in table.columns.values():
            if col.key.value == "detail" and col.width != width:
                col.width = width
                col.auto_width = False
                table.refresh()

    def show_report(self, report) -> None:
        self.report = report
        self.checking = False
        self.checked_at = self.clock()
        table = self.query_one("#findings", DataTable)
        table.clear()
        for f in report.findings:
            label, _ = SEVERITY.get(f.severity, (f.severity, ""))
            style = SEVERITY_STYLE.get(f.severity, "")
            table.add_row(Text(label, style=style), Text(f.title, style=style if f.severity != "ok" else ""),
                          Text(f.detail, no_wrap=True, overflow="ellipsis"), key=f.key)
        self._fit_columns()
        counts = {s: sum(1 for f in report.findings if f.severity == s) for s in SEVERITY}
        summary = Text()
        if report.blocking:
            summary.append(f"✗ {counts['blocking']} blocking", style="bold red")
            summary.append(f" for the {report.profile} profile · ")
        elif report.findings and counts["warning"]:
            summary.append(f"! {counts['warning']} warning(s)", style="yellow")
            summary.append(f"; nothing blocks the {report.profile} profile · ")
        else:
            summary.append(f"✓ Ready for the {report.profile} profile", style="green")
            summary.append(" · ")
        summary.append(f"{counts['ok']} ok · checked at {time.strftime('%H:%M', time.localtime(self.checked_at))}"
                       f" in {getattr(report, 'elapsed_s', 0.0):.1f} s · F9 re-check", style="dim")
        self.query_one("#check-summary", Static).update(summary)
        self._show_profile()
        if report.findings:
            first = next((i for i, f in enumerate(report.findings) if f.severity != "ok"), 0)
            table.move_cursor(row=first)
            self._show_finding(report.findings[first])
        self.row_changed()

    def _show_profile(self) -> None:
        report = self.report
        if report is None:
            return
        text = Text()
        text.append("Profile: ", style="bold")
        text.append(report.profile, style="bold cyan")
        if getattr(report, "profile_forced", False):
            text.append(" (chosen with --profile)", style="dim")
        text.append(f" — {report.profile_reason}")
        lab_profile = self.lab.profile.name if self.lab else None
        if lab_profile and lab_profile != report.profile:
            text.append(f"\nThis work folder uses the {lab_profile} profile (remembered in .olive-lab/lab.json).",
                        style="yellow")
        self.query_one("#check-profile", Static).update(text)

    def set_lab(self, lab) -> None:
        super().set_lab(lab)
        self._show_profile()

    @on(DataTable.RowHighlighted, "#findings")
    def _row(self, event: DataTable.RowHighlighted) -> None:
        if self.report is None or event.row_key is None:
            return
        finding = next((f for f in self.report.findings if f.key == event.row_key.value), None)
        if finding:
            self._show_finding(finding)

    def _show_finding(self, finding) -> None:
        text = Text()
        text.append(f"{finding.title}: ", style="bold")
        text.append(finding.detail)
        if finding.fix:
            text.append("\nFix: ", style="bold yellow" if finding.severity != "ok" else "bold")
            text.append(finding.fix)
        self.query_one("#check-detail", Static).update(text)

    @property
    def row(self) -> Outcome:
        if self.report is None:
            return Outcome("running" if self.checking else "pending")
        if self.report.blocking:
            return Outcome("failed")
        if self.report.warnings:
            return Outcome("warning", note="warn")
        return Outcome("done", note="ok")
