"""Is a folder a complete transformers model? Config, every weight file (safetensors, untruncated) and tokenizer.

A leaf module, standard library only: the model step, the SmolLM2 conversion and the front door's input checks
all ask it, and none of them has to import another to do so.
"""

from __future__ import annotations

import json
import struct
from pathlib import Path


def check_model_folder(folder: Path) -> list[str]:
    """Why `folder` is not a usable transformers model folder (each missing file named), or [] when it is."""
    if not folder.is_dir():
        return [f"{folder} is not a folder"]
    problems: list[str] = []
    intro = f"{folder} is not a complete transformers model folder:"
    config = folder / "config.json"
    if not config.is_file():
        problems.append(f"{intro} config.json is missing")
    else:
        try:
            cfg = json.loads(config.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            problems.append(f"{intro} config.json is not valid JSON ({exc})")
        else:
            if not isinstance(cfg, dict) or "model_type" not in cfg:
                problems.append(f"{intro} config.json has no model_type (is it a transformers config?)")
    problems += weight_problems(folder, intro)
    if not (folder / "tokenizer.json").is_file() and not (folder / "tokenizer.model").is_file():
        problems.append(f"{intro} the tokenizer is missing (tokenizer.json or tokenizer.model)")
    if not (folder / "tokenizer_config.json").is_file():
        problems.append(f"{intro} tokenizer_config.json is missing")
    return problems


def weight_problems(folder: Path, intro: str) -> list[str]:
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError):
            return [f"{intro} model.safetensors.index.json is damaged (no weight_map)"]
        missing = [s for s in shards if not (folder / s).is_file()]
        if missing:
            return [f"{intro} weights incomplete: {', '.join(missing)} (listed in model.safetensors.index.json) "
                    f"{'is' if len(missing) == 1 else 'are'} missing"]
        files = [folder / s for s in shards]
    else:
        files = sorted(folder.glob("*.safetensors"))
    if not files:
        if any(folder.glob("pytorch_model*.bin")):
            return [f"{intro} the weights are only in PyTorch .bin files; Olive Lab needs *.safetensors (load and "
                    f"save the model with transformers' save_pretrained to convert them)"]
        return [f"{intro} no weights (*.safetensors) found"]
    return [f"{intro} {p}" for f in files if (p := safetensors_problem(f))]


def safetensors_problem(path: Path) -> str:
    """'' when the file's header is readable and its size matches the header; else what is wrong (e.g. truncated)."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as fh:
            head = fh.read(8)
            if len(head) < 8:
                return f"{path.name} is empty or truncated ({size} bytes)"
            (n,) = struct.unpack("<Q", head)
            if n > min(size - 8, 100_000_000):
                return f"{path.name} is not a safetensors file (bad header)"
            header = json.loads(fh.read(n))
    except (OSError, ValueError, UnicodeDecodeError):
        return f"{path.name} is not a readable safetensors file"
    tensors = [t for k, t in header.items() if k != "__metadata__" and isinstance(t, dict)]
    end = max((t.get("data_offsets", [0, 0])[1] for t in tensors), default=0)
    expected = 8 + n + end
    if size < expected:
        return f"{path.name} is truncated ({size} of {expected} bytes): the copy or download did not finish"
    return ""
