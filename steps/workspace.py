"""The work folder: where models, logs, caches and each step's state live on disk.

Everything a front end needs to show a step (status, argv, pid, outputs, the log) is here, so the wizard, the
headless CLI and a wizard opened later in another terminal all read the same truth.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .redact import redact
from .units import fmt_bytes

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
        """The step's recorded state; a broken state file is set aside and the step counts as never run."""
        data = read_json(workspace.state_path(step), lambda d: _state_problem(d, step),
                         "the step is checked again, and redone unless its outputs match its inputs")
        if data is None:
            return cls(step)
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})

    def save(self, workspace: Workspace) -> None:
        write_json(workspace.state_path(self.step), asdict(self))


STATUSES = (RUNNING, DONE, FAILED, CANCELLED, PENDING)
_NUMBER, _TEXT, _NONE = (int, float), (str,), (type(None),)
#: The JSON types each StepState field may hold; anything else means someone else wrote the file.
_STATE_TYPES = {"step": _TEXT, "status": _TEXT, "started_at": _NUMBER + _NONE, "ended_at": _NUMBER + _NONE,
                "argv": (list,), "fingerprint": _TEXT + _NONE, "outputs": (dict,), "pid": (int,) + _NONE,
                "pid_started_at": _NUMBER + _NONE, "exit_code": (int,) + _NONE, "reason": _TEXT, "advice": _TEXT,
                "found_by_hand": (bool,)}


def _state_problem(data, step: str) -> str:
    """Why `data` is not a state file of `step` ('' when it is one)."""
    if not isinstance(data, dict):
        return f"it holds a JSON {type(data).__name__}, not an object"
    for key, kinds in _STATE_TYPES.items():
        value = data.get(key)
        if key in data and (not isinstance(value, kinds) or isinstance(value, bool) and bool not in kinds):
            return f"{key!r} is {value!r}"[:200]
    if data.get("step", step) != step:
        return f"it is the state of {data['step']!r}"[:200]
    if data.get("status", PENDING) not in STATUSES:
        return f"unknown status {data['status']!r}"[:200]
    if not all(isinstance(a, str) for a in data.get("argv", [])) or \
            not all(isinstance(v, str) for v in data.get("outputs", {}).values()):
        return "its argv or outputs are not text"
    return ""


# --- JSON files other programs (or people) may have broken ---------------------------------------------------

_notices: list[str] = []


def take_notices() -> list[str]:
    """What was found broken and set aside since the last call, in words a user reads (then forgotten)."""
    found, _notices[:] = list(_notices), []
    return found


def read_json(path: Path, problem: Callable[[object], str], consequence: str):
    """The JSON in `path`, or None when it is missing or broken. A broken file is renamed and a notice kept.

    `problem(data)` says what is wrong with well-formed JSON of the wrong shape ('' when it is fine).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        why = exc.strerror or str(exc)
    else:
        try:
            data = json.loads(raw.decode("utf-8"))
            why = problem(data)
        except UnicodeDecodeError:
            why = "it is not text (binary bytes)"
        except ValueError:
            why = "it is empty" if not raw.strip() else "it is not valid JSON (truncated or edited)"
        if not why:
            return data
    set_aside(path, why, consequence)
    return None


def set_aside(path: Path, why: str, consequence: str) -> None:
    """Rename a broken file to `<name>.corrupt-<time>` (kept for a person to look at) and say so."""
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, aside)
        kept = f"set aside as {aside.name}"
    except FileNotFoundError:
        return  # another reader set it aside first and said so
    except OSError as exc:
        kept = f"could not be set aside ({exc.strerror or exc})"
    _notices.append(f"{path} was unreadable: {why}. It was {kept}; {consequence}.")


def write_json(path: Path, data) -> None:
    """Write atomically (a reader never sees half a file); a failed write leaves no temporary file behind.

    Every state and settings file goes through here, so anything shaped like a secret is scrubbed on the way to
    the disk even if a front end let one through.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(redact(data), indent=2), encoding="utf-8")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- free space ---------------------------------------------------------------------------------------------

def free_bytes(path: Path) -> int:
    """Free bytes on the file system holding `path` (or its nearest existing parent)."""
    existing = Path(path)
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    return shutil.disk_usage(existing).free


def free_space_problem(root: Path, need_bytes: float, what: str) -> str:
    """'' when the disk holding `root` has `need_bytes` free; else how much is free, how much `what` needs."""
    try:
        free = free_bytes(root)
    except OSError as exc:
        return f"Could not read the free space in {root}: {exc.strerror or exc}."
    if free >= need_bytes:
        return ""
    return (f"Not enough free space in {root}: {fmt_bytes(free)} free, and about {fmt_bytes(need_bytes)} needed for {what}. "
            f"Free {fmt_bytes(need_bytes - free)} or more, or use a work folder on a bigger disk (--workdir).")
