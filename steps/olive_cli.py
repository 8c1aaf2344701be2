"""What the three Olive steps share: how an `olive` argv is built and how outputs are checked."""

from __future__ import annotations

from pathlib import Path

#: Olive's INFO level, so phases ("Running pass ...") reach the log; its default (3) hides them.
LOG_LEVEL = ("--log_level", "1")


def olive_argv(command: str, *args: str) -> tuple[str, ...]:
    """`olive <command> ...`; the runner resolves `olive` to the one installed beside this Python."""
    return ("olive", command, *args, *LOG_LEVEL)


def missing_files(folder: Path, required: dict[str, str]) -> list[str]:
    """Problems for each required file (glob pattern -> what it is) that `folder` lacks."""
    if not folder.is_dir():
        return [f"{folder} does not exist"]
    return [f"{folder} has no {what} ({pattern})" for pattern, what in required.items()
            if not any(folder.glob(pattern))]


HF_MODEL_FILES = {"config.json": "model config", "*.safetensors": "weights", "tokenizer*.json": "tokenizer"}
