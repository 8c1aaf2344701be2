"""`olive-lab serve`: loopback by default, a non-loopback host only with --public (and a warning)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from olive_lab.commands.serve import is_loopback


def test_loopback_detection():
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2", "[::1]"):
        assert is_loopback(host), host
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        assert not is_loopback(host), host


def test_non_loopback_host_needs_public(tmp_path):
    out = subprocess.run([sys.executable, "-m", "olive_lab", "serve", "--host", "0.0.0.0", "--workdir",
                          str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "--public" in out.stderr and "no login" in out.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serves_the_wizard_page_on_localhost(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "olive_lab", "serve", "--port", str(port), "--workdir",
                             str(tmp_path), "--profile", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 30
        page = ""
        while time.monotonic() < deadline:
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2).read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "Olive Lab" in page and "textual" in page.lower()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=10)
    assert "127.0.0.1" in proc.stderr.read()
