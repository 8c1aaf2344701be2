"""`olive-lab command [STEP]`: the command each step runs, to copy and to learn from.

`command chat` prints the lab's app.py (redirect `olive-lab command chat` into a file to make it), `command upload` the
`az ml model create` line with the subscription, resource group and workspace resolved as the upload step does.
"""

from __future__ import annotations

import argparse

from olive_lab.cli import EXIT_OK, EXIT_USAGE, add_lab_options

#: Steps whose "command" is not a runner argv: what a learner runs by hand after the lab.
BY_HAND = ("chat", "upload")


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("command", help="print the equivalent command of a step (or of all), app.py for chat")
    add_lab_options(p)
    p.add_argument("step", nargs="?", help="model, quantize, finetune, optimize, evaluate, chat (the app.py script) "
                                           "or upload (the az ml line); default: all but chat")
    p.add_argument("--explain", action="store_true", help="also say what the step does and why")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys

    from olive_lab.steps import pipeline

    if args.step and args.step not in (*pipeline.RUNNABLE, *BY_HAND):  # before load_lab, which remembers the choices
        print(f"olive-lab command: unknown step {args.step!r}; choose one of "
              f"{', '.join((*pipeline.RUNNABLE, *BY_HAND))}", file=sys.stderr)
        return EXIT_USAGE
    lab = pipeline.load_lab(args.workdir, args.profile, args.model, args.data)
    if args.step == "chat":
        from olive_lab.steps.chat import app_script

        print(app_script(lab), end="")
        return EXIT_OK
    print(f"# in {lab.workspace.root}  (profile {lab.profile.name})")
    for step in [args.step] if args.step else [*pipeline.RUNNABLE, "upload"]:
        if step == "upload":
            print_upload(lab, args.explain)
            continue
        plan = pipeline.plan(lab, step)
        print(f"\n# {step}: {plan.title}")
        if args.explain:
            for line in (plan.explain, *plan.notes):
                print(f"# {line}")
        if olive_line := plan.olive_line(lab.workspace):
            print(f"# the Olive command it stands for: {olive_line}")
        print(plan.command_line(lab.workspace) or f"# nothing to run: {pipeline.decide(lab, step).reason}")
    if not args.step:
        print("\n# chat: the lab's app.py, for onnxruntime-genai\nolive-lab command chat > app.py && python app.py")
    return EXIT_OK


def print_upload(lab, explain: bool) -> None:
    import shlex

    from olive_lab.steps.azure_target import resolve_target
    from olive_lab.steps.optimize import model_folder
    from olive_lab.steps.upload import az_model_create

    target = resolve_target(start=lab.workspace.root)
    argv, notes = az_model_create(target, lab.workspace.relative(model_folder(lab)))
    print("\n# upload: register the optimized model in your Azure ML workspace (after `az login`)")
    if explain:
        for key in ("subscription_id", "resource_group", "workspace"):
            print(f"# {key.replace('_', ' ')}: {getattr(target, key).describe()}")
    for note in (*notes, *target.notes):
        print(f"# {note}")
    print(" ".join(a if a.startswith("<") else shlex.quote(a) for a in argv))
