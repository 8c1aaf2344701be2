"""Folders the steps' checks take for a transformers model, for tests of decisions that need no real weights."""

from __future__ import annotations

import json
import struct
from pathlib import Path


def fake_model(folder: Path) -> Path:
    """Config with a model_type, a well-formed (empty) safetensors file and the tokenizer files."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"model_type": "phi3"}))
    header = b"{}"
    (folder / "model.safetensors").write_bytes(struct.pack("<Q", len(header)) + header)
    (folder / "tokenizer.json").write_text("{}")
    (folder / "tokenizer_config.json").write_text("{}")
    return folder
