"""The work folder: where models, logs, caches and each step's state live on disk.

Everything a front end needs to show a step (status, argv, pid, outputs, the log) is here, so the wizard, the
headless CLI and a wizard opened later in another terminal all read the same truth.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

STATE_DIR = ".olive-lab"

#: Environment for every Olive subprocess (cpu-pipeline.md, section f): offline, no telemetry, live output.
#: TF_BUILD=1 is the only switch that stops Olive's telemetry before its heartbeat (7 s per command offline).
OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "TF_BUILD": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    "PYTHONUNBUFFERED": "1",
    "TQDM_MININTERVAL": "1",
}


@dataclass(frozen=True)
class Workspace:
    """A lab work folder. Paths inside it are what the written lab uses (`models/phi/...`, `data/...`)."""

    root: Path

    @classmethod
    def at(cls, root: str | os.PathLike) -> Workspace:
        return cls(Path(root).expanduser().resolve())

    @property
    def state_dir(self) -> Path:
        return self.root / STATE_DIR / "state"

    @property
    def logs_dir(self) -> Path:
        return self.root / "logs"

    def log_path(self, step: str) -> Path:
        return self.logs_dir / f"{step}.log"

    def state_path(self, step: str) -> Path:
        return self.state_dir / f"{step}.json"

    def relative(self, path: str | os.PathLike) -> str:
        """A path as the written lab would type it: relative to the work folder when inside it."""
        p = Path(path)
        try:
            return str(p.resolve().relative_to(self.root))
        except ValueError:
            return str(p)

    def subprocess_env(self, base: dict[str, str] | None = None) -> dict[str, str]:
        """The environment for a step's subprocess: offline settings, caches kept inside the work folder."""
        env = dict(os.environ if base is None else base)
        env.update(OFFLINE_ENV)
        env["HF_HOME"] = str(self.root / ".hf")
        env["XDG_CACHE_HOME"] = str(self.root / ".cache")
        return env


RUNNING, DONE, FAILED, CANCELLED, PENDING = "running", "done", "failed", "cancelled", "pending"


@dataclass
class StepState:
    """What is known about one step, kept as `.olive-lab/state/<step>.json` in the work folder."""

    step: str
    status: str = PENDING
    started_at: float | None = None
    ended_at: float | None = None
    argv: list[str] = field(default_factory=list)
    fingerprint: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    pid: int | None = None
    pid_started_at: float | None = None
    exit_code: int | None = None
    reason: str = ""
    advice: str = ""
    found_by_hand: bool = False

    @property
    def duration_s(self) -> float | None:
        if self.started_at is None:
            return None
        return (self.ended_at or time.time()) - self.started_at

    @classmethod
    def load(cls, workspace: Workspace, step: str) -> StepState:
        path = workspace.state_path(step)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return cls(step)
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)

    def save(self, workspace: Workspace) -> None:
        """Write atomically, so a reader never sees half a file."""
        path = workspace.state_path(self.step)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        os.replace(tmp, path)
