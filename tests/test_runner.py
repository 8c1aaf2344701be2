"""How the supervisor judges a finished process: Olive's exit codes alone cannot be trusted."""

from __future__ import annotations

import sys

import pytest

from olive_lab.steps import pipeline
from olive_lab.steps.lab import Lab, StepPlan
from olive_lab.steps.profiles import CPU
from olive_lab.steps.supervisor import Supervisor
from olive_lab.steps.workspace import StepState


@pytest.fixture
def run_script(tmp_path, monkeypatch):
    """Run one Python snippet as the quantize step's process, through the real supervisor code."""

    def run(code: str) -> StepState:
        lab = Lab.create(tmp_path, CPU)
        monkeypatch.setattr(pipeline, "plan", lambda lab, step, flow=None: StepPlan(step, "t", "", argv=(sys.executable, "-c", code)))
        monkeypatch.setattr(pipeline, "preflight", lambda lab, step: [])
        (tmp_path / ".olive-lab").mkdir(exist_ok=True)
        Supervisor(lab, "token", ["quantize"], force=False).run_step("quantize", "test")
        return StepState.load(lab.workspace, "quantize")

    return run


def test_exit_code_zero_without_outputs_is_a_failure(run_script):
    state = run_script("print('No output model produced. Please check the log for details.')")
    assert state.status == "failed" and state.exit_code == 0
    assert "without producing a model" in state.reason and "Missing:" in state.reason


def test_killed_by_the_kernel_reads_as_out_of_memory(run_script):
    state = run_script("import os, signal; print('loading', flush=True); os.kill(os.getpid(), signal.SIGKILL)")
    assert state.status == "failed" and state.exit_code == -9
    assert "memory" in state.reason


def test_every_byte_reaches_the_log(run_script, tmp_path):
    run_script("import sys; sys.stdout.write('a\\rb\\r\\n'); sys.stderr.write('err\\n'); sys.exit(3)")
    log = (tmp_path / "logs" / "quantize.log").read_bytes()
    assert log.endswith(b"a\rb\r\nerr\n")


def test_a_step_that_ends_while_its_state_is_read_is_not_called_interrupted(tmp_path):
    """The follower read RUNNING, then the run ended before it asked whether the run is alive: it must report
    what the step's final state says (done), not "interrupted"."""
    from olive_lab.steps.runner import Finished, follow_log
    from olive_lab.steps.workspace import DONE, RUNNING, Workspace

    ws = Workspace.at(tmp_path)
    ws.log_path("evaluate").parent.mkdir(parents=True, exist_ok=True)
    ws.log_path("evaluate").write_text("scoring\n")
    StepState("evaluate", status=RUNNING, started_at=1.0).save(ws)

    def run_ends_now():
        StepState("evaluate", status=DONE, started_at=1.0, ended_at=3.0, outputs={"report": "r.json"}).save(ws)
        return False

    final = list(follow_log(ws, "evaluate", poll_s=0.01, alive=run_ends_now))[-1]
    assert isinstance(final, Finished) and final.duration_s == 2.0
