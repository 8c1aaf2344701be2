"""The installed `olive-lab` in a real terminal (tmux): keys in with send-keys, the screen out with capture-pane.

1. check -> data -> run the cpu lab -> chat with the adapter on and off, asserting what the screen shows.
2. The terminal is killed during finetune; a new wizard re-attaches, follows the step to its end, and the log is
   complete.
Each test runs its own tmux server (-L), so nothing else on the machine is touched.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from conftest import make_workdir

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed (apt-get install tmux)")]

WIDTH, HEIGHT = 80, 24


def olive_lab_exe() -> str:
    exe = Path(sys.executable).parent / "olive-lab"
    assert exe.exists(), "olive-lab must be installed in this environment (pip install -e .)"
    return str(exe)


class Tmux:
    def __init__(self) -> None:
        self.socket = f"olive-lab-test-{uuid.uuid4().hex[:8]}"
        self.history: list[str] = []

    def tmux(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=check,
                              timeout=30)

    def start(self, session: str, workdir: Path, *args: str) -> None:
        env = {"TERM": "xterm-256color", "LANG": os.environ.get("LANG", "C.UTF-8"), "TEXTUAL_ANIMATIONS": "none"}
        exports = " ".join(f"{k}={v}" for k, v in env.items())
        # No COLORTERM: 256 colours, as over plain SSH (the wizard must stay readable without truecolor).
        command = (f"cd {workdir} && env -u COLORTERM {exports} {olive_lab_exe()} --workdir {workdir} "
                   f"{' '.join(args)}")
        self.tmux("new-session", "-d", "-s", session, "-x", str(WIDTH), "-y", str(HEIGHT), command)

    def screen(self, session: str) -> str:
        out = self.tmux("capture-pane", "-p", "-t", session, check=False).stdout
        self.history.append(out)
        return out

    def send(self, session: str, *keys: str) -> None:
        """Keys in order, as a person presses them (tmux queues them; what they did is checked by `wait`)."""
        for key in keys:
            self.tmux("send-keys", "-t", session, key)

    def type(self, session: str, text: str) -> None:
        self.tmux("send-keys", "-t", session, "-l", text)

    def wait(self, session: str, *texts: str, timeout: float = 60, absent: str | None = None) -> str:
        deadline = time.monotonic() + timeout
        while True:
            screen = self.screen(session)
            if all(t in screen for t in texts) and (absent is None or absent not in screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"waited {timeout} s for {texts!r}; the screen shows:\n{screen}")
            time.sleep(0.3)

    def alive(self, session: str) -> bool:
        return self.tmux("has-session", "-t", session, check=False).returncode == 0

    def kill_session(self, session: str) -> None:
        self.tmux("kill-session", "-t", session, check=False)

    def close(self) -> None:
        self.tmux("kill-server", check=False)


@pytest.fixture
def tmux():
    t = Tmux()
    yield t
    t.close()


def test_check_data_run_the_lab_and_chat(tmp_path, tmux):
    workdir = make_workdir(tmp_path / "lab")
    tmux.start("w", workdir, "--profile", "cpu", "--model", "tiny")
    # Check: the findings and the chosen profile.
    screen = tmux.wait("w", "Machine check", "Profile: cpu", "F9 re-check", timeout=120)
    assert "Olive Lab" in screen.splitlines()[0] and "profile cpu" in screen.splitlines()[0]
    assert "F2 commands" in screen.splitlines()[-1]
    # Data: the statistics, the samples and the template on the first one.
    tmux.send("w", "Down")
    screen = tmux.wait("w", "usable for fine-tuning", "page 1/", "<|user|>")
    # Optimize: F9 there runs every step still to do (base model, quantize, finetune, optimize).
    tmux.send("w", "F4", "F4", "F4", "F4")
    tmux.wait("w", "Optimize", "F9 run")
    tmux.send("w", "F9")
    seen_running = set()
    deadline = time.monotonic() + 1200
    while True:
        screen = tmux.screen("w")
        for step in ("base model", "quantize", "finetune", "optimize"):
            if f"▶ {step}" in screen:
                seen_running.add(step)
        if "✓ optimize" in screen:
            break
        sidebar = "\n".join(line[:21] for line in screen.splitlines()[1:10])
        assert "✗" not in sidebar, f"a step failed:\n{screen}"
        assert time.monotonic() < deadline, f"the lab did not finish:\n{screen}"
        time.sleep(0.5)
    for step in ("base model", "quantize", "finetune"):
        assert f"✓ {step}" in screen, screen
    assert {"finetune"} <= seen_running, f"the running step was shown: {seen_running}"
    # Chat (past the evaluate step): the model loads, a reply streams with the adapter on, then with it off.
    tmux.send("w", "F4", "F4")
    tmux.wait("w", "Chat with the model", "loaded in", "adapter ON", timeout=60)
    tmux.type("w", "What food should I try in Kyoto?")
    tmux.send("w", "Enter")
    screen = tmux.wait("w", "model (adapter on)", "tokens/s", timeout=60)
    assert "you: What food should I try in Kyoto?" in screen
    tmux.send("w", "F7")
    tmux.wait("w", "adapter OFF")
    tmux.type("w", "What food should I try in Kyoto?")
    tmux.send("w", "Enter")
    screen = tmux.wait("w", "model (adapter off)", timeout=60)
    assert screen.count("tokens/s") >= 1
    tmux.send("w", "F10")
    deadline = time.monotonic() + 15
    while tmux.alive("w") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not tmux.alive("w"), "F10 quits the wizard"


def test_killed_terminal_then_reattach_and_complete_log(lab_copy, tmux):
    from olive_lab.steps import pipeline, runner

    lab = pipeline.load_lab(lab_copy, "cpu")
    tmux.start("first", lab_copy)
    tmux.wait("first", "Machine check", timeout=60)
    tmux.send("first", "F4", "F4", "F4", "F4")
    tmux.wait("first", "Fine-tune", "F9 run again", timeout=60)
    tmux.send("first", "F9")  # run it again (forced)
    tmux.wait("first", "▶ finetune", "running", timeout=120)
    # Wait until training really goes on, then the terminal goes away (as when SSH drops).
    log = lab.workspace.log_path("finetune")
    deadline = time.monotonic() + 300
    while "loss" not in log.read_text(errors="replace"):
        assert time.monotonic() < deadline, "finetune wrote no loss in time"
        time.sleep(0.5)
    tmux.kill_session("first")
    deadline = time.monotonic() + 15
    while tmux.alive("first") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not tmux.alive("first"), "the first terminal is gone"
    assert runner.run_active(lab.workspace), "the run goes on without its terminal"
    # A new wizard: it shows the running step, with its log so far, and follows it live.
    tmux.start("second", lab_copy)
    screen = tmux.wait("second", "▶ finetune", "Fine-tune", "running", timeout=60)
    assert "elapsed" in screen
    screen = tmux.wait("second", "✓ done", "✓ finetune", timeout=900)
    assert not runner.run_active(lab.workspace)
    raw = log.read_text(encoding="utf-8", errors="replace")
    assert "Loading HuggingFace model" in raw and "Model is saved" in raw, "the log on disk is complete"
    # The view ends where the log ends: its last line, as the wizard parses the log, is on screen.
    last = [event.text for event in runner.follow_log(lab.workspace, "finetune", 0.1, lambda: False)
            if type(event).__name__ == "LogLine"][-1]
    tmux.wait("second", last[:40], timeout=30)  # the follower draws the last lines just after the step ends
    state = pipeline.status(lab)["finetune"]
    assert state.status == "done"
    tmux.send("second", "F10")
