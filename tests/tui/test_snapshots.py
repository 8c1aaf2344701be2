"""SVG snapshots of the wizard at 80x24 (pytest-textual-snapshot, Textual pinned at 8.2.8).

Deterministic by construction: each test's own work folder, ~/lab under a home of its own (so the path on
screen is the same for every test and machine, and tests running at once share nothing), a fixed clock (UTC),
the GPU given, a check report built from the check's own Finding type, no blinking cursors, no animations; each
snapshot is taken once the app's workers are done and their messages drawn, never after a fixed pause. Update with
`pytest tests/tui/test_snapshots.py --snapshot-update` after a deliberate change, and look at the SVGs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from conftest import fixed_clock, make_workdir, settled, wait_for

SIZE = (80, 24)


@dataclass
class FixedReport:
    """The fields of steps.check.CheckReport the check pane reads, with real Finding objects."""

    findings: list
    profile: str = "cpu"
    profile_reason: str = "No NVIDIA GPU found, so the cpu profile runs the lab on a tiny model."
    profile_forced: bool = False
    elapsed_s: float = 1.2
    workdir: str = "~/lab"
    extra: dict = field(default_factory=dict)

    @property
    def blocking(self):
        return [f for f in self.findings if f.severity == "blocking"]

    @property
    def warnings(self):
        return [f for f in self.findings if f.severity == "warning"]

    @property
    def ok(self):
        return not self.blocking


def fixed_report() -> FixedReport:
    from olive_lab.steps.check import Finding

    return FixedReport([
        Finding("gpu", "GPU", "ok", "No NVIDIA GPU: the cpu profile needs none."),
        Finding("torch", "torch", "ok", "torch 2.13.0+cpu (CPU build)"),
        Finding("ortgenai", "onnxruntime-genai", "ok", "onnxruntime-genai 0.14.1 imports and runs"),
        Finding("python", "Python", "ok", "Python 3.11"),
        Finding("disk", "Disk", "ok", "70.0 GiB free in the work folder; the cpu profile needs 0.2 GB"),
        Finding("ram", "RAM", "ok", "23.5 GiB RAM; the cpu profile needs 3 GB"),
        Finding("azure", "Azure login", "warning", "Not signed in; az not on PATH. Only the upload step needs it.",
                "Before uploading: install the Azure CLI, then `az login --use-device-code`."),
    ])


@pytest.fixture
def snap_lab(tmp_path, monkeypatch) -> Path:
    """This test's work folder, shown as ~/lab."""
    monkeypatch.setenv("TEXTUAL_ANIMATIONS", "none")
    monkeypatch.setenv("HOME", str(tmp_path))
    return make_workdir(tmp_path / "lab")


def snap_app(workdir: Path):
    from olive_lab.tui.app import OliveLabApp

    return OliveLabApp(workdir, "cpu", clock=fixed_clock, gpu="none", check_report=fixed_report(),
                       run_check=False, refresh_s=3600)


async def settle(pilot, app) -> None:
    """The lab is loaded, every worker is done and what it posted is drawn; no cursor blinks."""
    from textual.widgets import Input

    wizard = app.wizard
    await wait_for(pilot, lambda: wizard.lab is not None and bool(wizard.plans)
                   and wizard.pane("data").report is not None)
    for inp in app.query(Input):
        inp.cursor_blink = False
    wizard.show_rows()
    await settled(pilot)


def test_check_pane(snap_lab, snap_compare):
    async def run_before(pilot):
        await settle(pilot, pilot.app)

    assert snap_compare(snap_app(snap_lab), terminal_size=SIZE, run_before=run_before)


def test_data_pane(snap_lab, snap_compare):
    async def run_before(pilot):
        await settle(pilot, pilot.app)
        pilot.app.wizard.show_step("data")
        await settled(pilot)

    assert snap_compare(snap_app(snap_lab), terminal_size=SIZE, run_before=run_before)


def test_quantize_about_pane(snap_lab, snap_compare):
    async def run_before(pilot):
        app = pilot.app
        await settle(pilot, app)
        app.wizard.show_step("quantize")
        await wait_for(pilot, lambda: app.wizard.pane("quantize").decision != "")
        await settled(pilot)

    assert snap_compare(snap_app(snap_lab), terminal_size=SIZE, run_before=run_before)


def test_upload_form(snap_lab, snap_compare, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    monkeypatch.setenv("OLIVE_LAB_RESOURCE_GROUP", "rg-lab")
    monkeypatch.setenv("OLIVE_LAB_WORKSPACE", "ws-lab")

    async def run_before(pilot):
        app = pilot.app
        await settle(pilot, app)
        app.wizard.show_step("upload")
        await wait_for(pilot, lambda: app.wizard.pane("upload").prefilled)
        await settled(pilot)

    assert snap_compare(snap_app(snap_lab), terminal_size=SIZE, run_before=run_before)


def test_help(snap_lab, snap_compare):
    async def run_before(pilot):
        await settle(pilot, pilot.app)
        await pilot.press("question_mark")
        await settled(pilot)

    assert snap_compare(snap_app(snap_lab), terminal_size=SIZE, run_before=run_before)
