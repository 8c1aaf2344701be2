"""Run the lab's long steps so that they outlive the front end, and follow them from any front end.

`start` spawns one supervisor process in its own session (a closed terminal or SSH drop does not reach it). The
supervisor runs each step's argv in a process group of its own, tees every byte to `logs/<step>.log`, verifies the
outputs (Olive reports some failures with exit code 0) and writes the step's state. Front ends never talk to the
supervisor: they read the log and the state files, so a wizard opened later sees the same run from its start.
"""

from __future__ import annotations

import codecs
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

from . import pipeline, supervisor
from .events import Event, Failed, Finished
from .lab import Lab
from .logparse import LogParser
from .runstate import (CANCEL_FILE, CANCELLED, DONE, NOT_RUN, QUEUED, RUNNING, SKIPPED, AlreadyRunning, StepState,
                       effective, read_run, request_cancel, run_active, run_dir, take_lock, terminate_group)
from .workspace import Workspace, free_space_problem

__all__ = ["AlreadyRunning", "NotEnoughSpace", "RunnerFailed", "RunHandle", "attach", "cancel", "follow_log", "run_active", "start"]


class RunnerFailed(RuntimeError):
    """The supervisor could not start; str() says why and where its log is."""


class NotEnoughSpace(RunnerFailed):
    """The work folder's disk has less free space than the steps about to run need; str() says both."""


def start(lab: Lab, steps: list[str], force: bool = False) -> RunHandle:
    """Start a detached run of `steps` (in order) and return a handle to follow it.

    The lock is taken here, before the supervisor exists, and handed to it: of runs started at the same instant
    exactly one gets it, and the others get AlreadyRunning.
    """
    ws = lab.workspace
    if problem := free_space_problem(ws.root, pipeline.space_needed(lab, steps, force), f"the {', '.join(steps)} "
                                     f"step{'s' if len(steps) > 1 else ''}"):
        raise NotEnoughSpace(problem)
    lock_fd = take_lock(ws)
    try:
        (run_dir(ws) / CANCEL_FILE).unlink(missing_ok=True)
        token = f"{os.getpid()}-{time.time_ns()}"
        args = [str(ws.root), token, *steps, "--lock-fd", str(lock_fd)] + (["--force"] if force else [])
        ws.logs_dir.mkdir(parents=True, exist_ok=True)
        if _can_fork():
            exited = _fork_supervisor(args, ws)
        else:
            exited = _spawn_supervisor([sys.executable, "-m", "olive_lab.steps.supervisor", *args], ws, lock_fd)
        # Wait until the supervisor has written its run file, so follow() never sees an older run.
        deadline = time.monotonic() + 30
        while read_run(ws).get("token") != token:
            if (code := exited()) is not None:
                raise RunnerFailed(f"The runner exited at start (code {code}); see {ws.logs_dir / 'supervisor.log'}")
            if time.monotonic() > deadline:
                raise RunnerFailed("The runner did not start within 30 s")
            time.sleep(0.02)
    except KeyboardInterrupt:
        request_cancel(ws)  # Ctrl+C while it starts: the supervisor runs nothing
        raise
    finally:
        os.close(lock_fd)  # the supervisor holds its own copy of the lock from here on
    return RunHandle(lab, list(steps))


def _can_fork() -> bool:
    """Forking copies this process, imports and all (no second Python start-up), but is only safe with one thread
    and no running event loop: the headless CLI forks, the wizard spawns."""
    import asyncio

    try:
        asyncio.get_running_loop()
        return False
    except RuntimeError:
        return threading.active_count() == 1 and hasattr(os, "fork")


def _spawn_supervisor(argv: list[str], ws: Workspace, lock_fd: int):
    with open(ws.logs_dir / "supervisor.log", "ab") as err:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=err, stderr=err, start_new_session=True,
                                cwd=ws.root, pass_fds=(lock_fd,))
    return proc.poll


def _fork_supervisor(args: list[str], ws: Workspace):
    """The supervisor as a forked child in a session of its own, its output going to logs/supervisor.log."""
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.setsid()
            null = os.open(os.devnull, os.O_RDONLY)
            log = os.open(ws.logs_dir / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(null, 0)
            os.dup2(log, 1)
            os.dup2(log, 2)
            os.chdir(ws.root)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            code = supervisor.main(args)
        except BaseException:  # noqa: BLE001 - a child must never return into the parent's code
            import traceback

            traceback.print_exc()
        finally:
            os._exit(code)

    def exited() -> int | None:
        done, status = os.waitpid(pid, os.WNOHANG)
        return os.waitstatus_to_exitcode(status) if done else None

    return exited


def attach(lab: Lab) -> RunHandle | None:
    """The run active in this work folder, if any: a new front end follows it from the start of its logs."""
    if not run_active(lab.workspace):
        return None
    return RunHandle(lab, list(read_run(lab.workspace).get("steps", [])))


@dataclass
class RunHandle:
    lab: Lab
    steps: list[str]

    @property
    def workspace(self) -> Workspace:
        return self.lab.workspace

    def alive(self) -> bool:
        return run_active(self.workspace)

    def current_step(self) -> str | None:
        return read_run(self.workspace).get("current") if self.alive() else None

    def decision(self, step: str) -> tuple[str, str]:
        """(status in this run: queued/skipped/running/done/failed/cancelled/not run, reason)."""
        run = read_run(self.workspace)
        return run.get("status", {}).get(step, QUEUED), run.get("reasons", {}).get(step, "")

    def follow(self, step: str, poll_s: float = 0.05) -> Iterator[Event]:
        """Every event of `step` in this run, from the start of its log, live; ends with Finished or Failed."""
        while True:
            status, reason = self.decision(step)
            if status == SKIPPED:
                yield Finished(StepState.load(self.workspace, step).outputs, None, skipped=True)
                return
            if status != QUEUED:
                break
            if not self.alive():
                yield Failed(f"Not run: {reason or 'the run ended before this step'}", cancelled=False)
                return
            time.sleep(poll_s)
        if status == NOT_RUN:
            yield Failed(reason or "Not run.")
            return
        yield from follow_log(self.workspace, step, poll_s, self.alive)

    def cancel(self, grace_s: float = 10.0) -> None:
        cancel(self.workspace, grace_s)

    def wait(self, poll_s: float = 0.1) -> dict[str, StepState]:
        while self.alive():
            time.sleep(poll_s)
        return {s: StepState.load(self.workspace, s) for s in self.steps}


def cancel(workspace: Workspace, grace_s: float = 10.0) -> str | None:
    """Stop the run in `workspace`: SIGTERM to the running step's process group, SIGKILL after `grace_s`.

    Returns the step that was running (None if none was). The cancel file is written before the step's pid is
    read, and the supervisor looks for it after it recorded the pid: one of the two always stops the step.
    """
    request_cancel(workspace)
    step = read_run(workspace).get("current")
    pid = StepState.load(workspace, step).pid if step else None
    if pid:
        terminate_group(pid, grace_s)
    deadline = time.monotonic() + grace_s + 5
    while run_active(workspace) and time.monotonic() < deadline:
        time.sleep(0.05)
    return step


def final_event(state: StepState) -> Event:
    if state.status == DONE:
        return Finished(state.outputs, state.duration_s)
    return Failed(state.reason or f"The step ended as {state.status}.", state.advice, state.exit_code,
                  cancelled=state.status == CANCELLED)


def follow_log(workspace: Workspace, step: str, poll_s: float = 0.05, alive=None) -> Iterator[Event]:
    """Parse `logs/<step>.log` from its start and follow it while the step runs; finish with its final event."""
    alive = alive or (lambda: run_active(workspace))
    path = workspace.log_path(step)
    parser = LogParser()
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while not path.exists():
        if StepState.load(workspace, step).status != RUNNING or not alive():
            break
        time.sleep(poll_s)
    with open(path, "rb") if path.exists() else open(os.devnull, "rb") as fh:
        while True:
            data = fh.read(1 << 16)
            if data:
                yield from parser.feed(decoder.decode(data))
                continue
            state = StepState.load(workspace, step)
            if state.status == RUNNING and alive():
                time.sleep(poll_s)
                continue
            if state.status == RUNNING:  # the run ended after the state was read: its final state is on disk now
                state = StepState.load(workspace, step)
            rest = fh.read()
            yield from parser.feed(decoder.decode(rest, final=True))
            yield from parser.flush()
            yield final_event(effective(state, active=False))
            return
