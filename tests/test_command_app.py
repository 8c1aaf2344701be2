"""`olive-lab command chat` (the lab's app.py, run for real against the tiny lab's ONNX model) and `command upload`."""

from __future__ import annotations

import json
import struct
import subprocess
import sys

import pytest

from conftest import olive_lab

QUESTION = "What should I see in Kyoto?"


def run_app(app, *args: str, cwd, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(app), *args], capture_output=True, text=True, timeout=120, cwd=cwd,
                          input=stdin)


@pytest.mark.slow
def test_the_lab_writes_app_py_and_it_answers_with_the_adapter_on_and_off(cpu_lab, tmp_path):
    app = cpu_lab.workdir / "app.py"
    printed = olive_lab("command", "chat", "--workdir", str(cpu_lab.workdir))
    assert printed.returncode == 0 and printed.stdout == app.read_text(encoding="utf-8"), "run wrote app.py"
    assert "Wrote app.py" in cpu_lab.result.stdout
    # Run from another folder: the script finds the model beside itself.
    off = run_app(app, "--no-adapter", "--prompt", QUESTION, "--max-new-tokens", "24", cwd=tmp_path)
    assert off.returncode == 0, off.stderr
    assert off.stdout.split(), "a reply in words"
    on = run_app(app, "--prompt", QUESTION, "--max-new-tokens", "24", cwd=tmp_path)
    assert on.returncode == 0, on.stderr
    assert on.stdout and on.stdout != off.stdout, "the adapter changes the reply"
    chat = run_app(app, "--no-adapter", "--max-new-tokens", "12", cwd=tmp_path, stdin=f"{QUESTION}\n\n")
    assert chat.returncode == 0, chat.stderr
    assert "adapter off" in chat.stdout and "you> " in chat.stdout


def test_app_py_uses_the_models_own_chat_template_when_it_is_not_phi3(tmp_path):
    model = tmp_path / "smol"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (model / "tokenizer_config.json").write_text(json.dumps({"chat_template": "{{ messages[0]['content'] }}"}))
    (model / "tokenizer.json").write_text("{}")
    (model / "model.safetensors").write_bytes(struct.pack("<Q", 2) + b"{}")  # a complete folder, weights empty
    result = olive_lab("command", "chat", "--profile", "cpu", "--model", str(model), "--workdir", str(tmp_path / "w"))
    assert result.returncode == 0, result.stderr
    assert "PROMPT_FORMAT = None" in result.stdout
    assert "max_length=len(ids) + max_new_tokens" in result.stdout and "append_tokens(ids)" in result.stdout
    compile(result.stdout, "app.py", "exec")
    (model / "config.json").write_text(json.dumps({"model_type": "phi3"}))
    phi = olive_lab("command", "chat", "--profile", "cpu", "--model", str(model), "--workdir", str(tmp_path / "w"))
    assert "PROMPT_FORMAT = '<|user|>\\n{prompt}<|end|>\\n<|assistant|>\\n'" in phi.stdout


def test_command_upload_prints_the_az_line_with_the_resolved_values(tmp_path):
    env = {"AZURE_CONFIG_DIR": str(tmp_path / "no-az"), "AZURE_SUBSCRIPTION_ID": "1111-2222",
           "OLIVE_LAB_RESOURCE_GROUP": "rg-lab", "OLIVE_LAB_WORKSPACE": "ws-lab"}
    result = olive_lab("command", "upload", "--profile", "cpu", "--workdir", str(tmp_path), env=env)
    assert result.returncode == 0, result.stderr
    assert ("az ml model create --name ft-for-travel --version 1 --path models/phi/onnx-ao -g rg-lab -w ws-lab "
            "--subscription 1111-2222") in result.stdout


def test_command_upload_takes_the_workspace_config_and_names_what_is_missing(tmp_path, monkeypatch):
    for var in ("AZURE_SUBSCRIPTION_ID", "OLIVE_LAB_RESOURCE_GROUP", "OLIVE_LAB_WORKSPACE", "CI_RESOURCE_GROUP",
                "CI_WORKSPACE"):
        monkeypatch.delenv(var, raising=False)
    env = {"AZURE_CONFIG_DIR": str(tmp_path / "no-az")}
    bare = olive_lab("command", "upload", "--profile", "cpu", "--workdir", str(tmp_path / "bare"), env=env)
    assert bare.returncode == 0, bare.stderr
    assert "-g <resource-group> -w <workspace> --subscription <subscription>" in bare.stdout
    assert "# The workspace is not set: " in bare.stdout
    lab = tmp_path / "lab"
    (lab / ".azureml").mkdir(parents=True)
    (lab / ".azureml" / "config.json").write_text(json.dumps(
        {"subscription_id": "3333", "resource_group": "rg-cfg", "workspace_name": "ws-cfg"}))
    result = olive_lab("command", "upload", "--explain", "--profile", "cpu", "--workdir", str(lab), env=env)
    assert "-g rg-cfg -w ws-cfg --subscription 3333" in result.stdout
    assert "# workspace: config.json (" in result.stdout
