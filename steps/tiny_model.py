"""Build the base model locally: a tiny Phi-3 for the `cpu` profile, or Phi-3.5-mini's exact shapes for benchmarks.

    python -m olive_lab.steps.tiny_model --out DIR --data JSONL [--seed 0] [--longrope] [--size tiny|phi35mini]

Both sizes are a `Phi3ForCausalLM` with seeded random weights and a byte-level BPE tokenizer trained on the
dataset's text, carrying the Phi-3 chat tokens at ids 0..5 (`<|endoftext|>`, `<s>`, `<|user|>`, `<|assistant|>`,
`<|end|>`, `<|system|>`) and a chat template, so Olive, peft and onnxruntime-genai treat it like the real model
(recipe: shared/docs/cpu-pipeline.md section b). Random weights talk nonsense; that is fine for learning the steps.

- `tiny` (default): hidden 128, 2 layers, 4 heads, MLP 256, vocab ~1024, fp32 - about 2.4 MB, built in seconds.
- `phi35mini`: Phi-3.5-mini-instruct's shapes (hidden 3072, MLP 8192, 32 layers, 32 heads, vocab 32064, longrope
  with 48-element factors, 131072 positions, original 4096), bf16, initialised on the meta device and filled with
  normal(0, 0.02) on CUDA when available - 3.8 B parameters, 7.6 GB; for GPU benchmarks only. Its tokenizer is the
  trained one padded with `<|unusedN|>` tokens to 32064.

A longrope config keeps the legacy `rope_scaling` key next to transformers 5's `rope_parameters`: transformers 4.x
reads only `rope_scaling` and would silently drop longrope (gpu-pipeline.md F-G6).

The same seed and data give the same weight bytes. The folder appears atomically: it is built in `DIR.tmp-<pid>`
and renamed to DIR when complete, with an `olive-lab.json` marker saying what made it. Output lines
`[olive-lab] phase ...` / `[olive-lab] error <kind>: ...` are for the runner. torch and transformers are imported
only inside `main`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

from .data import read_objects
from .folders import build_folder, disk_full
from .script import EXIT_DATA, EXIT_DISK_FULL, EXIT_OK, MARKER, say
MAKER = "olive_lab.steps.tiny_model"

#: The Phi-3 chat tokens, in the order that gives them ids 0..5.
SPECIAL_TOKENS = ("<|endoftext|>", "<s>", "<|user|>", "<|assistant|>", "<|end|>", "<|system|>")
EOS_IDS = [4, 0]  # stop on <|end|> (end of an assistant turn) or <|endoftext|>

#: Phi-3's chat format: `<|role|>\ncontent<|end|>\n` per message, then `<|assistant|>\n` to ask for a reply.
CHAT_TEMPLATE = (
    "{% for m in messages %}{{ '<|' + m['role'] + '|>\n' + m['content'] + '<|end|>\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

SIZES = {
    "tiny": dict(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                 num_key_value_heads=4, max_position_embeddings=2048, original_max_position_embeddings=2048,
                 bpe_vocab=1024, vocab_size=None, dtype="float32"),
    "phi35mini": dict(hidden_size=3072, intermediate_size=8192, num_hidden_layers=32, num_attention_heads=32,
                      num_key_value_heads=32, max_position_embeddings=4096, original_max_position_embeddings=4096,
                      bpe_vocab=1024, vocab_size=32064, dtype="bfloat16"),
}
LONGROPE_MAX_POSITIONS = 131072



def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_texts(path: Path) -> tuple[list[str], int]:
    """The dataset's strings (`prompt`/`response`, else every string value), in file order; and the bad line count.

    Lenient on purpose: the data step reports problems by line; here any usable text trains the tokenizer.
    """
    texts: list[str] = []
    objects, bad = read_objects(path)
    for _line, row in objects:
        keys = [k for k in ("prompt", "response") if isinstance(row.get(k), str)] or \
               [k for k, v in row.items() if isinstance(v, str)]
        texts.extend(row[k] for k in keys if row[k].strip())
    return texts, bad


def longrope_factors(n: int) -> tuple[list[float], list[float]]:
    """Short and long factors shaped like Phi-3.5-mini's (short ~1, long rising from 1 to ~60 across the dims)."""
    short = [round(1.0 + 0.05 * i / max(n - 1, 1), 4) for i in range(n)]
    long = [round(1.0 + 59.0 * (i / max(n - 1, 1)) ** 2, 4) for i in range(n)]
    return short, long


def build_tokenizer(texts: list[str], bpe_vocab: int, pad_to: int | None):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())  # GPT-2 style byte-level BPE: every byte is representable, no unknown tokens
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=bpe_vocab, special_tokens=list(SPECIAL_TOKENS), min_frequency=2,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer)
    hf_tok = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="<|endoftext|>", pad_token="<|endoftext|>",
        unk_token="<|endoftext|>", chat_template=CHAT_TEMPLATE, model_max_length=2048,
        additional_special_tokens=list(SPECIAL_TOKENS[2:]),
    )
    if pad_to is not None and len(hf_tok) < pad_to:
        from tokenizers import AddedToken

        hf_tok.add_tokens([AddedToken(f"<|unused{i}|>", special=True, normalized=False)
                           for i in range(pad_to - len(hf_tok))], special_tokens=True)
    return hf_tok


def make_tokenizer_config_portable(config_path: Path) -> None:
    """Let transformers 4.x load the tokenizer too (the GPU AWQ environment runs 4.51.3).

    transformers 5 writes `tokenizer_class: TokenizersBackend` and `extra_special_tokens` as a list; 4.x knows neither
    (it expects a dict there). `PreTrainedTokenizerFast` + `additional_special_tokens` load the same tokenizer in
    4.51.3, 5.x and onnxruntime-genai 0.14.1 (checked: same ids in all three).
    """
    cfg = json.loads(config_path.read_text(encoding="utf-8"))
    extra = cfg.pop("extra_special_tokens", None)
    if isinstance(extra, list):
        cfg["additional_special_tokens"] = extra
    elif extra:
        cfg["extra_special_tokens"] = extra
    if cfg.get("tokenizer_class") in (None, "TokenizersBackend"):
        cfg["tokenizer_class"] = "PreTrainedTokenizerFast"
    config_path.write_text(json.dumps(cfg, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def add_legacy_rope_scaling(config_path: Path) -> None:
    """Make config.json readable by transformers 4.x too: keep `rope_scaling` (+ `rope_theta`) beside `rope_parameters`.

    transformers 5 writes only `rope_parameters`; 4.x reads only `rope_scaling` (exactly type/short/long for longrope).
    """
    cfg = json.loads(config_path.read_text(encoding="utf-8"))
    rope = cfg.get("rope_parameters") or {}
    legacy = cfg.get("rope_scaling")
    kind = rope.get("rope_type") or rope.get("type")
    if kind == "longrope" and not legacy:
        cfg["rope_scaling"] = {"type": "longrope", "short_factor": rope["short_factor"],
                               "long_factor": rope["long_factor"]}
    if "rope_theta" in rope and "rope_theta" not in cfg:
        cfg["rope_theta"] = rope["rope_theta"]
    config_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _init_random(model, seed: int, device) -> None:
    """Fill a model that was created on the meta device: normal(0, 0.02) for weights, ones for norms, zero biases."""
    import torch

    gen = torch.Generator(device=device).manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "norm" in name:  # input_layernorm, post_attention_layernorm, model.norm (RMSNorm weights)
                p.fill_(1.0)
            elif name.endswith(".bias"):
                p.zero_()
            else:
                p.normal_(0.0, 0.02, generator=gen)


def build(out: Path, data: Path, seed: int, longrope: bool, size: str, device: str | None,
          layers: int | None = None) -> dict:
    """Build into `out` (an empty folder). Returns the marker's content."""
    t0 = time.monotonic()
    shape = dict(SIZES[size])
    if layers:
        shape["num_hidden_layers"] = layers
    bpe_vocab, pad_to, dtype_name = shape.pop("bpe_vocab"), shape.pop("vocab_size"), shape.pop("dtype")
    longrope = longrope or size == "phi35mini"

    say("phase", "reading data")
    texts, bad = read_texts(data)
    if not texts:
        raise DataError(f"no text found in {data}: it needs JSON lines with 'prompt' and 'response' strings")
    if bad:
        print(f"note: skipped {bad} line(s) of {data.name} that are not JSON objects (the data step lists them)")

    say("phase", "training tokenizer")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import torch
    import transformers
    from transformers import GenerationConfig, Phi3Config, Phi3ForCausalLM

    hf_tok = build_tokenizer(texts, bpe_vocab, pad_to)
    hf_tok.save_pretrained(out)
    make_tokenizer_config_portable(out / "tokenizer_config.json")
    ids = [hf_tok.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS]
    if ids != list(range(len(SPECIAL_TOKENS))):
        raise RuntimeError(f"chat tokens got ids {ids}, expected 0..5")
    print(f"tokenizer: {len(hf_tok)} tokens, trained on {len(texts)} texts from {data.name}")

    say("phase", "building model")
    kw = dict(shape, vocab_size=pad_to or len(hf_tok), bos_token_id=1, eos_token_id=0, pad_token_id=0,
              tie_word_embeddings=False)
    if longrope:
        head_dim = shape["hidden_size"] // shape["num_attention_heads"]
        short, long = longrope_factors(head_dim // 2)
        kw.update(max_position_embeddings=LONGROPE_MAX_POSITIONS,
                  rope_scaling={"type": "longrope", "short_factor": short, "long_factor": long})
    config = Phi3Config(**kw)
    dtype = getattr(torch, dtype_name)
    if size == "tiny":
        torch.manual_seed(seed)
        model = Phi3ForCausalLM(config).to(dtype)
    else:
        dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        print(f"initialising {size} on {dev} ({dtype_name})")
        config.torch_dtype = dtype
        with torch.device("meta"):
            model = Phi3ForCausalLM(config).to(dtype)
        model = model.to_empty(device=dev)
        _init_random(model, seed, dev)
        rotary = model.model.rotary_emb  # its buffers were not materialised: make them again
        try:  # transformers 4.x takes a device, 5.x does not
            model.model.rotary_emb = type(rotary)(config=config, device=dev)
        except TypeError:
            model.model.rotary_emb = type(rotary)(config=config).to(dev)
    model.generation_config = GenerationConfig(bos_token_id=1, eos_token_id=list(EOS_IDS), pad_token_id=0)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: Phi3ForCausalLM, {n_params / 1e6:.2f} M parameters, {dtype_name}")

    say("phase", "saving")
    model.save_pretrained(out, max_shard_size="5GB")
    mask = os.umask(0)
    os.umask(mask)
    for weights_file in out.glob("*.safetensors"):  # safetensors writes 0600; the other files follow the umask
        os.chmod(weights_file, 0o666 & ~mask)
    if longrope:
        add_legacy_rope_scaling(out / "config.json")

    weights = sorted(p.name for p in out.glob("*.safetensors"))
    marker = {
        "made_by": MAKER,
        "kind": "built",
        "size": size,
        "layers": config.num_hidden_layers,
        "seed": seed,
        "longrope": longrope,
        "data": {"path": str(data), "sha256": file_sha256(data), "texts": len(texts)},
        "vocab_size": config.vocab_size,
        "parameters": n_params,
        "dtype": dtype_name,
        "weights": {name: file_sha256(out / name) for name in weights} if size == "tiny" else weights,
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__},
        "seconds": round(time.monotonic() - t0, 2),
    }
    (out / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    return marker


class DataError(Exception):
    pass


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m olive_lab.steps.tiny_model", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", required=True, type=Path, help="the model folder to make")
    p.add_argument("--data", required=True, type=Path, help="JSONL whose text trains the tokenizer")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--longrope", action="store_true", help="Phi-3.5-style longrope (always on for phi35mini)")
    p.add_argument("--size", choices=sorted(SIZES), default="tiny")
    p.add_argument("--device", default=None, help="phi35mini only: where to initialise (default: cuda if available)")
    p.add_argument("--layers", type=int, default=None, help="override the number of layers (smoke tests)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = args.out.expanduser().resolve()
    data = args.data.expanduser().resolve()
    if not data.is_file():
        say("error", f"data: dataset not found: {data}")
        return EXIT_DATA
    t0 = time.monotonic()
    try:
        marker = build_folder(out, lambda tmp: build(tmp, data, args.seed, args.longrope, args.size, args.device,
                                                     args.layers))
    except DataError as exc:
        say("error", f"data: {exc}")
        return EXIT_DATA
    except OSError as exc:
        if disk_full(exc):
            need = 8.0 if args.size == "phi35mini" else 0.01
            say("error", f"disk_full: disk full, no space left in {out.parent}: free {need:g} GB and run again")
            return EXIT_DISK_FULL
        raise
    size = sum(f.stat().st_size for f in out.iterdir() if f.is_file())
    say("phase", "done")
    print(f"built {out} ({size / 1e6:.1f} MB, {marker['parameters'] / 1e6:.2f} M parameters, seed {args.seed}) "
          f"in {time.monotonic() - t0:.1f} s")
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
