"""`olive-lab`: the wizard with no subcommand, or one headless subcommand per task.

Start-up must stay fast: this module and the command modules import only the standard library at the top; each
command imports what it needs (Rich, Textual, torch, Olive) inside its `run`.
"""

from __future__ import annotations

import argparse
import importlib
import sys

#: Subcommand modules under olive_lab.commands, in the order `--help` lists them.
COMMANDS = ("check", "data", "run", "eval", "status", "cancel", "command", "chat", "upload", "setup", "bundle", "serve")

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_BLOCKED, EXIT_CANCELLED = 0, 1, 2, 3, 130


def add_lab_options(parser: argparse.ArgumentParser, *, on_subcommand: bool = True) -> None:
    """Options every command that works on a lab folder shares, accepted before or after the subcommand.

    On a subcommand the defaults are suppressed, so they never overwrite a value given before the subcommand.
    """
    default = argparse.SUPPRESS if on_subcommand else None
    parser.add_argument("--workdir", "-w", default=argparse.SUPPRESS if on_subcommand else ".",
                        help="the lab's work folder (default: current folder)")
    parser.add_argument("--profile", choices=("cpu", "gpu"), default=default, help="cpu (SmolLM2-135M, anywhere) or gpu (the lab "
                        "as written); default: chosen by the machine check, or the one already used in --workdir")
    parser.add_argument("--model", default=default, help="base model: a local folder, a Hugging Face id, or tiny (a tiny random Phi-3 for quick runs); "
                        "overrides the profile's")
    parser.add_argument("--data", default=default, help="the JSONL dataset (default: data/data_sample_travel.jsonl)")
    parser.add_argument("--eval-data", dest="eval_data", default=default, metavar="FILE",
                        help="your own held-out JSONL set for evaluation; then all of --data trains (default: the "
                             "data step holds out about 10 %% of --data)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="olive-lab",
        description="Optimize a model for on-device inference with Olive: check, data, quantize, fine-tune, "
                    "optimize, evaluate, chat, upload. With no command, opens the wizard.",
    )
    from . import __version__

    parser.add_argument("--version", action="version", version=f"olive-lab {__version__}")
    add_lab_options(parser, on_subcommand=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"olive_lab.commands.{name}").add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    name = f"olive-lab {args.command}" if args.command else "olive-lab"
    from .front_door import check_inputs, report_crash, say

    problem = check_inputs(args)
    if problem is not None:
        say(name, problem.message)
        return problem.exit_code
    try:
        if args.command is None:
            from .commands import wizard

            return wizard.run(args)
        return args.run(args)
    except KeyboardInterrupt:
        say(name, "cancelled (Ctrl+C).")
        return EXIT_CANCELLED
    except BrokenPipeError:
        quiet_broken_pipe()
        return EXIT_FAILED
    except Exception as exc:  # noqa: BLE001 - the last resort: a message, never a traceback
        return report_crash(name, exc)


def quiet_broken_pipe() -> None:
    """The reader of our output went away (`| head`): point stdout at /dev/null so the exit flush cannot fail."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    sys.exit(main())
