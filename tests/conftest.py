"""Shared fixtures. `cpu_lab` runs the real `cpu` lab once per test session (real Olive, real onnxruntime-genai)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
OLIVE_LAB = [sys.executable, "-m", "olive_lab"]


def olive_lab(*args: str, timeout: float = 600, env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """Run the installed CLI as a user would, capturing what it prints."""
    full_env = {**os.environ, "COLUMNS": "120", **(env or {})}
    return subprocess.run([*OLIVE_LAB, *args], capture_output=True, text=True, timeout=timeout, env=full_env, **kw)


@dataclass(frozen=True)
class LabRun:
    workdir: Path
    result: subprocess.CompletedProcess
    seconds: float


@pytest.fixture(scope="session")
def cpu_lab(tmp_path_factory) -> LabRun:
    """The whole cpu lab, headless, in a fresh work folder: what the README's first command does."""
    workdir = tmp_path_factory.mktemp("cpu-lab")
    started = time.perf_counter()
    result = olive_lab("run", "--profile", "cpu", "--workdir", str(workdir), timeout=900)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, f"the cpu lab failed:\n{result.stdout}\n{result.stderr}"
    return LabRun(workdir, result, seconds)


@pytest.fixture(scope="session")
def tiny_model(cpu_lab: LabRun) -> Path:
    """The tiny base model the cpu lab built (a local folder usable with --model)."""
    return cpu_lab.workdir / "models" / "tiny-phi3"
