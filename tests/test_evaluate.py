"""The evaluate step on the real tiny lab: torch, peft and onnxruntime-genai run for real, nothing is mocked.

`cpu_lab` (tests/conftest.py) runs `olive-lab run`, which ends with the evaluate step, so its report is already in
the session's lab; the tests here read it as a user would, and call the step's parts on copies of that lab.
"""

from __future__ import annotations

import json
import shutil

import pytest

from conftest import olive_lab

STAGES = ("base", "quantized", "tuned", "onnx", "onnx_adapter")


def report_of(workdir) -> dict:
    return json.loads((workdir / "reports" / "eval.json").read_text(encoding="utf-8"))


def by_name(report: dict) -> dict:
    return {s["name"]: s for s in report["stages"]}


@pytest.mark.slow
def test_the_lab_run_ends_with_an_evaluation_of_every_stage(cpu_lab):
    report = report_of(cpu_lab.workdir)
    stages = by_name(report)
    assert tuple(stages) == STAGES
    for stage in stages.values():
        assert stage["loss"] > 0 and stage["perplexity"] > 1, stage
        assert stage["size_bytes"] > 0, stage
        assert stage["tokens"] == report["heldout"]["answer_tokens_scored"] > 0
    # The same tokens scored by torch and by onnxruntime-genai's logits: int4 moves the loss only a little.
    assert stages["onnx"]["loss"] == pytest.approx(stages["base"]["loss"], rel=0.03)
    assert stages["onnx_adapter"]["loss"] == pytest.approx(stages["tuned"]["loss"], rel=0.03)
    assert stages["tuned"]["loss"] < stages["base"]["loss"], "the adapter was trained on this data"
    assert stages["quantized"]["size_bytes"] < stages["base"]["size_bytes"]
    for name in ("onnx", "onnx_adapter"):
        assert stages[name]["tokens_per_s"] > 0 and stages[name]["ttft_ms"] > 0
    assert len(report["answers"]) == 3
    assert all(a["adapter_off"] and a["adapter_on"] is not None for a in report["answers"])
    assert any(a["adapter_off"] != a["adapter_on"] for a in report["answers"])
    markdown = (cpu_lab.workdir / "reports" / "eval.md").read_text(encoding="utf-8")
    assert "| base + adapter (LoRA) |" in markdown and "adapter on:" in markdown
    assert "Evaluation" in cpu_lab.result.stdout and "int4 ONNX, adapter on" in cpu_lab.result.stdout


@pytest.mark.slow
def test_eval_json_prints_the_report_without_running_again(cpu_lab):
    result = olive_lab("eval", "--json", "--workdir", str(cpu_lab.workdir), timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == report_of(cpu_lab.workdir)
    shown = olive_lab("eval", "--workdir", str(cpu_lab.workdir), timeout=120)
    assert shown.returncode == 0 and "perplexity" in shown.stdout and "reports/eval.md" in shown.stdout


def test_eval_before_the_lab_says_what_is_missing(tmp_path):
    result = olive_lab("eval", "--profile", "cpu", "--workdir", str(tmp_path))
    assert result.returncode == 3
    assert "is missing: run the step that makes it first" in result.stdout
    assert "olive-lab run" in result.stdout


def test_verify_names_the_report_and_what_is_wrong_with_it(tmp_path):
    from olive_lab.steps import evaluate, pipeline

    lab = pipeline.load_lab(tmp_path, "cpu")
    assert "reports/eval.json does not exist yet" in evaluate.verify(lab)[0]
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "eval.json").write_text("{not json")
    assert "is not valid JSON" in evaluate.verify(lab)[0]
    (tmp_path / "reports" / "eval.json").write_text('{"stages": []}')
    assert "has no stages" in evaluate.verify(lab)[0]


def test_the_held_out_set_is_the_data_steps_split_or_the_users_own(tmp_path):
    from olive_lab.steps import evaluate, pipeline
    from olive_lab.steps.data import train_path

    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"q{i}", "response": f"a{i}"}) + "\n" for i in range(40)))
    lab = pipeline.load_lab(tmp_path, "cpu", model="tiny", data=str(data))
    rows, source = evaluate.heldout_rows(lab)
    trained = {json.loads(line)["prompt"] for line in train_path(lab).read_text().splitlines()}
    assert len(rows) == 4 and not {r["prompt"] for r in rows} & trained
    assert "4 held-out rows" in source and "never trained on" in source

    own = tmp_path / "mine.jsonl"
    own.write_text("".join(json.dumps({"prompt": f"m{i}", "response": f"b{i}"}) + "\n" for i in range(3)))
    lab = pipeline.load_lab(tmp_path / "w2", "cpu", model="tiny", data=str(data), eval_data=str(own))
    rows, source = evaluate.heldout_rows(lab)
    assert [r["prompt"] for r in rows] == ["m0", "m1", "m2"] and "your --eval-data file" in source


def test_a_prompt_is_masked_exactly_and_rendered_by_the_models_template(tiny_model):
    from transformers import AutoTokenizer

    from olive_lab.steps.evaluate import encode
    from olive_lab.steps.template import for_model

    template = for_model(tiny_model)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    ex = encode(tokenizer, template, {"prompt": "Where to eat in Oslo?", "response": "Try the harbour."})
    assert tokenizer.decode(list(ex.ids[:ex.prompt_len])).endswith("<|assistant|>\n")
    assert "Oslo" in tokenizer.decode(list(ex.ids[:ex.prompt_len]))
    assert tokenizer.decode(list(ex.ids[ex.prompt_len:]), skip_special_tokens=True).strip() == "Try the harbour."


@pytest.mark.slow
def test_rows_scored_in_a_padded_batch_score_as_they_do_alone(tiny_model):
    """The batched scoring pads rows of different lengths; the padding must not reach any real token's loss."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from olive_lab.steps import evaluate
    from olive_lab.steps.template import for_model

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    rows = [{"prompt": "Where to eat in Oslo?", "response": "Try the harbour."},
            {"prompt": "Best time for Kyoto?", "response": "Autumn, when the maples turn red and the temples glow."},
            {"prompt": "Rome in a day?", "response": "Colosseum early, then the Forum, Pantheon and Trevi."}]
    examples = [evaluate.encode(tokenizer, for_model(tiny_model), r) for r in rows]
    assert len({len(ex.ids) for ex in examples}) == 3, "rows of three lengths, so the batch is padded"
    alone = [evaluate.torch_nll(model, [ex], "alone") for ex in examples]
    batched = evaluate.torch_nll(model, examples, "batched")
    assert batched[1] == sum(n for _, n in alone)
    assert batched[0] == pytest.approx(sum(nll for nll, _ in alone), rel=1e-5)


@pytest.mark.slow
def test_a_quantized_model_torch_cannot_run_is_reported_plainly(cpu_lab, tmp_path):
    """AWQ output (CUDA kernels) cannot run in torch on a CPU: the report says so and scores the rest."""
    from olive_lab.steps import evaluate, pipeline

    shutil.copytree(cpu_lab.workdir / "models", tmp_path / "models")
    config = tmp_path / "models" / "phi" / "rtn" / "model" / "config.json"
    data = json.loads(config.read_text())
    data["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": 128, "version": "gemm"}
    config.write_text(json.dumps(data))
    lab = pipeline.load_lab(tmp_path, "cpu", str(tmp_path / "models" / "tiny-phi3"))
    rows, _ = evaluate.heldout_rows(lab)
    ev = evaluate.Evaluation(lab)
    from transformers import AutoTokenizer

    from olive_lab.steps.template import for_model

    tokenizer = AutoTokenizer.from_pretrained(lab.base_dir)
    evaluate.run_torch(ev, [evaluate.encode(tokenizer, for_model(lab.base_dir), r) for r in rows[:4]])
    stages = {s.name: s for s in ev.stages}
    assert stages["quantized"].loss is None
    assert stages["quantized"].note.startswith("cannot be evaluated with PyTorch on cpu here (")
    assert stages["base"].loss and stages["tuned"].loss


@pytest.mark.slow
@pytest.mark.real_model
def test_the_real_cpu_lab_evaluation_shows_what_fine_tuning_bought(real_cpu_lab):
    """Issue 13 item 8 on SmolLM2: the report of the suite's one real cpu lab shows what fine-tuning bought."""
    report = report_of(real_cpu_lab)
    stages = by_name(report)
    assert "never trained on" in report["heldout"]["source"], "scored on the data step's held-out split"
    assert stages["tuned"]["loss"] < 0.85 * stages["base"]["loss"], "fine-tuning lowers the held-out loss (~20 %)"
    assert report["heldout"]["rows_scored"] == report["heldout"]["rows_available"] == 30, "every held-out row"
    assert stages["onnx_adapter"]["loss"] < stages["onnx"]["loss"]
    assert stages["onnx"]["loss"] == pytest.approx(stages["base"]["loss"], rel=0.15), "int4 costs a little"
    for answer in report["answers"]:
        assert len(answer["adapter_off"].split()) >= 5 and len(answer["adapter_on"].split()) >= 5, "words"
    assert any(a["adapter_off"] != a["adapter_on"] for a in report["answers"])
