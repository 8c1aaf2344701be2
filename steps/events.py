"""What a running step reports, as plain data that any front end (Rich CLI, Textual, tests) can show.

A step's events are derived from its log file on disk, so a front end that attaches late sees exactly what one
that started the step saw.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class LogLine:
    """One finished line of output: `text` is plain (ANSI removed), `styled` keeps the colour codes."""

    text: str
    styled: str


@dataclass(frozen=True)
class Phase:
    """A named stage inside a step (loading, training, converting, saving...)."""

    name: str


@dataclass(frozen=True)
class Progress:
    """A progress bar or step counter seen in the output; `eta_s` is None while unknown."""

    current: float
    total: float | None
    label: str = ""
    unit: str = "it"
    eta_s: float | None = None

    @property
    def fraction(self) -> float | None:
        return self.current / self.total if self.total else None


@dataclass(frozen=True)
class Loss:
    """A training loss reported by the trainer."""

    value: float
    step: int | None = None
    epoch: float | None = None


@dataclass(frozen=True)
class Finished:
    """The step ended and its outputs were verified."""

    outputs: dict[str, str] = field(default_factory=dict)
    duration_s: float | None = None
    skipped: bool = False


@dataclass(frozen=True)
class Failed:
    """The step ended without usable outputs: `reason` says what happened, `advice` how to fix it."""

    reason: str
    advice: str = ""
    exit_code: int | None = None
    cancelled: bool = False


Event = LogLine | Phase | Progress | Loss | Finished | Failed
