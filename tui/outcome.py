"""A step's outcome, the one state that both the step list row and the step's pane draw.

For a step that runs it is the StepState on disk, or, for a step this wizard follows, what the run's events said
(they are newer than the last refresh): `Outcome.on_disk` reads the first, `Outcome.ended` folds the end event into
the second. `status_text` is the run pane's status line for it; `steplist.row_text` is the row's. The other panes
(check, data, chat, upload) give theirs from what they did (`StepPane.row`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.text import Text

from olive_lab.steps.units import fmt_duration

NOT_RUN = "Not run yet. F9 runs it."


@dataclass(frozen=True)
class Outcome:
    """`status`: pending, blocked, running, done, skipped, failed, cancelled, warning."""

    status: str = "pending"
    started_at: float | None = None  # wall clock, for the ticking elapsed time while running
    duration_s: float | None = None
    #: A word shown instead of a time ("found": made by hand, "blocked", "ready", "ok"); a skipped step's reason.
    note: str = ""
    reason: str = ""  # why a step failed, and what to do about it
    advice: str = ""
    exit_code: int | None = None
    outputs: dict[str, str] = field(default_factory=dict)

    @classmethod
    def on_disk(cls, state) -> Outcome:
        """The outcome a StepState records (None: the step has no state yet)."""
        if state is None:
            return cls()
        running = state.status == "running"
        return cls(state.status, state.started_at if running else None, None if running else state.duration_s,
                   "found" if state.found_by_hand else "", state.reason, state.advice, state.exit_code,
                   dict(state.outputs))

    def ended(self, end, note: str, now: float, live: bool) -> Outcome:
        """This outcome after the step's last event (`Finished` or `Failed`); `live`: it ended just now."""
        from olive_lab.steps.events import Finished

        if isinstance(end, Finished):
            if end.skipped:
                return Outcome("skipped", note=note)
            duration = end.duration_s if end.duration_s is not None else (
                now - self.started_at if self.started_at is not None else self.duration_s)
            return Outcome("done", duration_s=duration, outputs=dict(end.outputs or {}))
        duration = now - self.started_at if live and self.started_at is not None else self.duration_s
        return Outcome("cancelled" if end.cancelled else "failed", duration_s=duration, reason=end.reason,
                       advice=end.advice, exit_code=end.exit_code)


def status_text(outcome: Outcome) -> Text | str:
    """The run pane's status line for a step that is not running (a running one ticks: RunPane.tick)."""
    status = outcome.status
    if status == "done":
        how = "found on disk (made by hand)" if outcome.note == "found" else f"in {fmt_duration(outcome.duration_s)}"
        outputs = ", ".join(f"{k}: {v}" for k, v in outcome.outputs.items())
        return Text.assemble(("✓ done ", "bold green"), how, (f" · {outputs}" if outputs else "", "dim"))
    if status == "skipped":
        return Text.assemble(("✓ up to date ", "bold green"),
                             f"— not run again: {outcome.note}" if outcome.note else "")
    if status in ("failed", "cancelled"):
        code = f" (exit code {outcome.exit_code})" if outcome.exit_code not in (None, 0) else ""
        return Text.assemble((f"✗ {status}", "bold red"), code,
                             f" after {fmt_duration(outcome.duration_s)}" if outcome.duration_s else "")
    return NOT_RUN
