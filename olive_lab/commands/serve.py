"""`olive-lab serve`: the same wizard in a browser, through textual-serve (for facilitators and port forwarding).

Each browser visit starts a new wizard process; runs live on disk with one lock per work folder, so a page
reload re-attaches to the running step. It binds to the loopback address unless told otherwise: the page can
start and cancel runs and shows Azure sign-in codes, and textual-serve has no login of its own.
"""

from __future__ import annotations

import argparse
import ipaddress
import shlex
import sys

from ..cli import EXIT_OK, EXIT_USAGE, add_lab_options

WARNING = ("WARNING: serving on {host}, which is not a loopback address. Anyone who can reach this port can run "
           "the lab's commands in {workdir} and see Azure sign-in codes: textual-serve has no login. Prefer the "
           "default (127.0.0.1) with SSH or VS Code port forwarding.")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("serve", help="serve the wizard in a browser (textual-serve), on localhost by default",
                       description="Serve the wizard over HTTP with textual-serve. Each browser tab runs its own "
                                   "wizard; a run in progress is re-attached. Binds to 127.0.0.1 unless --public "
                                   "is given (then --host may be any address).")
    add_lab_options(p)
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1; others need --public)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    p.add_argument("--public", action="store_true",
                   help="allow a non-loopback --host (prints a warning: the page can run commands)")
    p.add_argument("--public-url", default=None, help="the URL browsers use, when behind a proxy or forwarder")
    p.set_defaults(run=run)
    return p


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def wizard_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs for each visit: this Python, the wizard, the same lab options."""
    words = [sys.executable, "-m", "olive_lab", "--workdir", str(getattr(args, "workdir", None) or ".")]
    for option in ("profile", "model", "data"):
        value = getattr(args, option, None)
        if value:
            words += [f"--{option}", str(value)]
    return shlex.join(words)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    host = args.host
    workdir = str(Path(getattr(args, "workdir", None) or ".").expanduser().resolve())
    args.workdir = workdir
    if not is_loopback(host):
        if not args.public:
            print(f"olive-lab serve: {host} is not a loopback address; add --public to serve on it "
                  "(anyone who reaches the port can run commands: there is no login).", file=sys.stderr)
            return EXIT_USAGE
        print(WARNING.format(host=host, workdir=workdir), file=sys.stderr)
    try:
        from textual_serve.server import Server
    except ImportError:
        print("olive-lab serve needs textual-serve: pip install 'olive-lab[serve]'", file=sys.stderr)
        return EXIT_USAGE
    server = Server(wizard_command(args), host=host, port=args.port, title="Olive Lab",
                    public_url=args.public_url)
    print(f"Serving the Olive Lab wizard for {workdir} at {args.public_url or f'http://{host}:{args.port}'} "
          "(ctrl+c stops the server; runs in progress go on).", file=sys.stderr)
    server.serve()
    return EXIT_OK
