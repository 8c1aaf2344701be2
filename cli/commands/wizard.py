"""The wizard: `olive-lab` with no subcommand opens the Textual app (olive_lab.tui)."""

from __future__ import annotations

import argparse
import sys


def run(args: argparse.Namespace) -> int:
    from olive_lab.tui.app import OliveLabApp

    app = OliveLabApp(getattr(args, "workdir", None) or ".", getattr(args, "profile", None),
                      getattr(args, "model", None), getattr(args, "data", None))
    app.run()
    handle = app.wizard.follower.handle
    if handle is not None:
        # Runs are detached: closing the wizard never stops one.
        print(f"The run goes on in the background ({', '.join(handle.steps)}). Open `olive-lab` again in "
              f"{app.workdir} to follow it, or `olive-lab status --follow`.", file=sys.stderr)
    return app.return_code or 0
