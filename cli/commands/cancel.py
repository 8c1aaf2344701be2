"""`olive-lab cancel`: stop the run active in a work folder, from any terminal (the wizard's F8, headless)."""

from __future__ import annotations

import argparse

from olive_lab.cli import EXIT_OK


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("cancel", help="stop the run active in the work folder (its step's whole process group)",
                       description="Cancel the run active in the work folder: the running step's processes get "
                                   "SIGTERM, then SIGKILL after --grace seconds; the steps after it do not run.")
    p.add_argument("--workdir", "-w", default=argparse.SUPPRESS, help="the lab's work folder (default: current folder)")
    p.add_argument("--grace", type=float, default=10.0, metavar="S",
                   help="seconds the step gets to stop before it is killed (default 10)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from olive_lab.steps import runner
    from olive_lab.steps.workspace import Workspace

    workspace = Workspace.at(args.workdir)
    if not runner.run_active(workspace):
        print(f"No run is active in {workspace.root}: nothing to cancel.")
        return EXIT_OK
    step = runner.cancel(workspace, args.grace)
    if runner.run_active(workspace):
        print(f"The run in {workspace.root} did not stop within {args.grace + 5:g} s; its supervisor is still alive.")
        return 1
    print(f"Cancelled the run in {workspace.root}" + (f" (step {step} stopped)." if step else "."))
    return EXIT_OK
