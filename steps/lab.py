"""One lab run's context (work folder, profile, dataset, base model) and the plan type every step returns.

A `StepPlan` is the pure description of a step: the argv it runs, its inputs and outputs, what it costs and what a
learner should know about it. Front ends show plans; the runner executes them; nothing here runs anything.
"""

from __future__ import annotations

import re
import shlex
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from .profiles import BUILT_MODELS, Profile
from .workspace import Workspace

DATASET_NAME = "data_sample_travel.jsonl"


def bundled_dataset() -> Path:
    """The travel Q&A set shipped with Olive Lab."""
    return Path(str(resources.files("olive_lab.data").joinpath(DATASET_NAME)))


@dataclass(frozen=True)
class Lab:
    workspace: Workspace
    profile: Profile
    dataset: Path
    model: str | None = None
    #: The user's own held-out set (--eval-data); None: the data step holds out part of `dataset`.
    eval_data: Path | None = None

    @classmethod
    def create(cls, workdir, profile: Profile, dataset=None, model: str | None = None, eval_data=None) -> Lab:
        """A lab in `workdir`; the dataset defaults to `data/data_sample_travel.jsonl` there, else the bundled one."""
        ws = Workspace.at(workdir)
        if dataset is None:
            local = ws.root / "data" / DATASET_NAME
            dataset = local if local.is_file() else bundled_dataset()
        held = Path(eval_data).expanduser().resolve() if eval_data else None
        return cls(ws, profile, Path(dataset).expanduser().resolve(), model, held)

    @property
    def base_model(self) -> str:
        """What the user asked for: a local folder, a hub id, or a model made here (`tiny`, `smollm2`)."""
        return self.model or self.profile.base_model

    @property
    def base_is_local_dir(self) -> bool:
        return self.base_model not in BUILT_MODELS and Path(self.base_model).expanduser().is_dir()

    @property
    def base_dir(self) -> Path:
        """Where the base model's files are (or will be, once the model step made or downloaded them)."""
        if self.base_model in BUILT_MODELS:
            return self.workspace.root / "models" / BUILT_MODELS[self.base_model]
        if self.base_is_local_dir:
            return Path(self.base_model).expanduser().resolve()
        return self.workspace.root / "models" / "base" / re.sub(r"[^A-Za-z0-9._-]+", "--", self.base_model)

    def path(self, relative: str) -> Path:
        return self.workspace.root / relative

    @property
    def quantized_dir(self) -> Path:
        return self.path(self.profile.quantized_dir)

    @property
    def ft_dir(self) -> Path:
        return self.path("models/phi/ft")

    @property
    def onnx_dir(self) -> Path:
        return self.path("models/phi/onnx-ao")


@dataclass(frozen=True)
class StepPlan:
    """What a step will do. `argv` is None for steps that run inside the front end (check, data, chat, upload)."""

    step: str
    title: str
    explain: str
    argv: tuple[str, ...] | None = None
    inputs: tuple[Path, ...] = ()
    outputs: dict[str, Path] = field(default_factory=dict)
    settings: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    expected_s: float | None = None
    expected_disk_gb: float | None = None
    blocked: str = ""
    #: The Olive command a step of the lab's own stands for, shown to teach it (see the step's notes for the change).
    olive_equivalent: tuple[str, ...] | None = None

    def command_line(self, workspace: Workspace) -> str:
        """The argv as a person would type it in the work folder (copyable; paths relative where possible)."""
        return _typed(self.argv, workspace)

    def olive_line(self, workspace: Workspace) -> str:
        """`olive_equivalent` as a person would type it ("" when the step runs Olive's command itself)."""
        return _typed(self.olive_equivalent, workspace)


def _typed(argv: tuple[str, ...] | None, workspace: Workspace) -> str:
    if not argv:
        return ""
    words = ["python" if a == sys.executable else workspace.relative(a) if a.startswith(str(workspace.root))
             else a for a in argv]
    return " ".join(_shell_word(w) for w in words)


def _shell_word(word: str) -> str:
    """Quote for bash; newlines as $'...\\n...' so the command stays on one copyable line."""
    if "\n" not in word:
        return shlex.quote(word)
    return "$'" + word.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
