"""The cpu profile's quantize step for models whose widths are not multiples of 128: Olive's RTN int4, smaller groups.

    python -m olive_lab.steps.rtn --model M --output OUT --group-size 64

`olive quantize --algorithm rtn --precision int4` always uses groups of 128 input features and fails with
"in_features 576 must be divisible by group_size 128" on SmolLM2-135M (hidden 576, MLP 1536); the CLI has no
option for it. This runs the same `Rtn` pass through `olive run` with the group size set, writes the config it ran
to `OUT/rtn-config.json`, and checks the result itself (Olive can report a failed pass with exit code 0).
Output lines `[olive-lab] phase ...` / `[olive-lab] error <kind>: ...` are for the runner.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .awq import stream
from .script import say

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_OUTPUT = 0, 1, 2, 6
OLIVE_GROUP_SIZE = 128
CONFIG_FILE = "rtn-config.json"


def group_size_for(config: dict) -> int:
    """The largest of 128, 64, 32 that divides every linear layer's input width (hidden and MLP sizes)."""
    widths = [w for w in (config.get("hidden_size"), config.get("intermediate_size")) if isinstance(w, int)]
    return next((g for g in (OLIVE_GROUP_SIZE, 64, 32) if all(w % g == 0 for w in widths)), 32)


def rtn_config(model: Path, out: Path, group_size: int) -> dict:
    """What `olive quantize -m M --algorithm rtn --precision int4 --dry_run` writes, with the group size set."""
    return {
        "input_model": {"type": "HfModel", "model_path": str(model),
                        "load_kwargs": {"attn_implementation": "eager", "trust_remote_code": False}},
        "systems": {"local_system": {"type": "LocalSystem", "accelerators": [
            {"device": "cpu", "execution_providers": ["CPUExecutionProvider"]}]}},
        "host": "local_system", "target": "local_system",
        "passes": {"rtn": {"type": "Rtn", "bits": 4, "group_size": group_size}},
        "output_dir": str(out), "no_artifacts": True, "log_severity_level": 1,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m olive_lab.steps.rtn", description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--group-size", type=int, default=64)
    args = p.parse_args(argv)
    model, out = args.model.expanduser().resolve(), args.output.expanduser().resolve()
    if not (model / "config.json").is_file():
        say("error", f"model: {model} has no config.json: run the model step first")
        return EXIT_USAGE
    out.mkdir(parents=True, exist_ok=True)
    config_file = out / CONFIG_FILE
    config_file.write_text(json.dumps(rtn_config(model, out, args.group_size), indent=4) + "\n", encoding="utf-8")
    say("phase", f"quantizing with RTN int4, groups of {args.group_size}")
    shutil.rmtree(out / "model", ignore_errors=True)  # a stale model must not pass for this run's output
    code, tail = stream([sys.executable, "-m", "olive", "run", "--config", str(config_file)])
    if code != 0 or not (out / "model" / "config.json").is_file() or not any((out / "model").glob("*.safetensors")):
        why = "Olive produced no model (its pass failed; the first error is in the log above)" \
            if "No output model produced" in tail or code == 0 else f"olive run exited with {code}"
        say("error", f"rtn: {why}")
        return EXIT_FAILED if code else EXIT_NO_OUTPUT
    say("phase", "done")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
