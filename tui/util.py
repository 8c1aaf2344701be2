"""Small pure helpers for the wizard: step labels and symbols, path display.

Sizes, durations and chat figures come from olive_lab.steps.units, the same functions the CLI uses."""

from __future__ import annotations

import os
from pathlib import Path

#: How each step is named in the step list (the `model` step builds or fetches the base model).
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
