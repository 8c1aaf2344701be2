"""`olive-lab setup [--profile gpu]`: make the pinned per-step environments a profile needs, and say which flow runs.

The gpu profile's AWQ and finetune-on-AWQ steps need transformers 4.51.3 + AutoAWQ 0.2.9 + peft 0.17.1 (the main
environment has transformers 5); setup installs them as the `awq-tf4` overlay (steps/envs.py). It is reused on
later runs and rebuilt only with --force. It installs from its hashed lock (locks/awq-tf4.txt). Offline: `--wheels
DIR` installs from a bundle made by `olive-lab bundle --profile gpu DIR` (its own copy of the lock also accepts the
autoawq wheel built there). `scripts/lab.sh` runs this on a GPU machine; the wizard's check offers it as F6.

Exit codes: 0 when every environment of the profile is ready, 1 when one could not be made, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE

#: Which overlays each profile uses.
PROFILE_OVERLAYS = {"gpu": ("awq-tf4",), "cpu": ()}


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("setup", help="install the pinned per-step environments a profile needs (gpu: AWQ + LoRA on AWQ)",
                       description="Install the pinned per-step Python environments of a profile. The gpu profile "
                                   "needs transformers 4.51.3 + AutoAWQ 0.2.9 + peft 0.17.1 for its AWQ and "
                                   "finetune-on-AWQ steps, beside the main environment's transformers 5.")
    p.add_argument("--profile", choices=sorted(PROFILE_OVERLAYS), default="gpu", help="default: gpu")
    p.add_argument("--wheels", type=Path, default=None, metavar="DIR",
                   help="install offline from a bundle (`olive-lab bundle --profile gpu DIR`) or folder of wheels (pip --no-index)")
    p.add_argument("--force", action="store_true", help="reinstall even if the environment is ready")
    p.add_argument("--check", action="store_true", help="only report; install nothing")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.markup import escape

    from olive_lab.steps import envs

    console = Console(highlight=False)
    names = PROFILE_OVERLAYS.get(args.profile)
    if names is None:
        console.print(f"[red]unknown profile {args.profile}[/]")
        return EXIT_USAGE
    if not names:
        console.print(f"The {args.profile} profile runs in the main environment: nothing to set up.")
        return EXIT_OK
    code = EXIT_OK
    for name in names:
        overlay = envs.OVERLAYS[name]
        console.print(f"[bold]{name}[/]: {overlay.purpose}")
        console.print(f"  pins: {' '.join(overlay.pins)}")
        console.print(f"  folder: {envs.overlay_dir(name)}")
        if args.check:
            status = envs.inspect(name)
        else:
            status = envs.create(name, wheel_dir=args.wheels, force=args.force,
                                 log=lambda line: console.print(f"  [dim]{escape(line)}[/]"))
        if status.ready:
            console.print(f"  [green]ready[/]: {status.summary()}")
        else:
            console.print(f"  [red]not ready[/]: {status.summary()}")
            code = EXIT_FAILED
    if args.profile == "gpu":
        from olive_lab.steps.flows import gpu_flow

        console.print(f"GPU flow: [cyan]{gpu_flow().line()}[/]")
    return code
