"""`olive-lab status`: each step's state in this work folder; `--follow` re-attaches to an active run."""

from __future__ import annotations

import argparse

from olive_lab.cli import EXIT_FAILED, EXIT_OK, add_lab_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="show each step's state; --follow re-attaches to a running step")
    add_lab_options(p)
    p.add_argument("--follow", "-f", action="store_true", help="follow the active run until it ends")
    p.add_argument("--verbose", "-v", action="store_true", help="with --follow: print every log line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from olive_lab.follow import PipeConsole, without_broken_pipe

    return without_broken_pipe(_status, PipeConsole(highlight=False), args)


def _status(console, args: argparse.Namespace) -> int:
    from rich.text import Text

    from olive_lab.commands.run import follow_run, report_set_aside, summary
    from olive_lab.steps import pipeline, runner

    lab = pipeline.load_lab(args.workdir, args.profile, args.model, args.data)
    handle = runner.attach(lab)
    if handle is None:
        console.print("No run is active in this work folder.")
    elif args.follow:
        console.print(f"Following the active run ({', '.join(handle.steps)}).")
        code = follow_run(console, handle, args.verbose)
        summary(console, lab)
        return code
    else:
        console.print(f"A run is active: step [cyan]{handle.current_step() or 'starting'}[/]. "
                      "`olive-lab status --follow` follows it; `olive-lab cancel` stops it.")
    states = pipeline.status(lab)
    report_set_aside(console)
    summary(console, lab)
    failed = [s for s, st in states.items() if st.status in ("failed", "cancelled")]
    for step in failed:
        state = states[step]
        console.print(Text(f"{step}: {state.reason}", style="red") +
                      Text(f"\n  Fix: {state.advice}" if state.advice else ""))
    return EXIT_FAILED if failed else EXIT_OK
