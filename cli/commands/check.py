"""`olive-lab check [--json]`: can this machine run the lab, which profile fits, and what to fix.

Exit codes: 0 when nothing blocks the chosen profile, 3 (EXIT_BLOCKED) when something does.
"""

from __future__ import annotations

import argparse
import json
import sys

from ..cli import EXIT_BLOCKED, EXIT_OK, add_lab_options

_STYLE = {"ok": ("✓", "green"), "warning": ("!", "yellow"), "blocking": ("✗", "bold red")}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("check", help="check this machine (GPU, CUDA, packages, disk, Azure) and pick a profile",
                       description="Check this machine for the lab: NVIDIA GPU, driver and CUDA, torch, "
                                   "onnxruntime-genai, Python and packages, disk, RAM, Azure sign-in. "
                                   "Exits 0 when nothing blocks the chosen profile, 3 when something does.")
    add_lab_options(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON (stable keys) instead of a table")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from olive_lab.steps.check import run_checks

    workdir = getattr(args, "workdir", None) or "."
    report = run_checks(workdir, getattr(args, "profile", None))
    if getattr(args, "json", False):
        sys.stdout.write(json.dumps(report.to_dict(), indent=2) + "\n")
        sys.stdout.flush()
    else:
        render(report)
    return EXIT_OK if report.ok else EXIT_BLOCKED


def render(report, console=None) -> None:
    """The report as a Rich table, then the profile and why."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = console or Console()
    table = Table(title="Olive Lab: machine check", title_justify="left", show_lines=True, expand=True)
    table.add_column("", width=1, no_wrap=True)
    table.add_column("Check", no_wrap=True)
    table.add_column("Found", ratio=3, overflow="fold")
    table.add_column("Fix", ratio=2, overflow="fold")
    for f in report.findings:
        symbol, style = _STYLE[f.severity]
        table.add_row(Text(symbol, style=style), Text(f.title, style=style if f.severity != "ok" else ""),
                      Text(f.detail), Text(f.fix))
    console.print(table)

    head = Text("Profile: ", style="bold")
    head.append(report.profile, style="bold cyan")
    if report.profile_forced:
        head.append(" (from --profile)", style="dim")
    console.print(head)
    console.print(Text(report.profile_reason))
    flow = report.finding("flow")
    if flow is not None and flow.severity != "ok":
        console.print(Text("To run the lab as written (AWQ → LoRA on the AWQ model): olive-lab setup --profile gpu",
                           style="bold yellow"))
    if report.blocking:
        names = ", ".join(f.title for f in report.blocking)
        console.print(Text(f"✗ {len(report.blocking)} blocking for the {report.profile} profile: {names}. "
                           "Fix them (see the Fix column) and run `olive-lab check` again.", style="bold red"))
    elif report.warnings:
        console.print(Text(f"! {len(report.warnings)} warning(s); nothing blocks the {report.profile} profile.",
                           style="yellow"))
    else:
        console.print(Text(f"✓ Ready for the {report.profile} profile.", style="green"))
    console.print(Text(f"Checked in {report.elapsed_s:.1f} s.", style="dim"))
