"""The AWQ quantize step of the `gpu` profile: AutoAWQ int4, calibrated on the lab's own data, offline.

    python -m olive_lab.steps.awq --model M --data JSONL --output OUT [--engine direct|olive] [--calib-samples 128]
        [--calib-seq-len 512] [--group-size 128] [--n-grid 20] [--no-clip]

What it does (shared/docs/gpu-pipeline.md, F-G1, F-G2, F-G5 and its addendum):
1. writes the calibration set `OUT/calib/calib.jsonl` (column `text`: each row's prompt and response in the lab's
   chat format, the text the adapter is later trained on). The `olive quantize` flags cannot pass calibration data
   to the AWQ pass, and AutoAWQ's default (pile-val on the hub) is not reachable offline;
2. engine `direct` (the default): calls AutoAWQ itself (steps/awq_gpu.py) with the knobs Olive's pass hides and
   the layer inputs, activation statistics and weight snapshots kept on the GPU - the same algorithm, data and
   output as Olive's pass (GEMM int4, `modules_to_not_convert: ["lm_head"]`, `OUT/model/`), without AutoAWQ's
   CPU round trips (findings-2026-12 §1: 8.9 s per layer with the GPU mostly idle);
3. engine `olive` (the lab's way): asks Olive for its own config (`olive quantize --algorithm awq --implementation
   awq --precision int4 --save_config_file --dry_run`), patches it (`patch_config`, a pure function: the local
   data folder with split `train`, `input_cols` as a string (AutoAWQ's `text_column`), `modules_to_not_convert:
   ["lm_head"]` (Olive writes `[]`, which turns `lm_head` into an empty quantized layer that LoRA training then
   dies on), output_dir) and runs `olive run --config OUT/awq-config.json`. Olive's pass runs AutoAWQ's defaults
   (128 samples, 512 tokens, clip on, grid 20, group 128);
4. checks the result itself (Olive reports a failed pass with exit code 0 and "No output model produced").

The model's `config.json` must be readable by transformers 4.x (this step runs under the awq-tf4 overlay): a config
written by transformers 5 holds `rope_parameters` only, which 4.x ignores, silently dropping longrope. Such an input
is read through `OUT/input-view/` (links to the weights, a config with the legacy `rope_scaling` added); the base
folder itself is never changed. The output's rope settings are checked against the input's.

Output lines `[olive-lab] phase ...`, `[olive-lab] note ...`, `[olive-lab] error <kind>: ...` are for the runner.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .data import read_objects

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_NO_OUTPUT = 0, 1, 2, 4, 6
AWQ_PASS_TYPE = "AutoAWQQuantizer"
CALIB_DIR, CALIB_FILE, CONFIG_FILE, VIEW_DIR = "calib", "calib.jsonl", "awq-config.json", "input-view"
SETTINGS_FILE = "awq-settings.json"
#: AutoAWQ keeps at most 128 samples of <= 512 tokens and cuts their concatenation into 512-token blocks.
DEFAULT_CALIB_SAMPLES = 128
DEFAULT_CALIB_SEQ_LEN = 512
DEFAULT_GROUP_SIZE = 128
DEFAULT_N_GRID = 20
ENGINES = ("direct", "olive")


def say(kind: str, text: str = "") -> None:
    print(f"[olive-lab] {kind} {text}".rstrip(), flush=True)


# --- calibration data -------------------------------------------------------------------------------------------

def calibration_texts(data: Path, limit: int, template: str | None = None) -> list[str]:
    """Up to `limit` texts from the lab's JSONL: each row's prompt and response in the lab's chat format."""
    if template is None:
        from .profiles import LAB_TEXT_TEMPLATE as template
    texts = []
    objects, _bad = read_objects(data)
    for _line, row in objects:
        if not isinstance(row.get("prompt"), str) or not isinstance(row.get("response"), str):
            continue
        texts.append(template.replace("{prompt}", row["prompt"]).replace("{response}", row["response"]))
        if len(texts) >= limit:
            break
    return texts


def write_calibration(texts: list[str], folder: Path) -> Path:
    """`folder/calib.jsonl` with one `{"text": ...}` per line: `datasets.load_dataset(folder, split="train")` reads it."""
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.iterdir():
        if stale.is_file():
            stale.unlink()
    path = folder / CALIB_FILE
    with open(path, "w", encoding="utf-8") as fh:
        for text in texts:
            fh.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
    return path


# --- Olive config -----------------------------------------------------------------------------------------------

def dry_run_argv(model: Path, config_dir: Path, python: str = sys.executable) -> list[str]:
    return [python, "-m", "olive", "quantize", "-m", str(model), "--algorithm", "awq", "--implementation", "awq",
            "--precision", "int4", "-o", str(config_dir), "--log_level", "1", "--save_config_file", "--dry_run"]


class ConfigError(ValueError):
    pass


def patch_config(config: dict, *, model_path: str, calib_dir: str, output_dir: str,
                 modules_to_not_convert: tuple[str, ...] = ("lm_head",)) -> dict:
    """Olive's dry-run AWQ config -> the one that runs offline on local calibration data. Pure: returns a copy.

    - input_model.model_path: absolute (the dry run writes the path as typed);
    - the AWQ pass gets `data_config` (by name) and `modules_to_not_convert`;
    - that data config loads `calib_dir` (a folder of JSON lines) with split `train`; `input_cols` is a string
      because the pass hands it to AutoAWQ's `text_column`;
    - output_dir.
    """
    cfg = copy.deepcopy(config)
    passes = cfg.get("passes") or {}
    awq = [name for name, p in passes.items() if isinstance(p, dict) and p.get("type", "").lower() == AWQ_PASS_TYPE.lower()]
    if len(awq) != 1:
        raise ConfigError(f"expected one {AWQ_PASS_TYPE} pass in the Olive config, found {len(awq)}: {sorted(passes)}")
    data_configs = cfg.get("data_configs") or []
    if not data_configs:
        raise ConfigError("the Olive config has no data_configs entry to point at the calibration data")
    data = data_configs[0]
    data_name = data.get("name") or "default_data_config"
    data["name"] = data_name
    data["load_dataset_config"] = {"data_name": calib_dir, "split": "train"}
    data["pre_process_data_config"] = {"input_cols": "text"}
    cfg["data_configs"] = [data, *data_configs[1:]]
    the_pass = passes[awq[0]]
    the_pass["data_config"] = data_name
    the_pass["modules_to_not_convert"] = list(modules_to_not_convert)
    cfg.setdefault("input_model", {})["model_path"] = model_path
    cfg["output_dir"] = output_dir
    return cfg


# --- transformers 4.x / 5.x config consistency ------------------------------------------------------------------

def legacy_rope(config: dict) -> dict | None:
    """The `rope_scaling` transformers 4.x needs for this config, when it lacks one; None if nothing is missing.

    transformers 5 writes `rope_parameters` (with `rope_type`); 4.x reads only `rope_scaling` (`type`, factors).
    """
    if config.get("rope_scaling"):
        return None
    rope = config.get("rope_parameters") or {}
    kind = rope.get("rope_type") or rope.get("type")
    if not kind or kind == "default":
        return None
    legacy = {"type": kind}
    for key in ("short_factor", "long_factor", "factor", "low_freq_factor", "high_freq_factor",
                "original_max_position_embeddings", "beta_fast", "beta_slow", "attention_factor"):
        if key in rope and not (kind == "longrope" and key == "original_max_position_embeddings"):
            legacy[key] = rope[key]
    return legacy


def rope_signature(config: dict) -> tuple:
    """What must survive a round trip through either transformers: rope type and factors."""
    rope = config.get("rope_scaling") or config.get("rope_parameters") or {}
    kind = rope.get("rope_type") or rope.get("type") or "default"
    return (kind, tuple(rope.get("short_factor") or ()), tuple(rope.get("long_factor") or ()),
            config.get("original_max_position_embeddings"))


def needs_view(config: dict) -> bool:
    """Whether transformers 4.x would read this config differently: a rope type or rope_theta that only
    transformers 5's `rope_parameters` holds (4.x would fall back to default rope, or to rope_theta 10000)."""
    theta_hidden = "rope_theta" not in config and "rope_theta" in (config.get("rope_parameters") or {})
    return legacy_rope(config) is not None or theta_hidden


def make_input_view(model: Path, view: Path, config: dict) -> Path:
    """`view/`: links to every file of `model`, with a config.json that transformers 4.x reads the same way."""
    shutil.rmtree(view, ignore_errors=True)
    view.mkdir(parents=True)
    for item in model.iterdir():
        if item.name != "config.json":
            (view / item.name).symlink_to(item.resolve())
    fixed = dict(config)
    fixed["rope_scaling"] = legacy_rope(config)
    if "rope_theta" not in fixed and "rope_theta" in (config.get("rope_parameters") or {}):
        fixed["rope_theta"] = config["rope_parameters"]["rope_theta"]
    (view / "config.json").write_text(json.dumps(fixed, indent=2) + "\n", encoding="utf-8")
    return view


# --- run --------------------------------------------------------------------------------------------------------

def stream(argv: list[str], cwd: Path | None = None) -> tuple[int, str]:
    """Run `argv` with its output passed through line by line; returns the exit code and the last 64 KiB."""
    proc = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    tail = b""
    fd = proc.stdout.fileno()
    while chunk := os.read(fd, 1 << 16):
        sys.stdout.buffer.write(chunk)
        sys.stdout.buffer.flush()
        tail = (tail + chunk)[-65536:]
    return proc.wait(), tail.decode("utf-8", errors="replace")


def check_output(out_model: Path, want_rope: tuple) -> list[str]:
    problems = []
    cfg_path = out_model / "config.json"
    if not cfg_path.is_file() or not any(out_model.glob("*.safetensors")):
        return [f"{out_model} has no quantized model (config.json + *.safetensors)"]
    cfg = json.loads(cfg_path.read_text(encoding="utf-8"))
    q = cfg.get("quantization_config") or {}
    if q.get("quant_method") != "awq":
        problems.append(f"quantization_config.quant_method is {q.get('quant_method')!r}, not 'awq'")
    if "lm_head" not in (q.get("modules_to_not_convert") or []):
        problems.append("lm_head is not in quantization_config.modules_to_not_convert (LoRA would fail on it)")
    if rope_signature(cfg) != want_rope:
        problems.append(f"rope settings changed: {rope_signature(cfg)[0]} vs {want_rope[0]} (longrope lost?)")
    return problems


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m olive_lab.steps.awq", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, type=Path, help="the float model folder (Hugging Face layout)")
    p.add_argument("--data", required=True, type=Path, help="the lab's JSONL ({prompt, response} rows)")
    p.add_argument("--output", required=True, type=Path, help="where Olive writes model/ (e.g. models/phi/awq)")
    p.add_argument("--calib-samples", type=int, default=DEFAULT_CALIB_SAMPLES,
                   help=f"rows used for calibration (default {DEFAULT_CALIB_SAMPLES}, AutoAWQ's maximum)")
    p.add_argument("--engine", choices=ENGINES, default="direct",
                   help="direct: AutoAWQ from this step, data kept on the GPU (default); olive: Olive's AWQ pass")
    p.add_argument("--calib-seq-len", type=int, default=DEFAULT_CALIB_SEQ_LEN,
                   help=f"AutoAWQ's max_calib_seq_len: longer rows are skipped, blocks have this length "
                        f"(default {DEFAULT_CALIB_SEQ_LEN})")
    p.add_argument("--group-size", type=int, default=DEFAULT_GROUP_SIZE,
                   help=f"int4 group size; must divide the hidden size (default {DEFAULT_GROUP_SIZE})")
    p.add_argument("--n-grid", type=int, default=DEFAULT_N_GRID,
                   help=f"scale-search grid points per group (direct engine; AutoAWQ's {DEFAULT_N_GRID})")
    p.add_argument("--no-clip", dest="clip", action="store_false", help="skip AutoAWQ's clip search (direct engine)")
    p.add_argument("--cpu-staging", action="store_true",
                   help="direct engine with AutoAWQ's own CPU round trips (to compare; same result)")
    p.add_argument("--dry-run", action="store_true", help="write the calibration data and the config, do not run")
    args = p.parse_args(argv)
    if args.engine == "olive" and (args.calib_seq_len != DEFAULT_CALIB_SEQ_LEN or args.group_size != DEFAULT_GROUP_SIZE
                                   or args.n_grid != DEFAULT_N_GRID or not args.clip or args.cpu_staging):
        p.error("--calib-seq-len, --group-size, --n-grid, --no-clip and --cpu-staging need --engine direct: "
                "Olive's AWQ pass does not expose them")
    return args


def direct_settings(args) -> dict:
    """What the direct engine passes to AutoAWQ (printed, and kept in OUT/awq-settings.json)."""
    return {"q_group_size": args.group_size, "zero_point": True, "w_bit": 4, "version": "GEMM",
            "modules_to_not_convert": ["lm_head"], "max_calib_samples": args.calib_samples,
            "max_calib_seq_len": args.calib_seq_len, "apply_clip": args.clip, "n_grid": args.n_grid,
            "gpu_resident": not args.cpu_staging}


def run_direct(source: Path, calib: Path, out_model: Path, settings: dict) -> tuple[int, str]:
    """AutoAWQ in a child process (the overlay's transformers; a crash cannot take the step's report with it)."""
    code = ("import json, sys\n"
            "from olive_lab.steps import awq_gpu\n"
            "s = json.loads(sys.argv[4])\n"
            "t = awq_gpu.quantize(sys.argv[1], sys.argv[2], sys.argv[3], group_size=s['q_group_size'],\n"
            "    zero_point=s['zero_point'], apply_clip=s['apply_clip'], max_calib_samples=s['max_calib_samples'],\n"
            "    max_calib_seq_len=s['max_calib_seq_len'], n_grid=s['n_grid'], gpu_resident=s['gpu_resident'],\n"
            "    modules_to_not_convert=s['modules_to_not_convert'])\n"
            "print('[olive-lab] note awq timings ' + json.dumps(t), flush=True)\n")
    return stream([sys.executable, "-c", code, str(source), str(calib), str(out_model), json.dumps(settings)])


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model, data, out = args.model.expanduser().resolve(), args.data.expanduser().resolve(), args.output.expanduser().resolve()
    if not (model / "config.json").is_file():
        say("error", f"model: {model} has no config.json: run the model step first")
        return EXIT_USAGE
    if not data.is_file():
        say("error", f"data: dataset not found: {data}")
        return EXIT_DATA
    t0 = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)

    say("phase", "preparing calibration data")
    texts = calibration_texts(data, max(1, args.calib_samples))
    if not texts:
        say("error", f"data: no {{prompt, response}} rows in {data}")
        return EXIT_DATA
    calib = write_calibration(texts, out / CALIB_DIR)
    print(f"calibration: {len(texts)} texts from {data.name} -> {calib}", flush=True)

    base_cfg = json.loads((model / "config.json").read_text(encoding="utf-8"))
    want_rope = rope_signature(base_cfg)
    source = model
    if needs_view(base_cfg):
        source = make_input_view(model, out / VIEW_DIR, base_cfg)
        say("note", f"config: {model.name}/config.json has rope_parameters only ({want_rope[0]}); transformers 4.x "
                    f"would drop it, so AWQ reads {source} (legacy rope_scaling/rope_theta added; the base is "
                    f"unchanged)")
    else:
        shutil.rmtree(out / VIEW_DIR, ignore_errors=True)

    if args.engine == "direct":
        settings = direct_settings(args)
        (out / SETTINGS_FILE).write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        print(f"AutoAWQ settings: {json.dumps(settings)}", flush=True)
        if args.dry_run:
            return EXIT_OK
        say("phase", "quantizing with AWQ")
        shutil.rmtree(out / "model", ignore_errors=True)  # a stale model must not pass for this run's output
        code, tail = run_direct(source, calib.parent, out / "model", settings)
        return finish(out, want_rope, code, tail, t0)

    say("phase", "writing Olive config")
    with tempfile.TemporaryDirectory(prefix="olive-lab-awq-") as tmp:
        code, tail = stream(dry_run_argv(source, Path(tmp)))
        cfg_path = Path(tmp) / "config.json"
        if code != 0 or not cfg_path.is_file():
            say("error", f"olive: `olive quantize --dry_run` did not write a config (exit {code})")
            return EXIT_FAILED
        dry = json.loads(cfg_path.read_text(encoding="utf-8"))
    try:
        cfg = patch_config(dry, model_path=str(source), calib_dir=str(calib.parent), output_dir=str(out))
    except ConfigError as exc:
        say("error", f"olive: {exc}")
        return EXIT_FAILED
    config_file = out / CONFIG_FILE
    config_file.write_text(json.dumps(cfg, indent=4) + "\n", encoding="utf-8")
    print(f"config: {config_file}", flush=True)
    if args.dry_run:
        return EXIT_OK

    say("phase", "quantizing with AWQ")
    shutil.rmtree(out / "model", ignore_errors=True)  # a stale model must not pass for this run's output
    code, tail = stream([sys.executable, "-m", "olive", "run", "--config", str(config_file)])
    return finish(out, want_rope, code, tail, t0)


def finish(out: Path, want_rope: tuple, code: int, tail: str, t0: float) -> int:
    """Check what either engine wrote; say done or why not."""
    problems = check_output(out / "model", want_rope)
    if code != 0 or problems:
        errors = [ln.strip() for ln in tail.splitlines() if re.match(r"^\s*[A-Za-z_.]*(Error|Exception): ", ln)]
        if errors:
            problems.insert(0, errors[-1][:300])
        if "No output model produced" in tail:
            problems.insert(0, "Olive produced no model (its pass failed; the first error is in the log above)")
        say("error", f"awq: {'; '.join(problems) or f'olive run exited with {code}'}")
        return EXIT_FAILED if code else EXIT_NO_OUTPUT
    size = sum(f.stat().st_size for f in (out / "model").glob("*.safetensors"))
    say("phase", "done")
    print(f"AWQ int4 model: {out / 'model'} ({size / 1e9:.2f} GB weights, lm_head kept in 16 bits) "
          f"in {time.monotonic() - t0:.1f} s", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
