"""`olive-lab serve`: the same wizard in a browser, through textual-serve (for facilitators and port forwarding).

Each browser visit starts a new wizard process; runs live on disk with one lock per work folder, so a page
reload re-attaches to the running step. A tab's wizard dies with the server (a parent-death signal), so stopping
the server never leaves one behind. It binds to the loopback address unless told otherwise: the page can start
and cancel runs and shows Azure sign-in codes, and textual-serve has no login of its own, so beyond loopback
(--public) every request needs a random token, given in the link printed at start (then kept in a cookie).
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import os
import secrets
import shlex
import signal
import sys

from ..cli import EXIT_OK, EXIT_USAGE, add_lab_options

WARNING = ("WARNING: serving on {host}, which is not a loopback address. Anyone who has the link below can run the "
           "lab's commands in {workdir} and see Azure sign-in codes; without its token the page answers 403. "
           "Prefer the default (127.0.0.1) with SSH or VS Code port forwarding.")
TOKEN_COOKIE = "olive_lab_token"
#: How long the server waits for open tabs' wizards to quit when it stops (the parent-death signal ends the rest).
TAB_QUIT_S = 5.0


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


def wizard_command(args: argparse.Namespace, server_pid: int | None = None) -> str:
    """The shell command textual-serve runs for each visit: this Python, the wizard, the same lab options.

    `exec` makes the wizard the server's own child, so it gets the parent-death signal when the server ends.
    """
    words = [sys.executable, "-m", "olive_lab.commands.serve", "--tab-of", str(server_pid or os.getpid()),
             "--workdir", str(getattr(args, "workdir", None) or ".")]
    for option in ("profile", "model", "data"):
        value = getattr(args, option, None)
        if value:
            words += [f"--{option}", str(value)]
    return "exec " + shlex.join(words)


def tab_main(argv: list[str]) -> int:
    """`--tab-of SERVER_PID WIZARD_ARGS...`: one tab's wizard, which ends (SIGKILL) when the server does."""
    from olive_lab.cli import main
    from olive_lab.steps.runstate import die_with_parent

    die_with_parent(signal.SIGKILL, parent=int(argv[1]))
    return main(argv[2:])


def token_guard(token: str):
    """aiohttp middleware: a request passes with `?token=` (which sets the cookie) or with the cookie."""
    from aiohttp import web

    def matches(value: str | None) -> bool:
        return value is not None and hmac.compare_digest(value.encode(), token.encode())

    @web.middleware
    async def guard(request, handler):
        if matches(request.cookies.get(TOKEN_COOKIE)):
            return await handler(request)
        if matches(request.query.get("token")):
            response = await handler(request)
            response.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="Strict")
            return response
        raise web.HTTPForbidden(text="This Olive Lab wizard needs its link with the token, as printed where "
                                     "`olive-lab serve --public` was started.\n")

    return guard


def server_class():
    """textual-serve's Server, with the token guard when a token is set."""
    import asyncio

    from textual_serve.server import Server

    class GuardedServer(Server):
        token: str | None = None
        tabs: set = set()

        async def _make_app(self):
            app = await super()._make_app()
            if self.token:
                app.middlewares.append(token_guard(self.token))
            return app

        async def handle_websocket(self, request):
            """One open tab; kept so that stopping the server can end it (its wizard quits like a closed tab)."""
            task = asyncio.current_task()
            self.tabs.add(task)
            try:
                return await super().handle_websocket(request)
            finally:
                self.tabs.discard(task)

        async def on_shutdown(self, app) -> None:
            tabs = list(self.tabs)
            for task in tabs:
                task.cancel()
            await asyncio.wait(tabs, timeout=TAB_QUIT_S) if tabs else None

    return GuardedServer


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
        server = server_class()(wizard_command(args), host=host, port=args.port, title="Olive Lab",
                                public_url=args.public_url)
    except ImportError:
        print("olive-lab serve needs textual-serve: pip install 'olive-lab[serve]'", file=sys.stderr)
        return EXIT_USAGE
    link = args.public_url or f"http://{host}:{args.port}"
    if not is_loopback(host):
        server.token = secrets.token_urlsafe(24)
        link = f"{link.rstrip('/')}/?token={server.token}"
    print(f"Serving the Olive Lab wizard for {workdir} at {link} "
          "(ctrl+c stops the server and its tabs' wizards; runs in progress go on).", file=sys.stderr)
    server.serve()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(tab_main(sys.argv[1:]))
