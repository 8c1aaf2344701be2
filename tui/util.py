"""Small pure helpers for the wizard: time and size formatting, step names, path display."""

from __future__ import annotations

import os
import re
from pathlib import Path

#: The rows of the step list, in order (the `model` step builds or fetches the base model).
STEPS = ("check", "data", "model", "quantize", "finetune", "optimize", "evaluate", "chat", "upload")
RUNNABLE = ("model", "quantize", "finetune", "optimize", "evaluate")

LABELS = {
    "check": "check",
    "data": "data",
    "model": "base model",
    "quantize": "quantize",
    "finetune": "finetune",
    "optimize": "optimize",
    "evaluate": "evaluate",
    "chat": "chat",
    "upload": "upload",
}

#: Status words shown in the step list; the symbol carries the meaning without colour.
SYMBOLS = {
    "pending": "·",
    "blocked": "·",
    "running": "▶",
    "done": "✓",
    "skipped": "✓",
    "failed": "✗",
    "cancelled": "■",
    "warning": "!",
}


def fmt_duration(seconds: float | None) -> str:
    """7 -> "0:07", 83 -> "1:23", 3723 -> "1:02:03"; None -> ""."""
    if seconds is None:
        return ""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}:{minutes:02d}:{secs:02d}"
    return f"{minutes}:{secs:02d}"


def fmt_expected(seconds: float | None) -> str:
    """A rough expectation in words: "about 40 s", "about 8 min"."""
    if seconds is None:
        return "unknown"
    if seconds < 90:
        return f"about {int(round(seconds))} s"
    if seconds < 5400:
        return f"about {int(round(seconds / 60))} min"
    return f"about {seconds / 3600:.1f} h"


def fmt_gb(gb: float | None) -> str:
    if gb is None:
        return "unknown"
    if gb < 1:
        return f"about {int(round(gb * 1024))} MB"
    return f"about {gb:.1f} GB"


def fmt_bytes(n: float | None) -> str:
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def short_path(path: str | os.PathLike, home: str | None = None) -> str:
    """A path with the home folder written as ~."""
    text = str(path)
    home = home if home is not None else os.path.expanduser("~")
    if home and home != "/" and (text == home or text.startswith(home.rstrip("/") + "/")):
        return "~" + text[len(home.rstrip("/")):]
    return text


def rel(path: str | os.PathLike, root: Path | None) -> str:
    """A path relative to the work folder when inside it."""
    p = Path(path)
    if root is not None:
        try:
            return str(p.relative_to(root)) or "."
        except ValueError:
            pass
    return short_path(p)


def collapse_cr(text: str) -> str:
    """A line redrawn with bare carriage returns shows its last non-empty version."""
    if "\r" not in text:
        return text
    for part in reversed(text.split("\r")):
        if part:
            return part
    return ""


_ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")


def strip_ansi(text: str) -> str:
    return _ANSI_RE.sub("", text) if "\x1b" in text else text
