"""A full disk, on a small real file system (a 30 MB tmpfs; skipped where mounting one is not permitted).

A full disk during a step is named as such, with the path, and the step ends failed (not "interrupted: the
process is gone"); a run is refused before it starts when the free space is below what its steps need, whether
or not a profile was saved, and the message says how much is free and how much is needed.
"""

from __future__ import annotations

import subprocess
import re
import sys
import time

import pytest

from conftest import olive_lab
from olive_lab.steps import pipeline, runner
from olive_lab.steps.lab import StepPlan
from olive_lab.steps.runstate import run_active
from olive_lab.steps.workspace import StepState, free_bytes

FLOOD = "import sys\nfor i in range(200000):\n    sys.stdout.write(f'{i:08d} ' + 'x' * 90 + '\\n')\n"


@pytest.fixture
def small_fs(tmp_path):
    mount = tmp_path / "fs"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=30m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(path, leave_bytes: int) -> None:
    """Fill the file system holding `path` until about `leave_bytes` are free."""
    with open(path / "filler", "wb") as fh:
        fh.write(b"\0" * (free_bytes(path) - leave_bytes))


def test_a_full_disk_during_a_step_is_named_with_the_path(small_fs, monkeypatch):
    lab = pipeline.load_lab(small_fs / "w", "cpu", model="tiny")
    monkeypatch.setattr(pipeline, "plan", lambda lab, s, flow=None: StepPlan(s, "t", "", argv=(sys.executable, "-c", FLOOD)))
    monkeypatch.setattr(pipeline, "preflight", lambda lab, s: [])
    monkeypatch.setattr(pipeline, "space_needed", lambda lab, steps, force=False: 0)
    fill(small_fs, leave_bytes=1_500_000)  # the step writes 20 MB of output
    handle = runner.start(lab, ["quantize"])
    deadline = time.monotonic() + 60
    while run_active(lab.workspace):
        assert time.monotonic() < deadline, "the run never ended"
        time.sleep(0.1)
    state = StepState.load(lab.workspace, "quantize")
    assert state.status == "failed", state
    assert "The disk is full: no space left on device writing" in state.reason
    assert str(lab.workspace.log_path("quantize")) in state.reason and "free" in state.reason
    assert "interrupted" not in pipeline.status(handle.lab)["quantize"].reason
    shown = olive_lab("status", "--workdir", str(lab.workspace.root), timeout=60)
    assert "The disk is full" in " ".join(shown.stdout.split()) and "Traceback" not in shown.stderr


def test_a_run_with_a_saved_profile_is_checked_for_space_first(small_fs):
    workdir = small_fs / "w"
    pipeline.load_lab(workdir, "cpu", model="tiny")  # a profile saved by an earlier run: no machine check any more
    fill(small_fs, leave_bytes=5_000_000)
    result = olive_lab("run", "--workdir", str(workdir), "--no-chat", timeout=120)
    text = " ".join(result.stdout.split())
    assert result.returncode == 3, result.stdout + result.stderr
    assert "Not enough free space in" in text and re.search(r"\b[45]\.\d MB free, and about [\d.]+ [MG]B needed for the model, quantize, finetune, optimize, evaluate steps", text), text
    assert "Traceback" not in result.stderr
    assert not (workdir / "logs" / "model.log").exists(), "nothing may start on a disk that is too full"
