"""The run's state on disk, in one place: file names, statuses, the lock, `run.json`, stopping a process group.

The pipeline, the runner and the supervisor all read and write a run through this module, so each rule exists
once: a run is active exactly while its lock is held; a step recorded as running whose run is gone was
interrupted; a file someone else broke is set aside (never trusted, never silently overwritten).
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import time
from pathlib import Path

from .workspace import (CANCELLED, DONE, FAILED, PENDING, RUNNING, STATE_DIR, StepState, Workspace, read_json,
                        write_json)

__all__ = ["CANCELLED", "DONE", "FAILED", "PENDING", "RUNNING", "QUEUED", "SKIPPED", "NOT_RUN", "StepState",
           "LOCK_FILE", "RUN_FILE", "CANCEL_FILE", "AlreadyRunning", "run_dir", "run_active", "take_lock",
           "read_run", "write_run", "cancel_requested", "request_cancel", "terminate_group", "kill_group",
           "effective", "die_with_parent", "INTERRUPTED"]

LOCK_FILE, RUN_FILE, CANCEL_FILE = "run.lock", "run.json", "cancel"
#: A step's status inside one run (run.json), besides the step statuses of workspace.py.
QUEUED, SKIPPED, NOT_RUN = "queued", "skipped", "not run"
INTERRUPTED = "interrupted: the process running it is gone (killed or rebooted)"

#: What run.json holds, for telling a broken file from a run's record.
_RUN_FIELDS = {"token": (str,), "pid": (int,), "steps": (list,), "current": (str, type(None)),
               "status": (dict,), "reasons": (dict,), "started_at": (int, float), "ended_at": (int, float)}


class AlreadyRunning(RuntimeError):
    """A run is active in this work folder; there is never more than one."""

    def __init__(self, step: str | None):
        super().__init__(f"A run is already active in this work folder (step: {step or 'starting'}). "
                         "Follow it with `olive-lab status --follow`, or stop it with `olive-lab cancel`.")
        self.step = step


def run_dir(workspace: Workspace) -> Path:
    return workspace.root / STATE_DIR


def run_active(workspace: Workspace) -> bool:
    """True while a front end starting a run, or its supervisor, holds the work folder's lock."""
    path = run_dir(workspace) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # closing drops the probe's own lock, if it got one
    return False


def take_lock(workspace: Workspace) -> int:
    """The work folder's run lock as an open descriptor (held until every copy of it is closed).

    Raises AlreadyRunning when another run holds it: the one check that decides, atomically, who runs.
    """
    directory = run_dir(workspace)
    directory.mkdir(parents=True, exist_ok=True)
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyRunning(read_run(workspace).get("current")) from None
    return fd


def _run_problem(data) -> str:
    if not isinstance(data, dict):
        return f"it holds a JSON {type(data).__name__}, not an object"
    for key, kinds in _RUN_FIELDS.items():
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], kinds)):
            return f"{key!r} is {data[key]!r}"[:200]
    if not all(isinstance(s, str) for s in data.get("steps", [])):
        return "'steps' is not a list of step names"
    return ""


def read_run(workspace: Workspace) -> dict:
    """The current or last run's record ({} if none, or if the file was broken and set aside)."""
    return read_json(run_dir(workspace) / RUN_FILE, _run_problem, "it is rebuilt by the next run") or {}


def write_run(workspace: Workspace, run: dict) -> None:
    write_json(run_dir(workspace) / RUN_FILE, run)


def cancel_requested(workspace: Workspace) -> bool:
    return (run_dir(workspace) / CANCEL_FILE).exists()


def request_cancel(workspace: Workspace) -> None:
    (run_dir(workspace) / CANCEL_FILE).write_text(str(time.time()))


def kill_group(pgid: int, sig: int = signal.SIGKILL) -> bool:
    """Send `sig` to a process group; False when the group is gone."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        return False
    return True


def terminate_group(pgid: int, grace_s: float) -> None:
    """SIGTERM the whole group (Olive, its trainer, its workers), then SIGKILL what is left after the grace.

    Only for a group whose leader this process does not reap: a zombie leader keeps the group "alive".
    """
    if not kill_group(pgid, signal.SIGTERM):
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        if not kill_group(pgid, 0):
            return
        time.sleep(0.05)
    kill_group(pgid)


def effective(state: StepState, active: bool) -> StepState:
    """The one "interrupted" rule: a step recorded as running while no run holds the lock was interrupted."""
    if state.status == RUNNING and not active:
        state.status, state.reason, state.advice = FAILED, INTERRUPTED, "Run the step again."
    return state


_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL, parent: int | None = None) -> None:
    """Ask the kernel to send `sig` to this process when its parent dies (Linux; elsewhere nothing happens).

    For a step's process (called between fork and exec) and for a served wizard: an orphan must not run on.
    `parent`, the pid the caller expects as parent, closes the race of a parent that died just before.
    """
    try:
        if ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
            return
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:
        os.kill(os.getpid(), sig)
