"""Folders that appear whole or not at all: build beside the target, then swap it in with one rename.

Used by every step that writes a model or an environment folder (tiny_model, smollm2, hub, envs), so a killed
build never leaves half a folder where a finished one is expected. A leaf module: standard library only.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Callable, TypeVar

T = TypeVar("T")


def replace_folder(new: Path, out: Path) -> None:
    """Put the finished folder `new` at `out` in one rename; an older `out` is moved aside first, then deleted."""
    old = None
    if out.exists():
        old = out.parent / f"{out.name}.old-{os.getpid()}"
        os.replace(out, old)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def build_folder(out: Path, build: Callable[[Path], T]) -> T:
    """Run `build` on a fresh folder beside `out`, then put it at `out`; what `build` returns. Whatever goes
    wrong, the half-built folder is removed and `out` is left as it was."""
    tmp = fresh_tmp(out)
    try:
        result = build(tmp)
        replace_folder(tmp, out)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def fresh_tmp(out: Path) -> Path:
    """An empty `DIR.tmp-<pid>` beside `out` to build in (left-overs of killed builds are removed first)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    clean_stale_tmp(out)
    tmp = out.parent / f"{out.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def clean_stale_tmp(out: Path) -> None:
    """Remove `DIR.tmp-<pid>` folders left by builds that were killed (their pid no longer runs)."""
    for tmp in out.parent.glob(f"{out.name}.tmp-*"):
        try:
            pid = int(tmp.name.rsplit("-", 1)[1])
        except ValueError:
            continue
        if pid == os.getpid() or pid_alive(pid):
            continue
        shutil.rmtree(tmp, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def disk_full(exc: BaseException) -> bool:
    """True when a write failed because the disk (or the quota) is full."""
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", -1))
