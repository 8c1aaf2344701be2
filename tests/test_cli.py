"""The CLI starts fast (no torch/Olive at start-up), and usage mistakes get a clear message and exit code 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

from conftest import olive_lab

HEAVY = ("torch", "olive", "onnxruntime", "onnxruntime_genai", "transformers", "textual", "azure")


def test_help_imports_nothing_heavy():
    code = ("import sys\nfrom olive_lab.cli import build_parser\nbuild_parser().format_help()\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_help_lists_every_command():
    result = olive_lab("--help")
    assert result.returncode == 0
    for command in ("check", "data", "run", "status", "command", "chat", "upload", "serve"):
        assert command in result.stdout


def test_unknown_step_is_a_usage_error(tmp_path):
    result = olive_lab("run", "--profile", "cpu", "--only", "bake", "--workdir", str(tmp_path))
    assert result.returncode == 2
    assert "unknown step 'bake'" in result.stdout
    assert "model, quantize, finetune, optimize" in result.stdout


def test_command_prints_the_lab_commands_without_running_anything(tmp_path):
    result = olive_lab("command", "--profile", "cpu", "--model", "tiny", "--workdir", str(tmp_path))
    assert result.returncode == 0
    assert "olive quantize -m models/tiny-phi3 --algorithm rtn --precision int4 -o models/phi/rtn" in result.stdout
    assert "--text_template $'<|user|>\\n{prompt}<|end|>\\n<|assistant|>\\n{response}<|end|>'" in result.stdout
    assert "olive auto-opt -m models/phi/ft/model -a models/phi/ft/adapter" in result.stdout
    assert not (tmp_path / "models").exists()
    smol = olive_lab("command", "--profile", "cpu", "--model", "smollm2", "--workdir", str(tmp_path))
    assert "python -m olive_lab.steps.smollm2 --out models/base/SmolLM2-135M-Instruct" in smol.stdout
    assert "--data_files data/train.jsonl --text_template $'<|im_start|>system\\n" in smol.stdout


def test_chat_before_optimize_says_what_to_do(tmp_path):
    result = olive_lab("chat", "--profile", "cpu", "--prompt", "hi", "--workdir", str(tmp_path))
    assert result.returncode == 3
    assert "run the optimize step first" in result.stderr


def test_run_on_the_gpu_profile_without_a_gpu_is_blocked_with_the_fix(tmp_path):
    from olive_lab.steps.check import probe_nvml

    if probe_nvml().gpus:
        pytest.skip("this machine has an NVIDIA GPU")
    result = olive_lab("run", "--profile", "gpu", "--workdir", str(tmp_path))
    assert result.returncode == 3
    assert "the gpu profile needs one" in result.stdout
    assert "--profile cpu" in result.stdout
    assert not (tmp_path / "models").exists()


def test_first_run_says_which_profile_the_check_chose_and_why(tmp_path):
    result = olive_lab("run", "--only", "model", "--no-chat", "--workdir", str(tmp_path))
    assert result.returncode == 0
    assert "Profile cpu: No NVIDIA GPU found" in result.stdout or "Profile gpu:" in result.stdout
