"""The check pane's F6 "set up AWQ flow": offered only where the gpu profile would run without its AWQ overlay;
it runs the real `olive-lab setup` with its output live in the pane (here offline, from an empty wheel folder, so
it fails fast and says why)."""

from __future__ import annotations

import sys

from olive_lab.steps import check as c
from olive_lab.steps import envs
from olive_lab.tui import check_pane

from conftest import app_for, ready, screen_text, wait_for

GIB = 1024**3


def gpu_report(workdir, overlay_ready: bool) -> c.CheckReport:
    """A made-up H100 machine (hardware data only) with the gpu flow as given."""
    gpu = c.GpuInfo("NVIDIA H100 80GB HBM3", 80 * GIB, (9, 0))
    data = c.ProbeData(
        nvml=c.NvmlProbe(available=True, driver_version="580.159.04", cuda_driver=(13, 0), gpus=[gpu]),
        torch=c.TorchProbe(installed=True, version="2.11.0+cu130", cuda="13.0", cuda_available=True,
                           device_count=1),
        genai=c.GenaiProbe(installed=True, imported=True, version="0.14.1", ort_version="1.32.0"),
        python_version=(3, 12, 3),
        packages={"olive-ai": "0.13.0", "onnxruntime-genai": "0.14.1", "onnxruntime": "1.32.0",
                  "transformers": "5.17.0", "peft": "0.21.0", "torch": "2.11.0+cu130", "textual": "8.2.8"},
        disk=c.DiskProbe(path=str(workdir), free_bytes=200 * GIB),
        ram=c.RamProbe(total_bytes=128 * GIB, available_bytes=120 * GIB),
        azure=c.AzureProbe(),
        gpu_flow=("faithful", "the awq-tf4 environment is ready", True) if overlay_ready
        else ("fallback", "the awq-tf4 environment is not ready: not installed", False),
    )
    return c.report_from(data, "gpu", workdir=str(workdir))


async def test_f6_is_offered_only_while_the_overlay_is_missing(fresh_lab):
    app = app_for(fresh_lab, check_report=gpu_report(fresh_lab, overlay_ready=True))
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: app.wizard.pane("check").report is not None)
        assert app.wizard.pane("check").can("setup") is False
        assert "F6" not in screen_text(app).splitlines()[-1]


async def test_f6_runs_olive_lab_setup_with_its_live_log(fresh_lab, tmp_path, monkeypatch):
    empty = tmp_path / "no-wheels"
    empty.mkdir()
    monkeypatch.setenv(envs.ENVS_VAR, str(tmp_path / "envs"))
    argv = [sys.executable, "-m", "olive_lab.cli", "setup", "--profile", "gpu", "--wheels", str(empty)]
    assert argv[:6] == check_pane.setup_argv()  # the pane's own command, only made offline here
    monkeypatch.setattr(check_pane, "setup_argv", lambda: argv)
    app = app_for(fresh_lab, check_report=gpu_report(fresh_lab, overlay_ready=False))
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot, app)
        pane = app.wizard.pane("check")
        await wait_for(pilot, lambda: pane.report is not None)
        assert pane.can("setup") is True and "F6 set up AWQ flow" in screen_text(app).splitlines()[-1]
        await pilot.press("f6")
        await wait_for(pilot, lambda: pane.setup_returncode is not None, 180)
        await app.workers.wait_for_complete()
        await pilot.pause()
        lines = "\n".join(app.query_one("#check-setup-log").plain_lines())
        assert "olive_lab.cli setup --profile gpu" in lines  # the command, then its output as it came
        assert "awq-tf4" in lines and "--no-index" in lines and "not ready" in lines
        assert pane.setup_returncode == 1
        assert "Setting up the AWQ flow failed (exit 1)" in str(app.query_one("#check-summary").render())
        assert pane.can("setup") is True  # F6 tries again
        assert "not ready" in (fresh_lab / "logs" / "setup.log").read_text(encoding="utf-8")
