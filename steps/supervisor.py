"""The detached process that runs a sequence of steps: `python -m olive_lab.steps.supervisor WORKDIR TOKEN STEP...`.

It holds the work folder's lock for its whole life (so there is never a second run), writes `run.json` (which
step is current and what happened to each), and for each step: decides whether it must run, runs its argv in a
new process group with every byte teed to the log, then verifies the outputs and records the state.
"""

from __future__ import annotations

import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from . import pipeline
from .lab import Lab
from .logparse import diagnose
from .runner import CANCEL_FILE, LOCK_FILE, NOT_RUN, QUEUED, RUN_FILE, SKIPPED, terminate_group
from .workspace import CANCELLED, DONE, FAILED, RUNNING, StepState

TAIL_BYTES = 64 * 1024


class Supervisor:
    def __init__(self, lab: Lab, token: str, steps: list[str], force: bool):
        self.lab, self.token, self.steps, self.force = lab, token, steps, force
        self.run_dir = lab.workspace.root / ".olive-lab"
        self.run = {"token": token, "pid": os.getpid(), "steps": steps, "started_at": time.time(),
                    "current": None, "status": {s: QUEUED for s in steps}, "reasons": {}}
        self.child: subprocess.Popen | None = None

    def cancelled(self) -> bool:
        return (self.run_dir / CANCEL_FILE).exists()

    def save_run(self) -> None:
        tmp = self.run_dir / f"{RUN_FILE}.tmp"
        tmp.write_text(json.dumps(self.run, indent=2), encoding="utf-8")
        os.replace(tmp, self.run_dir / RUN_FILE)

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
            decision = pipeline.decide(self.lab, step, self.force)
            if not decision.run:
                problems = pipeline.verify(self.lab, step)
                if problems:  # nothing to run and nothing there (e.g. a --model folder that is not a model)
                    self._fail_without_running(step, "; ".join(problems))
                    self._not_run(self.steps[i + 1:], f"{step} failed")
                    return 1
                pipeline.record_found_by_hand(self.lab, step)
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
        plan = pipeline.plan(self.lab, step)
        problems = [plan.blocked] if plan.blocked else pipeline.preflight(self.lab, step)
        if problems:
            self._fail_without_running(step, " ".join(problems))
            return False
        if self.force:  # wrapped steps (AWQ, overlays) run Olive too
            pipeline.clear_olive_cache(ws)
        state = StepState(step, RUNNING, started_at=time.time(), argv=list(plan.argv),
                          fingerprint=pipeline.fingerprint(plan))
        ws.logs_dir.mkdir(parents=True, exist_ok=True)
        with open(ws.log_path(step), "wb") as log:
            log.write(f"$ {plan.command_line(ws)}\n".encode())
            log.flush()
            try:
                self.child = subprocess.Popen(plan.argv, cwd=ws.root, env=pipeline.environ_for(self.lab),
                                              stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                              stderr=subprocess.STDOUT, process_group=0)
            except OSError as exc:
                state.status, state.ended_at = FAILED, time.time()
                state.reason, state.advice = f"Could not start {plan.argv[0]}: {exc}", "Check the installation."
                state.save(ws)
                self.mark(step, FAILED, state.reason)
                return False
            state.pid = self.child.pid
            state.save(ws)
            self.mark(step, RUNNING, why)
            fd = self.child.stdout.fileno()
            while chunk := os.read(fd, 1 << 16):
                log.write(chunk)
                log.flush()
            code = self.child.wait()
        self.child = None
        self.finish(step, state, code)
        return state.status == DONE

    def finish(self, step: str, state: StepState, code: int) -> None:
        ws = self.lab.workspace
        state.ended_at, state.exit_code, state.pid = time.time(), code, None
        problems = pipeline.verify(self.lab, step)
        if code == 0 and not problems:
            state.status, state.outputs = DONE, pipeline.relative_outputs(self.lab, step)
        elif self.cancelled():
            state.status, state.reason, state.advice = CANCELLED, "Cancelled.", "Retry when you are ready."
        else:
            signal_name = signal.Signals(-code).name if code < 0 else None
            found = diagnose(_tail(ws.log_path(step)), code, signal_name)
            state.status, state.reason, state.advice = FAILED, found.reason, found.advice
            if code == 0:
                state.reason = f"{found.reason} Missing: {'; '.join(problems)}."
        state.save(ws)
        self.mark(step, state.status, state.reason)

    def stop(self, *_: object) -> None:
        """SIGTERM to the supervisor itself: cancel the step in progress rather than orphan it."""
        (self.run_dir / CANCEL_FILE).write_text(str(time.time()))
        if self.child is not None:
            terminate_group(self.child.pid, grace_s=10)


def _tail(path: Path) -> str:
    with open(path, "rb") as fh:
        fh.seek(max(0, path.stat().st_size - TAIL_BYTES))
        return fh.read().decode("utf-8", errors="replace")


def main(argv: list[str]) -> int:
    workdir, token, *steps = argv
    force = "--force" in steps
    steps = [s for s in steps if s != "--force"]
    lab = pipeline.load_lab(workdir)
    run_dir = lab.workspace.root / ".olive-lab"
    run_dir.mkdir(parents=True, exist_ok=True)
    lock = open(run_dir / LOCK_FILE, "a")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        print("another run holds the lock", file=sys.stderr)
        return 2
    supervisor = Supervisor(lab, token, steps, force)
    signal.signal(signal.SIGTERM, supervisor.stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)  # a closed terminal must not stop the run
    try:
        return supervisor.execute()
    finally:
        supervisor.run["ended_at"], supervisor.run["current"] = time.time(), None
        supervisor.save_run()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
