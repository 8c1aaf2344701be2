"""`olive-lab serve` safe to leave running: a tab's wizard ends with its tab or with the server, and beyond
loopback every request needs the token printed at start.

A tab is opened the way the browser page does: a websocket to /ws, which makes textual-serve start the wizard.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from procs import live_processes

aiohttp = pytest.importorskip("aiohttp")
pytest.importorskip("textual_serve")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid: int) -> list[int]:
    """Live processes whose parent is `pid` (the server's tab wizards)."""
    return [p.pid for p in live_processes() if p.ppid == pid]


def alive(pid: int) -> bool:
    return any(p.pid == pid for p in live_processes())


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


class Served:
    def __init__(self, tmp_path: Path, *extra: str):
        self.port = _free_port()
        self.proc = subprocess.Popen([sys.executable, "-m", "olive_lab", "serve", "--port", str(self.port),
                                      "--workdir", str(tmp_path), "--profile", "cpu", *extra],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                     start_new_session=True)
        self.banner = ""
        while "Serving the Olive Lab wizard" not in self.banner:
            line = self.proc.stderr.readline()
            assert line, "the server ended at start"
            self.banner += line
        wait_until(self._listening, 30, "the server never listened")

    def _listening(self) -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", self.port)) == 0

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=20)


@pytest.fixture
def served(tmp_path):
    started = []

    def start(*extra: str) -> Served:
        started.append(Served(tmp_path, *extra))
        return started[-1]

    yield start
    for server in started:
        if server.proc.poll() is None:
            os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(timeout=20)


async def open_tab(port: int, session, query: str = ""):
    """Connect as the page does and wait for the wizard's first screen bytes."""
    ws = await session.ws_connect(f"http://127.0.0.1:{port}/ws?width=100&height=30{query}")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = await ws.receive(timeout=60)
        if msg.type == aiohttp.WSMsgType.BINARY or msg.type == aiohttp.WSMsgType.TEXT:
            return ws
        raise AssertionError(f"the tab closed: {msg}")
    raise AssertionError("the wizard never drew")


def test_stopping_the_server_ends_every_tab_wizard(served):
    server = served()

    async def scenario() -> list[int]:
        async with aiohttp.ClientSession() as session:
            await open_tab(server.port, session)
            tabs = children(server.proc.pid)
            assert tabs, "no wizard started for the tab"
            server.stop()  # SIGTERM, with the tab still open
            return tabs

    tabs = asyncio.run(scenario())
    wait_until(lambda: not any(alive(p) for p in tabs), 10, f"tab wizards left after the server stopped: {tabs}")


def test_closing_the_tab_ends_its_wizard(served):
    server = served()

    async def scenario() -> list[int]:
        async with aiohttp.ClientSession() as session:
            ws = await open_tab(server.port, session)
            tabs = children(server.proc.pid)
            await ws.close()
            return tabs

    tabs = asyncio.run(scenario())
    assert tabs
    wait_until(lambda: not any(alive(p) for p in tabs), 20, f"the closed tab's wizard is still running: {tabs}")
    assert server.proc.poll() is None


def test_public_serving_needs_the_token_from_the_printed_link(served):
    server = served("--host", "0.0.0.0", "--public")
    token = re.search(r"\?token=([\w-]+)", server.banner)
    assert token, server.banner
    base = f"http://127.0.0.1:{server.port}"
    with pytest.raises(urllib.error.HTTPError) as denied:
        urllib.request.urlopen(f"{base}/", timeout=10)
    assert denied.value.code == 403 and b"token" in denied.value.read()
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(f"{base}/?token=wrong{token[1]}", timeout=10)
    page = urllib.request.urlopen(f"{base}/?token={token[1]}", timeout=10)
    assert "Olive Lab" in page.read().decode()
    assert "olive_lab_token" in page.headers.get("Set-Cookie", "")

    async def tab_without_token() -> int:
        async with aiohttp.ClientSession() as session:
            try:
                await session.ws_connect(f"http://127.0.0.1:{server.port}/ws")
            except aiohttp.WSServerHandshakeError as exc:
                return exc.status
            return 101

    assert asyncio.run(tab_without_token()) == 403
    assert not children(server.proc.pid), "no wizard may start for a request without the token"
