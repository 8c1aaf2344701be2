"""The detached process that runs a sequence of steps: `python -m olive_lab.steps.supervisor WORKDIR TOKEN STEP...`.

It holds the work folder's lock for its whole life (so there is never a second run), writes `run.json` (which
step is current and what happened to each), and for each step: decides whether it must run, runs its argv in a
new process group with every byte teed to the log, then verifies the outputs and records the state.

Its children never outlive it: each step's process gets a parent-death signal; a watchdog process kills the
step's whole group if the supervisor dies (even by SIGKILL); and what is left of the group once the step's process
ended is killed. SIGTERM cancels the step and ends the run within STOP_GRACE_S.
A full disk is recorded as such, in space kept aside for that at the start.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

from . import pipeline
from .lab import Lab
from .logparse import diagnose
from .planner import decide_step
from .runstate import (CANCELLED, DONE, FAILED, NOT_RUN, QUEUED, RUNNING, SKIPPED, StepState, cancel_requested,
                       die_with_parent, kill_group, request_cancel, run_dir, take_lock, write_run)
from .folders import disk_full
from .units import fmt_bytes
from .workspace import free_bytes

TAIL_BYTES = 64 * 1024
#: After SIGTERM to the supervisor (or a full disk), how long the step's group gets before SIGKILL.
STOP_GRACE_S = 3.0
#: Kept free at the start and released on a full disk, so the failure can still be written down.
RESERVE_FILE, RESERVE_BYTES = "space-reserve", 1 << 20


class Supervisor:
    def __init__(self, lab: Lab, token: str, steps: list[str], force: bool):
        self.lab, self.token, self.steps, self.force = lab, token, steps, force
        self.flow = pipeline.machine_flow(lab)  # one GPU flow for every plan of this run
        self.run_dir = run_dir(lab.workspace)
        self.run = {"token": token, "pid": os.getpid(), "steps": steps, "started_at": time.time(),
                    "current": None, "status": {s: QUEUED for s in steps}, "reasons": {}}
        self.child: subprocess.Popen | None = None
        self.disk_full: Path | None = None
        self.watchdog: int | None = None

    def cancelled(self) -> bool:
        return cancel_requested(self.lab.workspace)

    def save_run(self) -> None:
        write_run(self.lab.workspace, self.run)

    def mark(self, step: str, status: str, reason: str = "") -> None:
        self.run["status"][step] = status
        self.run["reasons"][step] = reason
        self.run["current"] = step if status == RUNNING else None
        self.save_run()

    def execute(self) -> int:
        self.save_run()
        for i, step in enumerate(self.steps):
            if self.cancelled():
                self._not_run(self.steps[i:], "cancelled before it started")
                return 130
            decision = decide_step(self.lab, step, self.force, self.flow)
            if decision.blocked and not decision.run:  # nothing to run and nothing there
                self._fail_without_running(step, decision.blocked)
                self._not_run(self.steps[i + 1:], f"{step} failed")
                return 1
            if not decision.run:
                self.mark(step, SKIPPED, decision.reason)
                continue
            if not self.run_step(step, decision.reason):
                self._not_run(self.steps[i + 1:], f"{step} did not finish")
                return 130 if self.cancelled() else 1
        return 0

    def _not_run(self, steps: list[str], reason: str) -> None:
        for step in steps:
            self.mark(step, NOT_RUN, reason)

    def _fail_without_running(self, step: str, reason: str) -> None:
        state = StepState(step, FAILED, started_at=time.time(), ended_at=time.time(), reason=reason,
                          advice="Fix the inputs named above, then run the step again.")
        state.save(self.lab.workspace)
        self.mark(step, FAILED, reason)

    def run_step(self, step: str, why: str) -> bool:
        ws = self.lab.workspace
        plan = pipeline.plan(self.lab, step, self.flow)
        problems = [plan.blocked] if plan.blocked else pipeline.preflight(self.lab, step)
        if problems:
            self._fail_without_running(step, " ".join(problems))
            return False
        if self.force:  # wrapped steps (AWQ, overlays) run Olive too
            pipeline.clear_olive_cache(ws)
        pipeline.forget_made(self.lab, step)
        state = StepState(step, RUNNING, started_at=time.time(), argv=list(plan.argv),
                          fingerprint=pipeline.fingerprint(plan, ws))
        ws.logs_dir.mkdir(parents=True, exist_ok=True)
        log_path = ws.log_path(step)
        with open(log_path, "wb") as log:
            log.write(f"$ {plan.command_line(ws)}\n".encode())
            log.flush()
            try:
                self.child = subprocess.Popen(plan.argv, cwd=ws.root, env=pipeline.environ_for(self.lab),
                                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, process_group=0,
                                              preexec_fn=partial(die_with_parent, parent=os.getpid()))
            except OSError as exc:
                state.status, state.ended_at = FAILED, time.time()
                state.reason, state.advice = f"Could not start {plan.argv[0]}: {exc}", "Check the installation."
                state.save(ws)
                self.mark(step, FAILED, state.reason)
                return False
            state.pid = self.child.pid
            self._tell_watchdog(self.child.pid)
            state.save(ws)
            self.mark(step, RUNNING, why)
            if self.cancelled():  # a cancel that read the state before the pid was in it
                self.stop_child()
            self._tee(self.child, log, log_path)
            code = self.child.wait()
        kill_group(self.child.pid)  # whatever the step started and left behind in its group
        self._tell_watchdog(0)
        self.child = None
        self.finish(step, state, code)
        return state.status == DONE

    def _tee(self, child: subprocess.Popen, log, log_path: Path) -> None:
        """Copy the child's output to the log until it closes; on a full disk stop the step, keep draining."""
        fd = child.stdout.fileno()
        while chunk := os.read(fd, 1 << 16):
            if self.disk_full:
                continue
            try:
                log.write(chunk)
                log.flush()
            except OSError as exc:
                if not disk_full(exc):
                    raise
                self.on_disk_full(log_path)

    def on_disk_full(self, path: Path) -> None:
        """Stop the step (it cannot finish without space) and free the reserve so the failure can be recorded."""
        self.disk_full = path
        self.stop_child()
        (self.run_dir / RESERVE_FILE).unlink(missing_ok=True)

    def finish(self, step: str, state: StepState, code: int) -> None:
        ws = self.lab.workspace
        state.ended_at, state.exit_code, state.pid = time.time(), code, None
        problems = pipeline.verify(self.lab, step)
        if code == 0 and not problems and not self.disk_full:
            state.status, state.outputs = DONE, pipeline.relative_outputs(self.lab, step)
        elif self.disk_full:
            state.status, state.reason, state.advice = FAILED, disk_full_reason(self.disk_full), DISK_FULL_ADVICE
        elif self.cancelled():
            state.status, state.reason, state.advice = CANCELLED, "Cancelled.", "Retry when you are ready."
        else:
            signal_name = signal.Signals(-code).name if code < 0 else None
            found = diagnose(_tail(ws.log_path(step)), code, signal_name)
            state.status, state.reason, state.advice = FAILED, found.reason, found.advice
            if found.reason.startswith("The disk is full"):
                state.reason = disk_full_reason(ws.root)
            elif code == 0:
                state.reason = f"{found.reason} Missing: {'; '.join(problems)}."
        state.save(ws)
        if state.status == DONE:
            pipeline.record_made(self.lab, step, state.fingerprint)
        self.mark(step, state.status, state.reason)

    def record_disk_full(self, path: Path) -> None:
        """The current step failed because the disk is full (written in the reserve freed for this)."""
        (self.run_dir / RESERVE_FILE).unlink(missing_ok=True)
        step = self.run.get("current")
        if step:
            state = StepState.load(self.lab.workspace, step)
            state.status, state.ended_at, state.pid = FAILED, time.time(), None
            state.reason, state.advice = disk_full_reason(path), DISK_FULL_ADVICE
            state.save(self.lab.workspace)
            self.mark(step, FAILED, state.reason)

    def stop_child(self) -> None:
        """SIGTERM the step's group now; SIGKILL it after STOP_GRACE_S (the main loop reaps it meanwhile)."""
        if self.child is not None and kill_group(self.child.pid, signal.SIGTERM):
            signal.signal(signal.SIGALRM, self._kill_child)
            signal.setitimer(signal.ITIMER_REAL, STOP_GRACE_S)

    def _kill_child(self, *_: object) -> None:
        if self.child is not None:
            kill_group(self.child.pid)

    def start_watchdog(self, close_fds: tuple[int, ...] = ()) -> None:
        """Fork a process that kills the running step's group as soon as this supervisor is gone.

        It reads the group's id from a pipe; end of file means the supervisor died (whatever killed it).
        """
        read_end, self.watchdog = os.pipe()
        if os.fork() == 0:
            try:
                os.close(self.watchdog)
                for fd in close_fds:  # not the run's lock: it must go with the supervisor
                    os.close(fd)
                guard(read_end)
            finally:
                os._exit(0)
        os.close(read_end)

    def _tell_watchdog(self, pgid: int) -> None:
        if self.watchdog is not None:
            os.write(self.watchdog, f"{pgid}\n".encode())

    def stop(self, *_: object) -> None:
        """SIGTERM to the supervisor itself: cancel the step in progress rather than orphan it.

        The handler only signals: waiting here would keep the step's exited process unreaped (a zombie keeps its
        group alive), and with it the run's lock.
        """
        request_cancel(self.lab.workspace)
        self.stop_child()


DISK_FULL_ADVICE = ("Free disk space there (the Olive cache .olive-cache in the work folder can be deleted), "
                    "or use a work folder on a bigger disk, then run the step again.")


def disk_full_reason(path: Path) -> str:
    return (f"The disk is full: no space left on device writing {path} "
            f"({fmt_bytes(free_bytes(path))} free).")


def guard(read_end: int) -> None:
    """The watchdog's life: remember the last group id written; at end of file, kill that group."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the run's own stop signals are the supervisor's business
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    pgid, pending = 0, b""
    while data := os.read(read_end, 4096):
        *lines, pending = (pending + data).split(b"\n")
        if lines:
            pgid = int(lines[-1])
    if pgid:
        kill_group(pgid)


def _tail(path: Path) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - TAIL_BYTES))
        return fh.read().decode("utf-8", errors="replace")


def _keep_reserve(directory: Path) -> None:
    try:
        with open(directory / RESERVE_FILE, "wb") as fh:
            fh.write(b"\0" * RESERVE_BYTES)
    except OSError:
        (directory / RESERVE_FILE).unlink(missing_ok=True)


def main(argv: list[str]) -> int:
    """WORKDIR TOKEN STEP... [--force] [--lock-fd N]: N is the run lock, already taken by the starting front end."""
    workdir, token, *rest = argv
    lock_fd = None
    if "--lock-fd" in rest:
        at = rest.index("--lock-fd")
        lock_fd = int(rest[at + 1])
        del rest[at:at + 2]
    force = "--force" in rest
    steps = [s for s in rest if s != "--force"]
    lab = pipeline.load_lab(workdir)
    if lock_fd is None:
        lock_fd = take_lock(lab.workspace)  # started by hand: take the lock here (AlreadyRunning if held)
    supervisor = Supervisor(lab, token, steps, force)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal must not stop the run
    _keep_reserve(supervisor.run_dir)
    supervisor.start_watchdog(close_fds=(lock_fd,))
    try:
        return supervisor.execute()
    except OSError as exc:  # the disk filled up while writing the run's own records
        if not disk_full(exc):
            raise
        supervisor.record_disk_full(Path(exc.filename or lab.workspace.root))
        return 1
    finally:
        supervisor.run["ended_at"], supervisor.run["current"] = time.time(), None
        (supervisor.run_dir / RESERVE_FILE).unlink(missing_ok=True)
        supervisor.save_run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
