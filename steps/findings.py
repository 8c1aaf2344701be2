"""One type for what a check found, shared by the machine check (`steps.check`) and the dataset check (`steps.data`).

A finding says what was looked at (`key`, a stable id front ends and tests match on, and `title`, its shown name),
how bad it is (`severity`), what was found (`detail`, with figures) and what to do about it (`fix`). A dataset
finding also says where in the file it is (`line`, `column`, and `ref`, the line a duplicate repeats).

Two words stop a step: the machine check says `blocking` (this machine cannot run the profile), the dataset check
says `error` (this line would break or spoil training). Both are kept as their front ends show them; `blocks`
treats them alike. A leaf module: it imports nothing from the project.
"""

from __future__ import annotations

from dataclasses import dataclass

OK, WARNING, ERROR, BLOCKING = "ok", "warning", "error", "blocking"
SEVERITIES = (OK, WARNING, ERROR, BLOCKING)
_RANK = {OK: 0, WARNING: 1, ERROR: 2, BLOCKING: 2}


@dataclass(frozen=True)
class Finding:
    """One line of a check: what was found and, unless it is ok, what to do about it."""

    key: str
    title: str
    severity: str
    detail: str
    fix: str = ""
    #: where in a file (1-based); None for the whole file, or for a finding about the machine
    line: int | None = None
    column: int | None = None
    #: the line this one repeats (a duplicate)
    ref: int | None = None

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    @property
    def blocks(self) -> bool:
        """True when this finding stops the step (`error` or `blocking`)."""
        return _RANK[self.severity] >= _RANK[ERROR]

    def where(self) -> str:
        return "file" if self.line is None else f"line {self.line}"


def worst(severities) -> str:
    """The most severe of `severities` (ok for none)."""
    return max(severities, key=_RANK.__getitem__, default=OK)


def blocking_of(findings) -> list[Finding]:
    """The findings that stop the step, in their order."""
    return [f for f in findings if f.blocks]


def warnings_of(findings) -> list[Finding]:
    return [f for f in findings if f.severity == WARNING]

