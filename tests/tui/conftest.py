"""Fixtures for the wizard's tests: real step objects on the cpu profile, no mocks of Olive.

- `fresh_lab`: an empty work folder with the dataset in data/ (relative paths on screen, so snapshots do not
  depend on where the checkout lives).
- `lab_copy`: a private copy of the session's finished cpu lab (tests/conftest.py `cpu_lab` runs the real
  pipeline once per session), so a test may rerun or cancel steps without touching the others.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DATASET = REPO / "data" / "data_sample_travel.jsonl"
FIXED_NOW = 1_800_000_000.0  # 2027-01-15 08:00 UTC: a fixed clock for what the screen shows


def fixed_clock() -> float:
    return FIXED_NOW


def make_workdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "data").mkdir(exist_ok=True)
    shutil.copy(DATASET, path / "data" / DATASET.name)
    return path


@pytest.fixture
def fresh_lab(tmp_path) -> Path:
    return make_workdir(tmp_path / "lab")


@pytest.fixture
def lab_copy(cpu_lab, tmp_path) -> Path:
    dest = tmp_path / "lab"
    shutil.copytree(cpu_lab.workdir, dest, symlinks=True, ignore=shutil.ignore_patterns(".olive-cache"))
    return dest


def app_for(workdir: Path, **kwargs):
    from olive_lab.tui.app import OliveLabApp

    kwargs.setdefault("gpu", "none")
    kwargs.setdefault("run_check", False)
    return OliveLabApp(workdir, kwargs.pop("profile", "cpu"), **kwargs)


#: Workers that live as long as something outside the app: the follower of a detached run, a reply being generated.
LIVE_GROUPS = ("follow", "chat")


async def wait_for(pilot, condition, timeout: float = 30.0, poll_s: float = 0.05) -> None:
    """Let the app run until `condition()` is true (fails the test after `timeout`).

    For what only a detached run or a model thread decides (a step ends, a reply is done): the wait ends on the
    condition, not after a duration; `poll_s` only keeps the loop from taking the core the workers need.
    """
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {getattr(condition, '__name__', '')}")
        await asyncio.sleep(poll_s)
        await pilot.pause()
    await drawn(pilot)


async def drawn(pilot) -> None:
    """The screen has caught up: what was scheduled for after the next refresh (a footer that rebuilds for new
    keys, a tab switched by a handler) ran, and the messages it posted were handled."""
    frame = asyncio.get_running_loop().create_future()
    pilot.app.screen.call_after_refresh(lambda: frame.done() or frame.set_result(None))
    await pilot.pause()
    await frame
    await pilot.pause()


async def settled(pilot) -> None:
    """Every worker started so far has finished, and what they and the keys posted is handled and drawn.

    Harlequin's `wait_for_workers`: the wizard's workers (planning, reading the dataset, the check) only post
    messages, so once they are complete one more frame shows their outcome. Not for a followed run, whose worker
    lives as long as the run (use `wait_for` on what the pane shows).
    """
    def busy():
        return [worker for worker in pilot.app.workers if not worker.is_finished and worker.group not in LIVE_GROUPS]

    for _ in range(10):  # a handled message may start the next worker (a refresh after a step is shown)
        if workers := busy():
            await pilot.app.workers.wait_for_complete(workers)
        await drawn(pilot)
        if not busy():
            return
    raise AssertionError(f"workers still running: {[w.name for w in busy()]}")


async def ready(pilot, app, timeout: float = 30.0) -> None:
    """The lab is loaded and its plans and states are on screen."""
    await wait_for(pilot, lambda: app.wizard.lab is not None and bool(app.wizard.plans), timeout)
    await settled(pilot)


async def loaded_chat(pilot, app):
    """The wizard is ready, the chat pane is shown and its model loaded (the load's error fails the test)."""
    await ready(pilot, app)
    app.wizard.show_step("chat")
    pane = app.wizard.pane("chat")
    await wait_for(pilot, lambda: pane.session is not None or pane.load_error, 60)
    assert pane.session is not None, pane.load_error
    return pane


def screen_text(app) -> str:
    """What the terminal shows now, as plain text lines (the top screen, modals included)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join(strip.text for strip in strips)


def pane_words(app) -> str:
    """The shown pane's text as one line of words: what the user reads, whatever the line breaks."""
    lines = screen_text(app).splitlines()[1:-1]  # under the header, above the footer
    return " ".join(" ".join(line.split("▕", 1)[-1] for line in lines).split())


@pytest.fixture(autouse=True)
def _quiet_env(monkeypatch):
    """No Azure sign-in and no network from the wizard under test; a UTC clock for shown times."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    for var in ("AZURE_SUBSCRIPTION_ID", "OLIVE_LAB_RESOURCE_GROUP", "OLIVE_LAB_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", os.devnull + "-none")
    yield
    time.tzset()
