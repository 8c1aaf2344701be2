"""The int4 ONNX build with a LoRA adapter, its LoRA products kept float: what the cpu optimize step runs, and the
pieces the faithful GPU flow (steps/awq_onnx.py) shares with it.

    python -m olive_lab.steps.onnx_build --model FT_MODEL --adapter FT_ADAPTER --out OUT [--precision int4]

The same build as `olive auto-opt -m FT_MODEL -a FT_ADAPTER --device cpu --provider CPUExecutionProvider
--use_ort_genai --use_model_builder --precision int4 -o OUT`, with one change: the onnxruntime-genai builder
int4-quantizes every MatMul, the LoRA A/B ones too, and ExtractAdapters then makes those packed int4 weights graph
inputs, so the adapter is rounded to 4 bits and (MatMulNBits prepacks only constant weights) slow. So:

1. `olive auto-opt ... --dry_run --save_config_file` writes Olive's config;
2. the ModelBuilder pass gets `int4_nodes_to_exclude` = every LoRA MatMul (`lora_node_names`), nothing else changed;
3. `olive run --config` builds; the adapter file and the float LoRA MatMuls are checked.

Output lines `[olive-lab] phase ...` / `[olive-lab] result ...` / `[olive-lab] error ...` are for the runner.
"""

from __future__ import annotations

import argparse
import copy
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .awq import say, stream
from .olive_cli import olive_argv

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_OUTPUT = 0, 1, 2, 6
ADAPTER_FILE = "adapter_weights.onnx_adapter"


def dry_run_argv(model: Path, adapter: Path, config_dir: Path, precision: str = "int4",
                 python: str = sys.executable) -> list[str]:
    """`olive auto-opt` as the lab runs it, asked only to write its config into `config_dir`."""
    return [python, "-m", "olive", "auto-opt", "-m", str(model), "-a", str(adapter), "--device", "cpu",
            "--provider", "CPUExecutionProvider", "--use_ort_genai", "--use_model_builder", "--precision", precision,
            "-o", str(config_dir), "--log_level", "1", "--save_config_file", "--dry_run"]


#: What the optimize step tells the user about the one change it makes to `olive auto-opt`.
FLOAT_LORA_NOTE = ("This step runs the Olive command shown with it (`olive auto-opt ...`) from its config "
                   "(`--dry_run --save_config_file`), with one change before `olive run --config`: the ModelBuilder "
                   "pass's int4_nodes_to_exclude lists the LoRA MatMuls, so the adapter stays float (the builder "
                   "would round it to 4 bits, and int4 adapter weights as graph inputs make chat with the adapter "
                   "slow).")


def step_argv(model: Path, adapter: Path, out: Path, precision: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The optimize step's argv (this module) and the `olive auto-opt` command it stands for, for a float or
    dequantized model and its adapter: used by the cpu profile and the GPU flows that build from a float model."""
    argv = (sys.executable, "-m", "olive_lab.steps.onnx_build", "--model", str(model), "--adapter", str(adapter),
            "--out", str(out), "--precision", precision)
    auto_opt = olive_argv("auto-opt", "-m", str(model), "-a", str(adapter), "--device", "cpu",
                          "--provider", "CPUExecutionProvider", "--use_ort_genai", "--use_model_builder",
                          "--precision", precision, "-o", str(out))
    return argv, auto_opt


#: The projections the builder can give LoRA inputs (its node names: /model/layers.N/{attn,mlp}/PROJ/lora_{A,B}/MatMul).
LORA_PROJECTIONS = (("attn", "q_proj"), ("attn", "k_proj"), ("attn", "v_proj"), ("attn", "o_proj"),
                    ("attn", "qkv_proj"), ("mlp", "gate_proj"), ("mlp", "up_proj"), ("mlp", "down_proj"),
                    ("mlp", "gate_up_proj"))


def lora_node_names(num_layers: int) -> list[str]:
    """Every LoRA MatMul the builder may make for a model of `num_layers` layers (names that do not occur are
    ignored by its quantizer).

    Why they are kept float: the builder int4-quantizes every MatMul, the LoRA ones too, and ExtractAdapters then
    makes their packed weights graph inputs. onnxruntime's MatMulNBits prepacks its weights only when they are
    constant, so with the adapter on every LoRA product runs the slow unpacked path (2x the token time with a
    rank-64 adapter) - and the adapter itself is rounded to 4 bits. As float MatMuls with float inputs they
    cost what a rank-64 product should."""
    return [f"/model/layers.{i}/{block}/{proj}/lora_{ab}/MatMul"
            for i in range(num_layers) for block, proj in LORA_PROJECTIONS for ab in "AB"]


def model_builder_pass(config: dict) -> dict:
    """The one ModelBuilder pass of an auto-opt config (which must also extract the adapter)."""
    builders = [p for p in (config.get("passes") or {}).values()
                if isinstance(p, dict) and p.get("type") == "ModelBuilder"]
    if len(builders) != 1:
        raise ValueError(f"expected one ModelBuilder pass, found {len(builders)}")
    if not any(isinstance(p, dict) and p.get("type") == "ExtractAdapters" for p in config["passes"].values()):
        raise ValueError("the auto-opt config has no ExtractAdapters pass: was the adapter (-a) given?")
    return builders[0]


def keep_float(config: dict, nodes: list[str], output_dir: str) -> dict:
    """A copy of auto-opt's config whose ModelBuilder leaves `nodes` unquantized, writing to `output_dir`."""
    cfg = copy.deepcopy(config)
    mb = model_builder_pass(cfg)
    if nodes:
        mb["int4_nodes_to_exclude"] = [*mb.get("int4_nodes_to_exclude", []), *nodes]
    cfg["output_dir"] = output_dir
    return cfg


def quantized_lora_nodes(onnx_path: Path) -> list[str]:
    """The MatMulNBits nodes of a LoRA product (the adapter rounded to int4); empty when the LoRA MatMuls are float."""
    import onnx

    graph = onnx.load(str(onnx_path), load_external_data=False).graph
    return [n.name for n in graph.node if n.op_type == "MatMulNBits" and "/lora_" in n.name]


def check_adapter(out: Path) -> list[str]:
    """What is wrong with the adapter side of a build in `out` (no file, no LoRA inputs, int4 LoRA products)."""
    import onnx

    problems = []
    if not (out / ADAPTER_FILE).is_file():
        problems.append(f"no {ADAPTER_FILE} (ExtractAdapters did not run?)")
    model = onnx.load(str(out / "model.onnx"), load_external_data=False)
    if not any("lora" in i.name.lower() for i in model.graph.input):
        problems.append("the graph has no LoRA inputs")
    if quantized := quantized_lora_nodes(out / "model.onnx"):
        problems.append(f"{len(quantized)} LoRA MatMuls are int4 (e.g. {quantized[0]}), not float")
    return problems


def build_failure(code: int, tail: str) -> str:
    """Why `olive run` made no model, from its exit code and the last error line of its output."""
    why = "Olive produced no model" if "No output model produced" in tail else f"olive run exited with {code}"
    errors = [ln.strip() for ln in tail.splitlines() if re.match(r"^\s*[A-Za-z_.]*(Error|Exception): ", ln)]
    return why + (f" ({errors[-1][:300]})" if errors else "")


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m olive_lab.steps.onnx_build", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, type=Path, help="the fine-tuned model folder (ft/model)")
    p.add_argument("--adapter", required=True, type=Path, help="the LoRA adapter folder (ft/adapter)")
    p.add_argument("--out", required=True, type=Path, help="the ONNX model folder to make")
    p.add_argument("--precision", default="int4", help="auto-opt's --precision (default int4)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    model, adapter, out = (p.expanduser().resolve() for p in (args.model, args.adapter, args.out))
    for folder, what in ((model, "config.json"), (adapter, "adapter_config.json")):
        if not (folder / what).is_file():
            say("error", f"input: {folder} has no {what}: run the finetune step first")
            return EXIT_USAGE
    t0 = time.monotonic()
    layers = int(json.loads((model / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"])
    with tempfile.TemporaryDirectory(prefix="olive-lab-onnx-") as tmp:
        say("phase", "writing Olive config")
        code, _ = stream(dry_run_argv(model, adapter, Path(tmp), args.precision))
        dry_file = Path(tmp) / "config.json"
        if code != 0 or not dry_file.is_file():
            say("error", f"olive: `olive auto-opt --dry_run` did not write a config (exit {code})")
            return EXIT_FAILED
        try:
            cfg = keep_float(json.loads(dry_file.read_text(encoding="utf-8")), lora_node_names(layers), str(out))
        except ValueError as exc:
            say("error", f"olive: {exc}")
            return EXIT_FAILED
        config_file = Path(tmp) / "onnx-config.json"
        config_file.write_text(json.dumps(cfg, indent=4) + "\n", encoding="utf-8")
        print(f"auto-opt's config with the LoRA MatMuls of {layers} layers kept float: {config_file}", flush=True)

        say("phase", f"building {args.precision} ONNX with the adapter")
        shutil.rmtree(out, ignore_errors=True)
        code, tail = stream([sys.executable, "-m", "olive", "run", "--config", str(config_file)])
    folder = out / "model" if (out / "model" / "model.onnx").is_file() else out  # older Olive: nested
    if code != 0 or not (folder / "model.onnx").is_file():
        say("error", f"build: {build_failure(code, tail)}; the first error is in the log above")
        return EXIT_FAILED if code else EXIT_NO_OUTPUT

    say("phase", "verifying")
    problems = check_adapter(folder)
    if problems:
        say("error", f"adapter: {'; '.join(problems)}")
        return EXIT_FAILED
    say("result", f"onnx: {args.precision} model with a float LoRA adapter in {time.monotonic() - t0:.0f} s")
    say("phase", "done")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
