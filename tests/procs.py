"""The processes on this machine, read from /proc, for tests that count what a kill or a cancel left behind."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple


class Proc(NamedTuple):
    pid: int
    ppid: int
    pgid: int


def live_processes() -> list[Proc]:
    """Every process that is not a zombie (a zombie has ended; only its exit status is left to collect)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[0] != "Z":
            found.append(Proc(int(entry.name), int(fields[1]), int(fields[2])))
    return found
