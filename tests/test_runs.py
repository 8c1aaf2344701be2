"""Runs that do what the README says, under faults: kills of the supervisor, Ctrl+C through a pipe, six starts at
once, `olive-lab cancel`, followers that attach late. Each test counts the processes left behind.

Fast tests run a small Python script as the step's process through the real runner and supervisor (forked from
this process, so the patched plan reaches it); the CLI tests run the real quantize step on the tiny model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import OLIVE_LAB, olive_lab
from procs import live_processes
from olive_lab.steps import pipeline, runner
from olive_lab.steps.events import LogLine
from olive_lab.steps.lab import StepPlan
from olive_lab.steps.runstate import read_run, run_active
from olive_lab.steps.workspace import StepState

#: A step that starts a grandchild in its group (as Olive's workers would), says so, then works for a minute.
WITH_GRANDCHILD = ("import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)']);"
                   "print('ready', flush=True); time.sleep(60)")
IGNORES_SIGTERM = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('ready', flush=True);"
                   "time.sleep(60)")


def group_members(pgid: int) -> list[int]:
    """Live processes whose process group is `pgid`."""
    return [p.pid for p in live_processes() if p.pgid == pgid]


def wait_until(condition, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, f"{what}: not within {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - started


def reap(pid: int) -> None:
    """The forked supervisor is this process's child: collect it once it is gone."""
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        pass


@pytest.fixture
def fake_run(tmp_path, monkeypatch):
    """Start a run of one step whose process is `code`; returns (handle, the step's pgid, the supervisor's pid)."""
    if not runner._can_fork():  # the patched plan reaches only a forked supervisor
        others = ", ".join(t.name for t in threading.enumerate() if t is not threading.main_thread())
        pytest.skip(f"an earlier test left threads running in this process ({others}): cannot fork the supervisor")
    lab = pipeline.load_lab(tmp_path, "cpu")  # remembered, so the supervisor runs no machine check
    started = []

    def start(code: str, step: str = "quantize"):
        monkeypatch.setattr(pipeline, "plan", lambda lab, s, flow=None: StepPlan(s, "t", "", argv=(sys.executable, "-c", code)))
        monkeypatch.setattr(pipeline, "preflight", lambda lab, s: [])
        handle = runner.start(lab, [step])
        log = lab.workspace.log_path(step)
        wait_until(lambda: log.exists() and b"\nready\n" in log.read_bytes(), 30, "the step's start")
        pgid = StepState.load(lab.workspace, step).pid
        started.append(read_run(lab.workspace)["pid"])
        return handle, pgid, started[-1]

    yield start
    for pid in started:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        reap(pid)


def test_sigkill_of_the_supervisor_leaves_no_process(fake_run):
    handle, pgid, supervisor = fake_run(WITH_GRANDCHILD)
    assert len(group_members(pgid)) == 2
    os.kill(supervisor, signal.SIGKILL)
    reap(supervisor)
    wait_until(lambda: not group_members(pgid), 10, "the step's processes outlive their supervisor")
    assert not run_active(handle.workspace)
    state = pipeline.status(handle.lab)["quantize"]
    assert state.status == "failed" and "interrupted" in state.reason


def test_sigterm_to_the_supervisor_cancels_and_releases_the_lock_at_once(fake_run):
    handle, pgid, supervisor = fake_run(WITH_GRANDCHILD)
    os.kill(supervisor, signal.SIGTERM)
    seconds = wait_until(lambda: not run_active(handle.workspace), 5, "the lock is still held after SIGTERM")
    assert seconds < 2, seconds
    assert not group_members(pgid)
    assert StepState.load(handle.workspace, "quantize").status == "cancelled"


def test_a_step_that_ignores_sigterm_is_killed_after_the_grace(fake_run):
    from olive_lab.steps.supervisor import STOP_GRACE_S

    handle, pgid, supervisor = fake_run(IGNORES_SIGTERM)
    os.kill(supervisor, signal.SIGTERM)
    wait_until(lambda: not run_active(handle.workspace), STOP_GRACE_S + 3, "the lock is still held")
    assert not group_members(pgid)
    assert StepState.load(handle.workspace, "quantize").status == "cancelled"


def test_cancel_command_stops_the_run_and_its_processes(fake_run):
    handle, pgid, _ = fake_run(WITH_GRANDCHILD)
    result = olive_lab("cancel", "--workdir", str(handle.workspace.root), timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Cancelled the run" in result.stdout and "quantize" in result.stdout
    assert not group_members(pgid) and not run_active(handle.workspace)
    again = olive_lab("cancel", "--workdir", str(handle.workspace.root), timeout=60)
    assert again.returncode == 0 and "nothing to cancel" in again.stdout


def test_followers_that_attach_late_lose_no_line(fake_run):
    code = "import time\nfor i in range(300):\n    print(f'line {i}', flush=True)\n    time.sleep(0.005)\nprint('ready')"
    handle, _, _ = fake_run("print('ready', flush=True)\n" + code)
    first = runner.attach(handle.lab)
    lines = [e.text for e in first.follow("quantize") if isinstance(e, LogLine)]
    late = [e.text for e in runner.follow_log(handle.workspace, "quantize", 0.05, lambda: False)
            if isinstance(e, LogLine)]
    expected = [f"line {i}" for i in range(300)]
    assert [l for l in lines if l.startswith("line ")] == expected
    assert [l for l in late if l.startswith("line ")] == expected


def _start_cli_run(workdir: Path, tiny_model: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen([*OLIVE_LAB, "run", "--profile", "cpu", "--model", str(tiny_model), "--only", "quantize",
                             "--no-chat", "--workdir", str(workdir)], stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "COLUMNS": "200"}, **kw)


def _step_pid(workdir: Path, step: str) -> int | None:
    try:
        return json.loads((workdir / ".olive-lab" / "state" / f"{step}.json").read_text()).get("pid")
    except (OSError, ValueError):
        return None


#: `olive-lab run ... | tee LOG` in a process group of its own, as a shell runs a job; it reports the exit codes.
PIPE_JOB = """
import json, signal, subprocess, sys
signal.signal(signal.SIGINT, lambda *_: None)  # the job's shell survives Ctrl+C; its two commands get it
tee = subprocess.Popen(["tee", sys.argv[1]], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
front = subprocess.Popen(sys.argv[2:], stdout=tee.stdin, stderr=subprocess.PIPE)
tee.stdin.close()
err = front.stderr.read().decode()
print(json.dumps({"front": front.wait(), "tee": tee.wait(), "stderr": err}))
"""


def test_ctrl_c_through_a_pipe_cancels_the_run(tiny_model, tmp_path):
    """`olive-lab run | tee log`, then Ctrl+C: the terminal sends SIGINT to both; tee dies, the run is cancelled."""
    workdir = tmp_path / "w"
    argv = [*OLIVE_LAB, "run", "--profile", "cpu", "--model", str(tiny_model), "--only", "quantize", "--no-chat",
            "--workdir", str(workdir)]
    job = subprocess.Popen([sys.executable, "-c", PIPE_JOB, str(tmp_path / "run.log"), *argv],
                           stdout=subprocess.PIPE, text=True, start_new_session=True)
    wait_until(lambda: _step_pid(workdir, "quantize") or job.poll() is not None, 120, "quantize start")
    pgid = _step_pid(workdir, "quantize")
    os.killpg(job.pid, signal.SIGINT)
    codes = json.loads(job.communicate(timeout=60)[0])
    assert codes["tee"] == -signal.SIGINT
    assert codes["front"] == 130, codes
    assert "Traceback" not in codes["stderr"] and "Exception ignored" not in codes["stderr"], codes["stderr"]
    wait_until(lambda: not group_members(pgid), 10, "olive quantize runs on after Ctrl+C")
    assert not run_active(pipeline.load_lab(workdir).workspace)
    state = json.loads((workdir / ".olive-lab" / "state" / "quantize.json").read_text())
    assert state["status"] == "cancelled"


def test_six_runs_started_at_once_exactly_one_runs(tiny_model, tmp_path):
    workdir = tmp_path / "w"
    fronts = [_start_cli_run(workdir, tiny_model, stdout=subprocess.PIPE) for _ in range(6)]
    ended = []
    deadline = time.monotonic() + 180
    while len(ended) < 5 and time.monotonic() < deadline:
        ended = [p for p in fronts if p.poll() is not None]
        time.sleep(0.1)
    olive_lab("cancel", "--workdir", str(workdir), timeout=60)
    results = [(p.wait(timeout=60), p.stdout.read(), p.stderr.read()) for p in fronts]
    codes = sorted(code for code, _, _ in results)
    assert codes[:5] == [3] * 5 and codes[5] in (0, 130), results
    for code, out, err in results:
        assert "Traceback" not in out + err
        if code == 3:
            assert "A run is already active in this work folder" in out, out
    assert len(list((workdir / "logs").glob("quantize.log"))) == 1
