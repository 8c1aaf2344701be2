"""Per-step overlays (steps/envs.py) and the GPU flow choice (steps/flows.py): no pip, no GPU; fake dist-info folders."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from olive_lab.steps import envs, flows, pipeline
from olive_lab.steps.lab import Lab
from olive_lab.steps.profiles import CPU, GPU


def fake_overlay(root: Path, name: str = "awq-tf4", versions: dict | None = None) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    pins = envs.OVERLAYS[name].versions()
    for dist, version in {**pins, **(versions or {})}.items():
        info = folder / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n\nbody\n")
    (folder / envs.MARKER).write_text(f'{{"python": "{sys.version_info.major}.{sys.version_info.minor}"}}')
    return folder


@pytest.fixture
def envs_root(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "envs"
    monkeypatch.setenv(envs.ENVS_VAR, str(root))
    monkeypatch.delenv(flows.FLOW_VAR, raising=False)
    return root


def test_missing_overlay_is_not_ready_and_says_how_to_fix(envs_root):
    status = envs.inspect("awq-tf4")
    assert not status.ready and "olive-lab setup --profile gpu" in status.summary()


def test_overlay_with_its_pins_is_ready(envs_root):
    fake_overlay(envs_root)
    status = envs.inspect("awq-tf4")
    assert status.ready, status.problems
    assert status.installed["transformers"] == "4.51.3" and status.installed["peft"] == "0.17.1"


def test_overlay_with_a_wrong_version_is_not_ready(envs_root):
    fake_overlay(envs_root, versions={"peft": "0.21.0"})
    status = envs.inspect("awq-tf4")
    assert not status.ready and any("peft 0.21.0 (needs 0.17.1)" in p for p in status.problems)


def test_environ_puts_the_overlay_first_on_pythonpath(envs_root):
    env = envs.environ("awq-tf4", {"PYTHONPATH": "/a" + os.pathsep + "/b"})
    assert env["PYTHONPATH"].split(os.pathsep) == [str(envs_root / "awq-tf4"), "/a", "/b"]


def test_wrap_and_pip_argv(envs_root, tmp_path):
    argv = envs.wrap("awq-tf4", ("olive", "finetune"))
    assert argv[1:6] == ("-m", "olive_lab.steps.envs", "run", "awq-tf4", "--") and argv[-2:] == ("olive", "finetune")
    pip = envs.pip_argv(envs.AWQ_TF4, tmp_path / "t", tmp_path / "wheels", sys.executable)
    assert "--no-deps" in pip and "--target" in pip and "--no-index" in pip and "autoawq==0.2.9" in pip


def test_overlay_installs_from_its_hashed_lock(envs_root, tmp_path):
    """pip gets the overlay's lock entries (hashes and all), never bare pins, where the source tree has the lock."""
    lock = envs.overlay_lock("awq-tf4")
    assert lock is not None and lock.parent.name == "locks"
    req = envs.locked_requirements(envs.AWQ_TF4, lock, tmp_path / "req.txt", sys.executable)
    text = req.read_text()
    for pin in envs.AWQ_TF4.pins:
        assert pin.replace("_", "-") + " \\" in text
    assert text.count("--hash=sha256:") >= len(envs.AWQ_TF4.pins)
    # httpx/httpcore only where the main environment lacks them (one on huggingface_hub 2.x has only httpx2)
    for module in ("httpx", "httpcore"):
        assert (f"{module}==" in text) == bool(envs.missing_modules(sys.executable, [module])), module
    pip = envs.pip_argv(envs.AWQ_TF4, tmp_path / "t", None, sys.executable, req)
    assert pip[-3:] == ["--require-hashes", "-r", str(req)] and "--no-build-isolation" not in pip


def test_a_bundles_own_overlay_lock_wins(envs_root, tmp_path):
    (tmp_path / "b" / "locks").mkdir(parents=True)
    (tmp_path / "b" / "locks" / "awq-tf4.txt").write_text("# bundle copy\n")
    assert envs.overlay_lock("awq-tf4", tmp_path / "b") == tmp_path / "b" / "locks" / "awq-tf4.txt"
    assert envs.overlay_lock("awq-tf4", tmp_path / "elsewhere") == envs.overlay_lock("awq-tf4")


def test_run_refuses_a_missing_overlay(envs_root, capsys):
    assert envs.main(["run", "awq-tf4", "--", "true"]) == envs.EXIT_MISSING
    assert "[olive-lab] error env:" in capsys.readouterr().out


def lab_at(tmp_path, profile=GPU) -> Lab:
    base = tmp_path / "base"
    base.mkdir(exist_ok=True)
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "p", "response": "r"}\n')
    return Lab.create(tmp_path / "work", profile, dataset=data, model=str(base))


def test_without_overlay_the_gpu_profile_falls_back(envs_root, tmp_path):
    lab = lab_at(tmp_path)
    assert flows.gpu_flow().name == flows.FALLBACK
    q, f, o = (pipeline.plan(lab, s) for s in ("quantize", "finetune", "optimize"))
    assert q.argv[:2] == ("olive", "quantize") and "rtn" in q.argv and q.settings["flow"] == "fallback"
    assert f.argv[:2] == ("olive", "finetune") and str(lab.base_dir) in f.argv
    # the float-LoRA build (the adapter is not rounded to int4), shown as the `olive auto-opt` it stands for
    assert "olive_lab.steps.onnx_build" in o.argv and o.argv[o.argv.index("--model") + 1] == str(lab.ft_dir / "model")
    assert o.olive_equivalent[:2] == ("olive", "auto-opt") and str(lab.ft_dir / "adapter") in o.olive_equivalent
    assert all("fallback" in p.notes[0] for p in (q, f, o))


def test_with_overlay_the_gpu_profile_runs_the_faithful_flow(envs_root, tmp_path):
    fake_overlay(envs_root)
    lab = lab_at(tmp_path)
    q, f, o = (pipeline.plan(lab, s) for s in ("quantize", "finetune", "optimize"))
    assert q.argv[3:5] == ("run", "awq-tf4") and "olive_lab.steps.awq" in q.argv
    assert q.argv[q.argv.index("--engine") + 1] == "direct" and "--n-grid" in q.argv  # what runs, knobs shown
    assert any("--engine olive" in n and "olive quantize --algorithm awq" in n for n in q.notes)
    assert f.argv[3:5] == ("run", "awq-tf4") and str(lab.quantized_dir / "model") in f.argv
    assert "olive_lab.steps.awq_onnx" in o.argv and str(lab.ft_dir / "model") in o.argv
    assert {p.settings["flow"] for p in (q, f, o)} == {"faithful"}


def test_hybrid_builds_from_the_float_base(envs_root, tmp_path, monkeypatch):
    fake_overlay(envs_root)
    monkeypatch.setenv(flows.FLOW_VAR, "hybrid")
    lab = lab_at(tmp_path)
    o = pipeline.plan(lab, "optimize")
    assert "olive_lab.steps.onnx_build" in o.argv and o.argv[o.argv.index("--model") + 1] == str(lab.base_dir)
    assert str(lab.quantized_dir / "model") in pipeline.plan(lab, "finetune").argv
    # the flow is part of the fingerprint: switching flows reruns the step
    monkeypatch.setenv(flows.FLOW_VAR, "faithful")
    assert pipeline.fingerprint(pipeline.plan(lab, "optimize")) != pipeline.fingerprint(o)


def test_cpu_profile_is_untouched_by_flows(envs_root, tmp_path):
    fake_overlay(envs_root)
    lab = lab_at(tmp_path, CPU)
    q, f, o = (pipeline.plan(lab, s) for s in ("quantize", "finetune", "optimize"))
    assert q.argv[:2] == ("olive", "quantize") and "rtn" in q.argv
    assert f.argv[:2] == ("olive", "finetune") and o.argv[1:3] == ("-m", "olive_lab.steps.onnx_build")
    assert o.olive_equivalent[:2] == ("olive", "auto-opt")  # the Olive command it stands for, shown to the user
    assert "flow" not in q.settings and "flow" not in o.settings
