"""`olive-lab run`: the whole lab (or part of it) headless, with live progress and a summary table."""

from __future__ import annotations

import argparse
import time

from olive_lab.cli import EXIT_BLOCKED, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_lab_options

SAMPLE_PROMPT = "What should I not miss on a first visit to Lisbon?"
#: After a broken pipe, how long to wait for the Ctrl+C that may have caused it.
PIPE_GRACE_S = 0.5


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("run", help="run the lab's steps headless (model, quantize, finetune, optimize, evaluate, chat)",
                       description="Run the lab's steps in order. Steps whose inputs did not change are skipped. "
                                   "The run continues if this terminal goes away; `olive-lab status --follow` "
                                   "re-attaches.")
    add_lab_options(p)
    which = p.add_mutually_exclusive_group()
    which.add_argument("--from", dest="from_step", metavar="STEP", help="start at STEP (and run the ones after)")
    which.add_argument("--only", metavar="STEP", help="run only STEP")
    p.add_argument("--force", action="store_true", help="run the steps even if their outputs are up to date")
    p.add_argument("--detach", action="store_true", help="start the run and return at once")
    p.add_argument("--no-chat", action="store_true", help="do not end with a sample chat reply")
    p.add_argument("--verbose", "-v", action="store_true", help="print every log line")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from olive_lab.follow import PipeConsole, without_broken_pipe

    return without_broken_pipe(_run, PipeConsole(highlight=False), args)


def _run(console, args: argparse.Namespace) -> int:
    from olive_lab.steps import pipeline, planner, runner

    try:
        steps = planner.select_steps(only=args.only, from_step=args.from_step)
    except planner.UnknownStep as exc:
        console.print(f"[red]olive-lab run: {exc}[/]")
        return EXIT_USAGE
    profile = pipeline.resolve_profile(args.workdir, args.profile)
    report_set_aside(console)
    if profile in (None, "gpu"):
        report = machine_check(console, args.workdir, profile)
        if report.blocking:
            return EXIT_BLOCKED
        profile = report.profile
    lab = pipeline.load_lab(args.workdir, profile, args.model, args.data, getattr(args, "eval_data", None))
    console.print(f"[bold]Olive Lab[/] · profile [cyan]{lab.profile.name}[/] · work folder {lab.workspace.root}")
    flow = pipeline.machine_flow(lab)
    if flow is not None:
        console.print(f"GPU flow [cyan]{flow.line()}[/]", markup=True)
    if runner.attach(lab) is not None:
        return already_running(console, lab)
    if "finetune" in steps and (code := check_data(console, lab)) != EXIT_OK:
        return code
    request = planner.plan_run(lab, steps, args.force, flow)
    report_set_aside(console)
    if request.blocked:
        report_skipped(console, request)
        report_blocked(console, request)
        return EXIT_BLOCKED
    if not request.steps:
        report_skipped(console, request)
        code = EXIT_OK
    else:
        try:
            handle = runner.start(lab, list(request.steps), force=args.force)
        except runner.AlreadyRunning:
            return already_running(console, lab)
        except runner.NotEnoughSpace as exc:  # checked before every run, saved profile or not
            console.print(f"[red]✗ {exc}[/]")
            return EXIT_BLOCKED
        except runner.RunnerFailed as exc:
            console.print(f"[red]olive-lab run: {exc}[/]")
            return EXIT_FAILED
        except KeyboardInterrupt:
            console.print("[yellow]Cancelled before the first step started.[/]")
            return EXIT_CANCELLED
        if args.detach:
            console.print(f"Started in the background. Follow it with: olive-lab status --follow -w {lab.workspace.root}")
            return EXIT_OK
        report_skipped(console, request)
        code = follow_run(console, handle, args.verbose)
    try:
        if code == EXIT_OK and "optimize" in steps:
            from olive_lab.steps.chat import write_app

            console.print(f"Wrote {lab.workspace.relative(write_app(lab))}: the lab's chat app (python app.py)")
        if code == EXIT_OK and not args.no_chat and "optimize" in steps:
            sample_chat(console, lab)
        if code == EXIT_OK and "evaluate" in steps:
            show_evaluation(console, lab)
        summary(console, lab)
    except BrokenPipeError:
        pass  # the reader is gone (`| head`, or Ctrl+C ended `| tee`): the run's result stands
    return code


def already_running(console, lab) -> int:
    """A second run in a folder never starts, and never follows someone else's run by surprise."""
    from olive_lab.steps.runstate import AlreadyRunning, read_run

    console.print(f"[red]{AlreadyRunning(read_run(lab.workspace).get('current'))}[/]")
    return EXIT_BLOCKED


def report_set_aside(console) -> None:
    """Say which state or settings files were found broken and set aside (so the user knows what is redone)."""
    from rich.text import Text

    from olive_lab.steps.workspace import take_notices

    for notice in take_notices():
        console.print(Text(f"! {notice}", style="yellow"), soft_wrap=True)


def machine_check(console, workdir, profile: str | None):
    """The check picks the profile (and says why) on a first run, and guards every gpu run."""
    from rich.text import Text

    from olive_lab.steps.check import run_checks

    report = run_checks(workdir, profile)
    console.print(Text(f"Profile {report.profile}: {report.profile_reason}"))
    for finding in report.blocking:
        console.print(Text(f"✗ {finding.title}: {finding.detail}", style="red"))
        if finding.fix:
            console.print(Text(f"  Fix: {finding.fix}", style="yellow"))
    return report


def report_skipped(console, request) -> None:
    """Steps that need no run, and why (the planner recorded outputs made by hand as done)."""
    from rich.text import Text

    for step, reason in request.skipped.items():
        console.print(Text(f"↷ {step:<9} {reason}", style="dim"))


def report_blocked(console, request) -> None:
    """The step that cannot run yet, and what stops it."""
    from rich.text import Text

    for step, reason in request.blocked.items():
        console.print(Text(f"✗ {step}: {reason}", style="red"), soft_wrap=True)


def check_data(console, lab) -> int:
    """Fine-tuning on a broken dataset fails minutes in; say so before anything runs."""
    from rich.text import Text

    from olive_lab.steps.data import describe_errors, inspect_dataset

    report = inspect_dataset(lab.dataset)
    if report.ok:
        return EXIT_OK
    console.print(Text(describe_errors(report, limit=10), style="red"))
    console.print("Fix them (`olive-lab data` shows every problem), or pass --data with another file.")
    return EXIT_FAILED


def follow_run(console, handle, verbose: bool) -> int:
    """Follow every step of a run to its end. Ctrl+C cancels the run (it would otherwise go on detached).

    Under a pipe, Ctrl+C also ends the reader (`| tee log`), so printing may fail before (or instead of) the
    KeyboardInterrupt: the signal is noted when it arrives, and the cancel comes before anything is printed.
    A reader that goes away alone (`| head`) leaves the run going on, as a closed terminal does.
    """
    import signal

    from olive_lab.follow import show
    from olive_lab.steps.events import Failed
    from olive_lab.steps.workspace import StepState

    interrupted: list[int] = []

    def on_sigint(signum, _frame):
        interrupted.append(signum)
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGINT, on_sigint)
    code = EXIT_OK
    try:
        try:
            for step in handle.steps:
                started = StepState.load(handle.workspace, step).started_at
                end = show(console, step, handle.follow(step), verbose, started)
                if isinstance(end, Failed):
                    code = EXIT_CANCELLED if end.cancelled else EXIT_FAILED
                    break
        except BrokenPipeError:
            code = EXIT_FAILED
            time.sleep(PIPE_GRACE_S)  # a Ctrl+C that ended the reader reaches us too, a moment later
    except (KeyboardInterrupt, BrokenPipeError):
        pass
    if not interrupted:
        signal.signal(signal.SIGINT, previous)
        return code
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl+C must not stop the cancel half-way
    handle.cancel()
    try:
        console.print("[yellow]Cancelled the run (stopped the running step's processes).[/]")
    except BrokenPipeError:
        pass
    return EXIT_CANCELLED


def sample_chat(console, lab) -> None:
    """End the headless lab the way the written lab does: a reply from the model, base and fine-tuned."""
    from olive_lab.steps.chat import ChatSession
    from olive_lab.steps.units import fmt_chat_stats

    session = ChatSession.for_lab(lab)
    console.print(f"\n[bold]Chat[/] · {SAMPLE_PROMPT}")
    for use_adapter in (False, True):
        if use_adapter and not session.has_adapter:
            continue
        reply = session.reply(SAMPLE_PROMPT, use_adapter=use_adapter, max_new_tokens=60)
        label = "adapter on " if use_adapter else "adapter off"
        shown = " ".join(reply.split())[:300] or f"(only line breaks and spaces: {reply[:12]!r}...)"
        console.print(f"  [cyan]{label}[/] [dim]({fmt_chat_stats(session.last_stats)})[/]: ", end="")
        console.print(shown, markup=False)


def show_evaluation(console, lab) -> None:
    from olive_lab.commands.eval import print_report
    from olive_lab.steps.evaluate import load_report

    report = load_report(lab)
    if report is not None:
        console.print()
        print_report(console, report)


def summary(console, lab) -> None:
    from rich.table import Table

    from olive_lab.steps import pipeline
    from olive_lab.steps.units import fmt_bytes, fmt_duration

    table = Table(title="Lab status", title_justify="left")
    for column in ("step", "status", "time", "output", "size"):
        table.add_column(column)
    states = pipeline.status(lab)
    for step in pipeline.RUNNABLE:
        state = states[step]
        output = next(iter(state.outputs.values()), "")
        size = pipeline.output_size(lab.workspace.root / output) if output else 0
        status = state.status + (" (found)" if state.found_by_hand else "")
        table.add_row(step, status, fmt_duration(state.duration_s) if state.started_at else "", output,
                      fmt_bytes(size) if size else "")
    console.print(table)
