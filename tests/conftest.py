"""Shared fixtures, each run once per test session with real Olive and real onnxruntime-genai.

- `cpu_lab`: the cpu lab on the tiny random Phi-3 (`--model tiny`, about a minute): the fast paths.
- `real_cpu_lab`: the cpu lab as a user gets it, on SmolLM2-135M-Instruct (a few minutes): what the model says.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

try:  # tqdm's monitor thread outlives every bar made in-process; with it alive the CLI can no longer fork
    import tqdm

    tqdm.tqdm.monitor_interval = 0
except ImportError:
    pass

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
    """The whole cpu lab on the tiny model, headless, in a fresh work folder (every step, in about a minute)."""
    return run_lab(tmp_path_factory.mktemp("cpu-lab"), "--model", "tiny")


@pytest.fixture(scope="session")
def real_cpu_lab(tmp_path_factory) -> Path:
    """The README's first command: the cpu lab with its real model (SmolLM2-135M-Instruct), in a fresh work folder."""
    return run_lab(tmp_path_factory.mktemp("real-cpu-lab"), timeout=1500).workdir


def run_lab(workdir: Path, *args: str, timeout: float = 900) -> LabRun:
    """`olive-lab run --profile cpu` in `workdir`, which must succeed."""
    started = time.perf_counter()
    result = olive_lab("run", "--profile", "cpu", "--workdir", str(workdir), *args, timeout=timeout)
    seconds = time.perf_counter() - started
    assert result.returncode == 0, f"the cpu lab failed:\n{result.stdout}\n{result.stderr}"
    return LabRun(workdir, result, seconds)


@pytest.fixture(scope="session")
def tiny_model(cpu_lab: LabRun) -> Path:
    """The tiny base model the cpu lab built (a local folder usable with --model)."""
    return cpu_lab.workdir / "models" / "tiny-phi3"
