"""The upload pane against real azure-ai-ml / azure-storage-blob, real Azurite (TLS) and the fake ARM and
authority of tests/azure: byte progress, the result, and the device-code sign-in shown inside the app.

Skipped (with the reason) where azurite-blob is not installed, like tests/test_upload_e2e.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "azure"))
from aml_fixtures import *  # noqa: E402,F401,F403 - fixtures
from aml_fixtures import RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, make_model_folder  # noqa: E402

from conftest import app_for, make_workdir, ready, screen_text, settled, wait_for  # noqa: E402


def make_upload_lab(tmp_path, monkeypatch, **model) -> Path:
    """A lab whose optimized model is a fake one (`make_model_folder(**model)`), the form pre-filled by env."""
    workdir = make_workdir(tmp_path / "lab")
    make_model_folder(workdir / "models" / "phi", **model)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", SUBSCRIPTION)
    monkeypatch.setenv("OLIVE_LAB_RESOURCE_GROUP", RESOURCE_GROUP)
    monkeypatch.setenv("OLIVE_LAB_WORKSPACE", WORKSPACE)
    return workdir


@pytest.fixture
def upload_lab(tmp_path, aml_env, monkeypatch):
    return make_upload_lab(tmp_path, monkeypatch)


async def _upload(app, pilot) -> None:
    await ready(pilot, app)
    app.wizard.show_step("upload")
    pane = app.wizard.pane("upload")
    await wait_for(pilot, lambda: pane.prefilled)
    await settled(pilot)
    assert pane.problems == [] and pane.folder_problems == [], pane.problems + pane.folder_problems
    assert pane.can("upload") is True
    await pilot.press("f9")
    return pane


def before_each(message_type, probe):
    """A message hook that runs `probe()` as each `message_type` arrives: it sees what the earlier ones drew."""
    from olive_lab.tui.upload_pane import UploadPane

    wanted = getattr(UploadPane, message_type)
    return lambda message: probe() if isinstance(message, wanted) else None


async def test_upload_shows_progress_and_the_registered_model(arm, azurite, upload_lab):
    app = app_for(upload_lab)
    progress = []

    def bar_now():
        for bar in app.query("#upload-progress"):
            if bar.total:
                progress.append((bar.progress, bar.total))

    async with app.run_test(size=(100, 40), message_hook=before_each("Progress", bar_now)) as pilot:
        pane = await _upload(app, pilot)
        await settled(pilot)  # the upload worker is done and its last messages are drawn
        assert not pane.uploading
        assert pane.result is not None, pane.error
        # The three-line result needs one more layout pass after the upload ends.
        await wait_for(pilot, lambda: "asset id" in screen_text(app), timeout=5)
        text = screen_text(app)
        assert "Registered" in text and pane.result.reference in text
        assert app.wizard.steps.row("upload").state.status == "done"
    assert len(arm.model_puts()) == 1
    assert progress and all(done <= total for done, total in progress)
    state = (upload_lab / ".olive-lab" / "state" / "upload.json").read_text()
    assert '"done"' in state


async def test_device_code_is_shown_inside_the_app(arm, azurite, upload_lab, fake_authority, monkeypatch):
    monkeypatch.setenv("FAKE_AZ_MODE", "signed-out")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", fake_authority.host)
    app = app_for(upload_lab)
    shown = []

    def login_box_now():
        box = app.query_one("#upload-login")
        if box.display:
            shown.append(str(box.render()))

    # The box gives way to the progress bar once signed in: what it showed is read as the first bytes arrive.
    async with app.run_test(size=(100, 40), message_hook=before_each("Progress", login_box_now)) as pilot:
        pane = await _upload(app, pilot)
        await settled(pilot)
        assert pane.result is not None, pane.error
    assert shown and "ABCD-EFGH" in shown[0] and "devicelogin" in shown[0], \
        "the device code and its address were shown in the app"
    assert app.clipboard == "ABCD-EFGH"


async def test_not_signed_in_says_how(arm, upload_lab, monkeypatch):
    monkeypatch.setenv("FAKE_AZ_MODE", "signed-out")
    monkeypatch.setenv("AZURE_AUTHORITY_HOST", "https://127.0.0.1:9")  # nothing there: device code fails fast
    app = app_for(upload_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await _upload(app, pilot)
        await wait_for(pilot, lambda: not pane.uploading, 120)
        assert pane.result is None and pane.error
        assert "✗" in screen_text(app)
        assert app.wizard.steps.row("upload").state.status == "failed"


async def test_f8_cancels_an_upload_and_f9_finishes_it_later(arm, azurite, tmp_path, aml_env, monkeypatch):
    # 40 blocks of 4 MiB: time to press F8 in the middle of the big file.
    app = app_for(make_upload_lab(tmp_path, monkeypatch, big=160 * 1024 * 1024))
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await _upload(app, pilot)
        await wait_for(pilot, lambda: "model.onnx.data" in screen_text(app), timeout=60)
        await pilot.press("f8")
        await wait_for(pilot, lambda: not pane.uploading, timeout=60)
        await wait_for(pilot, lambda: "nothing was registered" in screen_text(app), timeout=5)
        assert pane.result is None and "✗" in screen_text(app)
        assert app.wizard.steps.row("upload").state.status == "cancelled"
        await wait_for(pilot, lambda: not app.query("#upload-progress"), timeout=5)  # the bar goes with the upload
        assert arm.model_puts() == []

        await pilot.press("f9")
        await wait_for(pilot, lambda: not pane.uploading, timeout=120)
        assert pane.result is not None, pane.error
        await wait_for(pilot, lambda: "asset id" in screen_text(app), timeout=5)
        assert "Registered" in screen_text(app)
        assert pane.result.skipped_files >= 1  # the files sent before F8 were kept
    assert len(arm.model_puts()) == 1
