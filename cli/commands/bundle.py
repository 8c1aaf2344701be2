"""`olive-lab bundle --profile cpu DIR` (or gpu): every wheel of a profile's lock in one folder, for offline
setup on many machines (`bash scripts/lab.sh --from DIR`, or `olive-lab setup --wheels DIR` for the overlay).

Exit codes: 0 when the bundle holds everything asked for, 1 when something could not be fetched or built.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, add_lab_options


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("bundle", help="put every wheel of a profile's lock (and the gpu overlay's) into a folder",
                       description="Download every wheel of the profile's lock (locks/), torch, and on the gpu "
                                   "profile the awq-tf4 overlay (autoawq built into a wheel) into DIR, so that "
                                   "`bash scripts/lab.sh --from DIR` sets up a machine with no network.")
    add_lab_options(p)
    p.add_argument("dest", type=Path, metavar="DIR", help="the folder to fill (made if missing)")
    p.add_argument("--python", default=None, metavar="X.Y", help="the Python the wheels are for (default: this one)")
    p.add_argument("--only", default=None, metavar="NAMES",
                   help="comma-separated lock entries to take (e.g. what a machine image lacks); default: all")
    p.add_argument("--without-torch", action="store_true", help="leave torch out (the machine image has it)")
    p.add_argument("--with-model", action="store_true",
                   help="also copy the profile's base model from --workdir (download it there first: "
                        "`olive-lab run --only model`)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from olive_lab.steps import bundle, locks
    from olive_lab.steps.units import fmt_bytes

    console = Console(highlight=False)
    profile = getattr(args, "profile", None) or "cpu"
    model = None
    if args.with_model:
        from olive_lab.steps.lab import Lab
        from olive_lab.steps.profiles import PROFILES

        lab = Lab.create(getattr(args, "workdir", None) or ".", PROFILES[profile], model=getattr(args, "model", None))
        model = lab.base_dir
        if not (model / "config.json").is_file():
            console.print(f"[red]no base model in {model}[/]: download it first with "
                          f"`olive-lab run --only model` (with --profile {profile})")
            return EXIT_USAGE
    only = {locks.canonical(n) for n in args.only.split(",") if n.strip()} if args.only else None
    result = bundle.make(profile, args.dest, python=args.python, only=only, with_torch=not args.without_torch,
                         model=model, log=lambda line: console.print(f"[dim]{escape(line)}[/]"))
    if not result.ok:
        for problem in result.problems:
            console.print(f"[red]✗[/] {escape(problem)}")
        return EXIT_FAILED
    console.print(f"[green]✓[/] {len(result.files)} files, {fmt_bytes(result.size_bytes)} in {result.folder}. On each machine: "
                  f"`bash scripts/lab.sh --from {result.folder}`")
    return EXIT_OK
