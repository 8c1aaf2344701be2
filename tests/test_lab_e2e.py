"""The real `cpu` lab end to end, as a user gets it: every step's outputs, a chat reply, reruns, cancel, re-attach.

No mocks: Olive, the HF trainer and onnxruntime-genai run for real, on the tiny Phi-3-architecture model for the
fast paths (`cpu_lab`) and once on the profile's real model, SmolLM2-135M-Instruct (`real_cpu_lab`).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import OLIVE_LAB, olive_lab

pytestmark = pytest.mark.slow


def weights_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*.safetensors"))


def test_lab_makes_every_output(cpu_lab):
    root = cpu_lab.workdir
    base = root / "models" / "tiny-phi3"
    quantized = root / "models" / "phi" / "rtn" / "model"
    assert (base / "config.json").is_file()
    # int4 shrinks the linear layers ~8x; the tiny model is half embeddings, which RTN keeps in float.
    assert 0 < weights_bytes(quantized) < 0.6 * weights_bytes(base), "the quantized model should be smaller"
    assert json.loads((quantized / "config.json").read_text())["quantization_config"]
    for name in ("adapter_config.json", "adapter_model.safetensors"):
        assert (root / "models" / "phi" / "ft" / "adapter" / name).is_file()
    onnx = root / "models" / "phi" / "onnx-ao"
    for name in ("model.onnx", "genai_config.json", "adapter_weights.onnx_adapter"):
        assert (onnx / name).is_file()
    for step in ("model", "quantize", "finetune", "optimize"):
        assert (root / "logs" / f"{step}.log").stat().st_size > 0


def test_the_optimized_adapter_holds_the_float_lora_weights(cpu_lab):
    """The builder would round the LoRA A/B weights to int4 (packed uint8 graph inputs); the lab keeps them float, as
    the adapter file's parameters and the graph's float LoRA MatMuls show, while the base projections are int4."""
    import onnx
    import onnxruntime as ort

    onnx_dir = cpu_lab.workdir / "models" / "phi" / "onnx-ao"
    params = ort.AdapterFormat.read_adapter(str(onnx_dir / "adapter_weights.onnx_adapter")).get_parameters()
    assert params and all(p.data_type() == "tensor(float)" for p in params.values()), \
        {name: p.data_type() for name, p in params.items()}
    assert all(".lora_A." in name or ".lora_B." in name for name in params)
    nodes = onnx.load(str(onnx_dir / "model.onnx"), load_external_data=False).graph.node
    assert not [n.name for n in nodes if n.op_type == "MatMulNBits" and "/lora_" in n.name]
    assert sum(n.op_type == "MatMul" and "/lora_" in n.name for n in nodes) == len(params)
    assert any(n.op_type == "MatMulNBits" and "/attn/" in n.name for n in nodes)


def test_lab_ends_with_a_chat_reply_with_and_without_adapter(cpu_lab):
    out = cpu_lab.result.stdout
    assert "adapter off" in out and "adapter on" in out
    assert "Lab status" in out
    for step in ("model", "quantize", "finetune", "optimize"):
        assert f"✓ {step}" in out


def test_adapter_changes_the_reply(cpu_lab):
    from olive_lab.steps.chat import ChatSession

    session = ChatSession.open(cpu_lab.workdir / "models" / "phi" / "onnx-ao")
    prompt = "What food should I try in Kyoto?"
    with_adapter = session.reply(prompt, use_adapter=True, max_new_tokens=30)
    without = session.reply(prompt, use_adapter=False, max_new_tokens=30)
    assert with_adapter and without and with_adapter != without
    stats = session.last_stats
    assert stats.tokens > 0 and stats.ttft_s is not None and stats.ttft_s < 5


def test_the_model_process_answers_as_the_model_does_and_stops_when_asked(cpu_lab):
    from olive_lab.steps.chat import ChatProcess, ChatSession

    folder = cpu_lab.workdir / "models" / "phi" / "onnx-ao"
    messages = [{"role": "user", "content": "What food should I try in Kyoto?"}]
    in_process = "".join(ChatSession.open(folder).generate(messages, use_adapter=False, max_new_tokens=40))
    child = ChatProcess.open(folder)
    try:
        assert child.has_adapter
        assert "".join(child.generate(messages, use_adapter=False, max_new_tokens=40)) == in_process
        assert child.last_stats.tokens == 40 and not child.last_stats.stopped

        stop = threading.Event()
        for _ in child.generate(messages, use_adapter=False, max_new_tokens=1500, stop=stop):
            stop.set()
        assert child.last_stats.stopped and child.last_stats.tokens < 1500
        # The same process answers the next question.
        assert "".join(child.generate(messages, use_adapter=False, max_new_tokens=40)) == in_process

        child._proc.kill()  # as the kernel's OOM killer would
        with pytest.raises(RuntimeError, match=r"The model process ended \(exit code -9\)"):
            list(child.generate(messages, use_adapter=False, max_new_tokens=40))
    finally:
        child.close()


def test_a_model_that_cannot_load_says_why(tmp_path):
    from olive_lab.steps.chat import ChatProcess

    with pytest.raises(RuntimeError, match="genai_config.json"):
        ChatProcess.open(tmp_path)


def test_rerun_skips_every_step_quickly(cpu_lab):
    started = time.perf_counter()
    result = olive_lab("run", "--workdir", str(cpu_lab.workdir), "--no-chat")
    seconds = time.perf_counter() - started
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("up to date") == 5, result.stdout
    assert seconds < 10


def test_status_and_command_agree_with_the_lab(cpu_lab):
    status = olive_lab("status", "--workdir", str(cpu_lab.workdir))
    assert status.returncode == 0
    assert status.stdout.count("done") >= 4
    command = olive_lab("command", "finetune", "--workdir", str(cpu_lab.workdir))
    assert command.returncode == 0
    assert "olive finetune --method lora -m models/tiny-phi3" in command.stdout
    assert "-o models/phi/ft" in command.stdout


def test_cancel_stops_every_process_of_the_step(tiny_model, tmp_path):
    from olive_lab.steps import pipeline, runner

    lab = pipeline.load_lab(tmp_path, "cpu", str(tiny_model))
    handle = runner.start(lab, ["finetune"])
    for event in handle.follow("finetune"):
        if getattr(event, "name", "").startswith("running pass"):
            break
    pgid = json.loads((tmp_path / ".olive-lab" / "state" / "finetune.json").read_text())["pid"]
    handle.cancel(grace_s=5)
    with pytest.raises(ProcessLookupError):
        os.killpg(pgid, 0)
    assert not handle.alive()
    state = handle.wait()["finetune"]
    assert state.status == "cancelled"
    events = list(handle.follow("finetune"))
    assert events[-1].cancelled


def test_run_survives_its_front_end_and_a_new_one_reattaches(tiny_model, tmp_path):
    """Kill the terminal's `olive-lab run` mid-step: the step goes on, and `status --follow` sees it finish."""
    front = subprocess.Popen([*OLIVE_LAB, "run", "--profile", "cpu", "--model", str(tiny_model), "--only", "quantize",
                              "--workdir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             start_new_session=True)
    state_file = tmp_path / ".olive-lab" / "state" / "quantize.json"
    deadline = time.monotonic() + 60
    while not (state_file.exists() and json.loads(state_file.read_text()).get("pid")):
        assert time.monotonic() < deadline, "quantize never started"
        time.sleep(0.1)
    os.killpg(front.pid, signal.SIGKILL)  # what a closed terminal does to its foreground job
    front.wait()
    follow = olive_lab("status", "--follow", "--workdir", str(tmp_path))
    assert "✓ quantize" in follow.stdout, follow.stdout
    log = (tmp_path / "logs" / "quantize.log").read_text()
    assert log.startswith("$ olive quantize") and "Model is saved at" in log


def test_a_folder_that_is_not_a_model_fails_with_a_clear_message(tmp_path):
    not_a_model = tmp_path / "empty-model"
    not_a_model.mkdir()
    result = olive_lab("run", "--profile", "cpu", "--model", str(not_a_model), "--workdir", str(tmp_path / "w"),
                       "--no-chat")
    assert result.returncode == 2  # refused before the model step could record it as "done (found)"
    assert "config.json is missing" in result.stderr and not (tmp_path / "w").exists()


def test_a_broken_model_fails_with_the_reason_and_the_log_tail(tiny_model, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "config.json").write_text('{"model_type": "phi3", "hidden_size": "not a number"}')
    result = olive_lab("run", "--profile", "cpu", "--model", str(broken), "--only", "quantize",
                       "--workdir", str(tmp_path / "w"))
    assert result.returncode == 1
    assert "✗ failed quantize" in result.stdout
    assert "Fix:" in result.stdout and "Last lines of the log" in result.stdout


def test_bad_dataset_stops_before_finetune_with_line_numbers(tiny_model, tmp_path):
    data = tmp_path / "bad.jsonl"
    data.write_text('{"prompt": "Where to eat in Oslo?", "response": "Try the harbour."}\n{"prompt": "oops"\n')
    result = olive_lab("run", "--profile", "cpu", "--model", str(tiny_model), "--data", str(data),
                       "--only", "finetune", "--workdir", str(tmp_path / "w"))
    assert result.returncode == 2  # refused at the command line's front door, before any step starts
    assert "line 2" in result.stderr and not (tmp_path / "w").exists()


def test_outputs_made_by_hand_count_as_done(cpu_lab, tmp_path):
    """Someone followed the written lab by hand: the wizard takes their folders as done instead of redoing them."""
    shutil.copytree(cpu_lab.workdir / "models", tmp_path / "models")
    result = olive_lab("run", "--profile", "cpu", "--model", "tiny", "--workdir", str(tmp_path), "--no-chat")
    assert result.returncode == 0
    assert result.stdout.count("outputs found") == 4, result.stdout
    assert "done (found)" in result.stdout


# ------------------------------------------------------------------------------------------ the real model


KYOTO = "What should I see in Kyoto?"


def chat_answer(workdir: Path, *flags: str) -> str:
    """What `olive-lab chat --prompt` prints as the answer (its last line is the speed summary)."""
    result = olive_lab("chat", "--workdir", str(workdir), "--prompt", KYOTO, "--max-new-tokens", "60", *flags)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.rsplit("\n[", 1)[0].strip()


def assert_words(answer: str) -> None:
    """An answer in words: at least five, and mostly letters (not the tiny model's `slftftft` or line breaks)."""
    words = re.findall(r"[A-Za-z]{2,}", answer)
    letters = sum(c.isalpha() for c in answer)
    assert len(words) >= 5, answer
    assert letters >= 0.6 * len(answer.replace(" ", "")), answer
    assert len(set(w.lower() for w in words)) >= 5, answer


@pytest.mark.real_model
def test_the_real_cpu_lab_answers_in_words_and_the_adapter_changes_the_answer(real_cpu_lab):
    base = real_cpu_lab / "models" / "base" / "SmolLM2-135M-Instruct"
    assert json.loads((base / "olive-lab.json").read_text())["license"] == "Apache-2.0"
    assert (real_cpu_lab / "data" / "train.jsonl").is_file() and (real_cpu_lab / "data" / "heldout.jsonl").is_file()
    off, on = chat_answer(real_cpu_lab, "--no-adapter"), chat_answer(real_cpu_lab)
    assert_words(off)
    assert_words(on)
    assert off != on
