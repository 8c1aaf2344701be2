"""The log follower: `runner.follow_log` reads a step's log from its start and follows it while the step runs,
and `olive_lab.follow.show` prints what it finds (the headless face of `olive-lab run` / `status --follow`).

No process and no clock: the follower asks `alive()` each time it has read everything written so far, so the
test's `alive()` is where the "running step" writes its next piece (or ends). Each test says what a user gets.
"""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from olive_lab.follow import show
from olive_lab.steps.events import Failed, Finished, LogLine, Loss, Progress
from olive_lab.steps.runner import follow_log
from olive_lab.steps.runstate import INTERRUPTED
from olive_lab.steps.workspace import CANCELLED, DONE, RUNNING, StepState, Workspace

STEP = "finetune"


class FakeStep:
    """A step "running" in a real work folder: its log grows by `pieces`, one each time the follower waits."""

    def __init__(self, root, pieces: list[bytes], end: str | None = DONE, started_at: float = 100.0) -> None:
        self.ws = Workspace.at(root)
        self.log = self.ws.log_path(STEP)
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self.log.write_bytes(b"")
        self.pieces = list(pieces)
        self.end = end  # the status the step ends with; None: the process died and nothing recorded an end
        self.started_at = started_at
        self.waits = 0
        StepState(STEP, status=RUNNING, started_at=started_at).save(self.ws)

    def write(self, data: bytes) -> None:
        with open(self.log, "ab") as fh:
            fh.write(data)

    def alive(self) -> bool:
        """Called by the follower when it has read all there is: the step writes its next piece, or ends."""
        self.waits += 1
        if self.pieces:
            self.write(self.pieces.pop(0))
            return True
        if self.end is None:
            return False  # the run is gone and the state still says running: interrupted
        StepState(STEP, status=self.end, started_at=self.started_at, ended_at=self.started_at + 42.0,
                  outputs={"adapter": "models/phi/adapter"} if self.end == DONE else {},
                  reason="cancelled by the user" if self.end == CANCELLED else "").save(self.ws)
        return False

    def follow(self) -> list:
        return list(follow_log(self.ws, STEP, poll_s=0, alive=self.alive))


def lines(events) -> list[str]:
    return [e.text for e in events if isinstance(e, LogLine)]


def printed(events) -> str:
    """What `olive-lab run` prints for these events in a pipe or a CI log (no live line)."""
    out = io.StringIO()
    end = show(Console(file=out, width=100, force_terminal=False), STEP, iter(events))
    assert end is events[-1]
    return out.getvalue()


def test_lines_that_arrive_in_pieces_come_out_whole(tmp_path):
    # A line cut anywhere, a UTF-8 character cut between its bytes, a tqdm bar redrawn with bare \r.
    step = FakeStep(tmp_path, [b"Loading the mo", b"del\nCaf\xc3", b"\xa9 ready\n",
                               b" 10%|#         | 1/10 [00:01<00:09]\r", b" 50%|#####     | 5/10 [00:05<00:05]\r",
                               b"100%|##########| 10/10 [00:10<00:00]\n", b"{'loss': 1.234, 'epoch': 0.5}\n",
                               b"Model is saved"])
    events = step.follow()
    assert lines(events) == ["Loading the model", "Café ready", "100%|##########| 10/10 [00:10<00:00]",
                             "{'loss': 1.234, 'epoch': 0.5}", "Model is saved"]
    assert [(p.current, p.total) for p in events if isinstance(p, Progress)][:2] == [(1, 10), (5, 10)]
    assert [loss.value for loss in events if isinstance(loss, Loss)] == [1.234]
    assert step.waits >= 8, "the follower waited for each piece instead of reading a finished file"


def test_a_run_that_ends_gives_its_outputs_and_duration(tmp_path):
    step = FakeStep(tmp_path, [b"training\n", b"{'loss': 0.5}\n"])
    events = step.follow()
    assert events[-1] == Finished({"adapter": "models/phi/adapter"}, 42.0)
    out = printed(events)
    assert f"  {STEP}: loss 0.5000" in out
    assert out.splitlines()[-1] == f"✓ {STEP}  done in 0:42"


def test_an_interrupted_run_says_so_and_how_to_go_on(tmp_path):
    step = FakeStep(tmp_path, [b"step 1 of 9\n", b"step 2 of 9\n"], end=None)
    events = step.follow()
    assert events[-1] == Failed(INTERRUPTED, "Run the step again.")
    out = printed(events).splitlines()
    assert out[:3] == [f"✗ failed {STEP}", f"  {INTERRUPTED}", "  Fix: Run the step again."]
    assert out[3:] == ["  Last lines of the log:", "    step 1 of 9", "    step 2 of 9"]


def test_a_cancelled_run_is_not_called_a_failure(tmp_path):
    step = FakeStep(tmp_path, [b"step 1 of 9\n"], end=CANCELLED)
    events = step.follow()
    assert isinstance(events[-1], Failed) and events[-1].cancelled
    assert printed(events).splitlines() == [f"■ cancelled {STEP}", "  cancelled by the user"]


def test_a_follower_that_reattaches_gets_the_whole_log_from_its_start(tmp_path):
    # The first wizard saw two lines and went away; the step wrote on; a new follower re-attaches mid-line.
    step = FakeStep(tmp_path, [b" 3\nline 4\n", b"line 5\n"])
    step.write(b"line 1\nline 2\nline")
    reattached = step.follow()
    assert lines(reattached) == ["line 1", "line 2", "line 3", "line 4", "line 5"]
    # A follower that comes after the end reads the same lines and the same end: a replay, not news.
    replay = list(follow_log(step.ws, STEP, poll_s=0, alive=lambda: pytest.fail("a finished step is not waited on")))
    assert replay == reattached
