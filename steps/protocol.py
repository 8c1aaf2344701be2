"""The step protocol: the lab's steps in order, and which of them run as detached subprocesses.

Every step in `STEP_ORDER` has a plan and a verify (see `pipeline.plan` / `pipeline.verify`).
"""

from __future__ import annotations

STEP_ORDER = ("check", "data", "model", "quantize", "finetune", "optimize", "evaluate", "chat", "upload")
#: Steps that run as detached subprocesses through the runner; the others run inside the front end.
RUNNABLE = ("model", "quantize", "finetune", "optimize", "evaluate")
