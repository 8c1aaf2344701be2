"""`olive-lab command [STEP]`: the Olive command each step runs, to copy and to learn from."""

from __future__ import annotations

import argparse

from olive_lab.cli import EXIT_OK, EXIT_USAGE, add_lab_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("command", help="print the equivalent Olive command of a step (or of all)")
    add_lab_options(p)
    p.add_argument("step", nargs="?", help="model, quantize, finetune or optimize (default: all)")
    p.add_argument("--explain", action="store_true", help="also say what the step does and why")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from olive_lab.steps import pipeline

    if args.step and args.step not in pipeline.RUNNABLE:  # before load_lab, which remembers the choices
        print(f"olive-lab command: unknown step {args.step!r}; choose one of {', '.join(pipeline.RUNNABLE)}",
              file=sys.stderr)
        return EXIT_USAGE
    lab = pipeline.load_lab(args.workdir, args.profile, args.model, args.data)
    print(f"# in {lab.workspace.root}  (profile {lab.profile.name})")
    for step in [args.step] if args.step else pipeline.RUNNABLE:
        plan = pipeline.plan(lab, step)
        print(f"\n# {step}: {plan.title}")
        if args.explain:
            for line in (plan.explain, *plan.notes):
                print(f"# {line}")
        print(plan.command_line(lab.workspace) or f"# nothing to run: {pipeline.decide(lab, step).reason}")
    return EXIT_OK
