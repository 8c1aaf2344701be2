"""The AWQ step's pure parts: calibration data, the patch of Olive's own dry-run config, transformers 4/5 rope keys.

`fixtures/olive_awq_dryrun_config.json` is what `olive quantize -m <tiny model> --algorithm awq --implementation awq
--precision int4 --save_config_file --dry_run` (olive-ai 0.13.0) wrote on a CPU-only machine; the dry run needs no
GPU and no AutoAWQ. `test_dry_run_config_is_still_what_olive_writes` makes it again when Olive is installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from olive_lab.steps import awq

FIXTURE = Path(__file__).parent / "fixtures" / "olive_awq_dryrun_config.json"
TEMPLATE = "<|user|>\n{prompt}<|end|>\n<|assistant|>\n{response}<|end|>"


def dry_config() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def patched(**kw) -> dict:
    args = dict(model_path="/lab/models/base", calib_dir="/lab/models/phi/awq/calib", output_dir="/lab/models/phi/awq")
    args.update(kw)
    return awq.patch_config(dry_config(), **args)


def test_patch_points_the_awq_pass_at_the_local_calibration_folder():
    cfg = patched()
    data = cfg["data_configs"][0]
    assert data["load_dataset_config"] == {"data_name": "/lab/models/phi/awq/calib", "split": "train"}
    # a string: the pass hands it to AutoAWQ's text_column (the CLI's --input_cols would make it a list)
    assert data["pre_process_data_config"] == {"input_cols": "text"}
    the_pass = cfg["passes"]["autoawqquantizer"]
    assert the_pass["type"] == "AutoAWQQuantizer"
    assert the_pass["data_config"] == data["name"] == "default_data_config"


def test_patch_keeps_lm_head_out_of_awq_and_sets_paths():
    cfg = patched()
    assert cfg["passes"]["autoawqquantizer"]["modules_to_not_convert"] == ["lm_head"]
    assert cfg["input_model"]["model_path"] == "/lab/models/base"
    assert cfg["output_dir"] == "/lab/models/phi/awq"
    # what Olive chose stays: int4, its systems, its log level
    assert cfg["passes"]["autoawqquantizer"]["bits"] == 4
    assert cfg["systems"] == dry_config()["systems"]
    assert cfg["log_severity_level"] == 1


def test_patch_is_pure():
    before = dry_config()
    snapshot = json.dumps(before, sort_keys=True)
    awq.patch_config(before, model_path="/m", calib_dir="/c", output_dir="/o")
    assert json.dumps(before, sort_keys=True) == snapshot


def test_patch_finds_the_pass_by_type_not_by_name():
    cfg = dry_config()
    cfg["passes"] = {"my_awq": cfg["passes"].pop("autoawqquantizer")}
    out = awq.patch_config(cfg, model_path="/m", calib_dir="/c", output_dir="/o")
    assert out["passes"]["my_awq"]["data_config"] == "default_data_config"


@pytest.mark.parametrize("breakage", ["no_pass", "two_passes", "no_data"])
def test_patch_refuses_configs_it_does_not_understand(breakage):
    cfg = dry_config()
    if breakage == "no_pass":
        cfg["passes"] = {"rtn": {"type": "OnnxBlockWiseRtnQuantization"}}
    elif breakage == "two_passes":
        cfg["passes"]["again"] = dict(cfg["passes"]["autoawqquantizer"])
    else:
        cfg["data_configs"] = []
    with pytest.raises(awq.ConfigError):
        awq.patch_config(cfg, model_path="/m", calib_dir="/c", output_dir="/o")


def test_calibration_texts_use_the_lab_template_and_the_limit(tmp_path):
    data = tmp_path / "d.jsonl"
    rows = [{"prompt": f"p{i}", "response": f"r{i}"} for i in range(5)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\nnot json\n{\"prompt\": 1}\n", encoding="utf-8")
    texts = awq.calibration_texts(data, 3, TEMPLATE)
    assert texts == [TEMPLATE.replace("{prompt}", f"p{i}").replace("{response}", f"r{i}") for i in range(3)]
    assert len(awq.calibration_texts(data, 100, TEMPLATE)) == 5


def test_write_calibration_makes_a_json_lines_folder(tmp_path):
    folder = tmp_path / "calib"
    folder.mkdir()
    (folder / "old.jsonl").write_text("{}\n")
    path = awq.write_calibration(["a\nb", "c"], folder)
    assert sorted(p.name for p in folder.iterdir()) == ["calib.jsonl"]
    assert [json.loads(line)["text"] for line in path.read_text().splitlines()] == ["a\nb", "c"]


LONGROPE = {"rope_type": "longrope", "short_factor": [1.0, 1.1], "long_factor": [2.0, 3.0],
            "original_max_position_embeddings": 4096, "rope_theta": 10000.0}


def test_legacy_rope_for_a_transformers5_config():
    cfg = {"rope_parameters": dict(LONGROPE), "original_max_position_embeddings": 4096}
    legacy = awq.legacy_rope(cfg)
    assert legacy == {"type": "longrope", "short_factor": [1.0, 1.1], "long_factor": [2.0, 3.0]}
    assert awq.legacy_rope({**cfg, "rope_scaling": legacy}) is None
    assert awq.legacy_rope({"rope_parameters": {"rope_type": "default", "rope_theta": 1e4}}) is None
    assert awq.legacy_rope({}) is None


def test_rope_signature_is_the_same_whichever_key_holds_it():
    five = {"rope_parameters": dict(LONGROPE), "original_max_position_embeddings": 4096}
    four = {"rope_scaling": {"type": "longrope", "short_factor": [1.0, 1.1], "long_factor": [2.0, 3.0]},
            "original_max_position_embeddings": 4096}
    assert awq.rope_signature(five) == awq.rope_signature(four)
    assert awq.rope_signature({**four, "rope_scaling": None})[0] == "default"  # longrope lost: detected


def test_input_view_links_weights_and_fixes_only_the_config(tmp_path):
    model = tmp_path / "base"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"w")
    (model / "tokenizer.json").write_text("{}")
    cfg = {"rope_parameters": dict(LONGROPE), "original_max_position_embeddings": 4096}
    (model / "config.json").write_text(json.dumps(cfg))
    view = awq.make_input_view(model, tmp_path / "view", cfg)
    assert (view / "model.safetensors").is_symlink() and (view / "model.safetensors").read_bytes() == b"w"
    fixed = json.loads((view / "config.json").read_text())
    assert fixed["rope_scaling"]["type"] == "longrope" and fixed["rope_theta"] == 10000.0
    assert json.loads((model / "config.json").read_text()) == cfg  # the base is never changed


def test_check_output_names_what_is_wrong(tmp_path):
    out = tmp_path / "model"
    assert awq.check_output(out, ("default", (), (), None))
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"")
    cfg = {"quantization_config": {"quant_method": "awq", "modules_to_not_convert": []}}
    (out / "config.json").write_text(json.dumps(cfg))
    problems = awq.check_output(out, ("default", (), (), None))
    assert any("lm_head" in p for p in problems)
    cfg["quantization_config"]["modules_to_not_convert"] = ["lm_head"]
    (out / "config.json").write_text(json.dumps(cfg))
    assert awq.check_output(out, ("default", (), (), None)) == []
    assert awq.check_output(out, ("longrope", (1.0,), (2.0,), 4096))  # rope lost


@pytest.mark.slow
def test_dry_run_config_is_still_what_olive_writes(tmp_path):
    """Olive's dry run works on a CPU-only machine and still has the shape patch_config expects."""
    pytest.importorskip("olive")
    from hubstub import write_travel_jsonl

    data = write_travel_jsonl(tmp_path / "travel.jsonl")
    model = tmp_path / "tiny"
    proc = subprocess.run([sys.executable, "-m", "olive_lab.steps.tiny_model", "--out", str(model), "--data", str(data),
                           "--longrope"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = tmp_path / "awq"
    proc = subprocess.run([sys.executable, "-m", "olive_lab.steps.awq", "--model", str(model), "--data", str(data),
                           "--output", str(out), "--engine", "olive", "--dry-run"], capture_output=True, text=True,
                          timeout=300,
                          env={**__import__("os").environ, "TF_BUILD": "1", "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stdout + proc.stderr
    cfg = json.loads((out / awq.CONFIG_FILE).read_text())
    assert cfg["passes"]["autoawqquantizer"]["modules_to_not_convert"] == ["lm_head"]
    assert cfg["data_configs"][0]["load_dataset_config"]["data_name"] == str(out / "calib")
    assert (out / "calib" / "calib.jsonl").is_file()
    shutil.rmtree(out)


def test_direct_engine_is_the_default_and_olive_refuses_the_knobs_it_hides(capsys):
    args = awq.parse_args(["--model", "m", "--data", "d", "--output", "o"])
    assert args.engine == "direct"
    assert awq.direct_settings(args) == {
        "q_group_size": 128, "zero_point": True, "w_bit": 4, "version": "GEMM", "modules_to_not_convert": ["lm_head"],
        "max_calib_samples": 128, "max_calib_seq_len": 512, "apply_clip": True, "n_grid": 20, "gpu_resident": True}
    with pytest.raises(SystemExit):
        awq.parse_args(["--model", "m", "--data", "d", "--output", "o", "--engine", "olive", "--no-clip"])
    assert "need --engine direct" in capsys.readouterr().err


def test_direct_dry_run_writes_the_calibration_and_the_settings_it_would_run(tmp_path):
    from hubstub import write_travel_jsonl

    model = tmp_path / "m"
    model.mkdir()
    (model / "config.json").write_text(json.dumps({"model_type": "llama", "rope_parameters": {
        "rope_type": "default", "rope_theta": 100000.0}}))
    data = write_travel_jsonl(tmp_path / "travel.jsonl")
    out = tmp_path / "awq"
    code = awq.main(["--model", str(model), "--data", str(data), "--output", str(out), "--group-size", "64",
                     "--no-clip", "--dry-run"])
    assert code == awq.EXIT_OK
    settings = json.loads((out / awq.SETTINGS_FILE).read_text())
    assert settings["q_group_size"] == 64 and settings["apply_clip"] is False
    assert (out / "calib" / "calib.jsonl").is_file()
    # rope_theta only in rope_parameters: transformers 4.x would read 10000, so AWQ reads a view with it set
    view = json.loads((out / awq.VIEW_DIR / "config.json").read_text())
    assert view["rope_theta"] == 100000.0
