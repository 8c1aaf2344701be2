"""The last link of the faithful GPU flow: an int4 ONNX model made of the AWQ weights, taking the LoRA adapter
that was trained on those weights.

    python -m olive_lab.steps.awq_onnx --awq FT_MODEL --adapter FT_ADAPTER --output OUT [--keep-work]

Why a step of our own: onnxruntime-genai 0.14.1's builder reads an AWQ checkpoint as its own `QuantModel` (not a
torch module) and then calls `PeftModel.from_pretrained` on it, which fails (`'AWQModel' object has no attribute
'named_modules'`, builders/base.py `load_weights`); its LoRA path (`make_matmul_lora`) needs peft modules around
float `nn.Linear`s. So this step gives the builder what it can take and then puts the AWQ weights back:

1. dequantize: the AWQ checkpoint -> a float16 checkpoint with the same effective weights ((q - z) * s per group;
   the layer norms already carry AWQ's folded scales; lm_head and embeddings are copied as they are): the builder
   needs a model it can load to lay out the graph;
2. build: `olive run` of auto-opt's config (ModelBuilder int4 + ExtractAdapters) with that checkpoint and the
   adapter, patched so the int4 layout is AWQ's (block size = AWQ group size, asymmetric), lm_head stays
   unquantized as in the AWQ model, and the LoRA MatMuls stay float (`lora_node_names`: as int4 graph inputs they
   halve chat speed with the adapter on). In that process the builder's own int4 pass (which quantizes every
   float MatMul on the CPU) is replaced by `write_awq_matmuls`: each projection becomes a MatMulNBits made of
   AWQ's own codes, scales and zero points, and its float weight is never computed;
3. verify: each quantized projection of the ONNX model is compared with the AWQ checkpoint (codes, scales, zero
   points); if any differs (e.g. Olive served a build from its cache, or `--requantize`), AWQ's bytes are
   written over it and it is compared again; the adapter file and the LoRA inputs are checked.

Output lines `[olive-lab] phase ...` / `[olive-lab] result ...` / `[olive-lab] error <kind>: ...` are for the runner.
torch, safetensors and onnx are imported inside the functions that need them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .awq import say, stream
from .onnx_build import (build_failure, check_adapter, dry_run_argv, keep_float, lora_node_names,
                         model_builder_pass)

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_NO_OUTPUT, EXIT_MISMATCH = 0, 1, 2, 6, 7
AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)  # nibble i of an AWQ int32 holds column 8 * c + AWQ_ORDER[i]
DEQUANT_DIR, CONFIG_FILE, REPORT_FILE = "awq-dequantized", "onnx-config.json", "awq-onnx-report.json"
SHARD_BYTES = 4 << 30


# --- AWQ (AutoAWQ GEMM) packing ---------------------------------------------------------------------------------

def unpack_awq(packed):
    """int32 [R, C/8] (AutoAWQ GEMM order) -> uint8 codes [R, C]."""
    import torch

    shifts = torch.arange(0, 32, 4, device=packed.device, dtype=torch.int32)
    nibbles = (packed.to(torch.int32)[:, :, None] >> shifts) & 0xF          # [R, C/8, 8], nibble order
    out = torch.empty_like(nibbles)
    out[:, :, list(AWQ_ORDER)] = nibbles
    return out.reshape(packed.shape[0], -1).to(torch.uint8)


def pack_awq(codes):
    """Codes 0..15 [R, C] -> int32 [R, C/8] in AutoAWQ GEMM order (the inverse of `unpack_awq`): the shifts and ORs
    of AutoAWQ's `WQLinear_GEMM.from_linear`, on whole tensors (steps/awq_gpu.py packs with it)."""
    import torch

    c = codes.to(torch.int32).reshape(codes.shape[0], -1, 8)
    packed = torch.zeros(c.shape[:2], dtype=torch.int32, device=codes.device)
    for nibble, column in enumerate(AWQ_ORDER):
        packed |= c[:, :, column] << (4 * nibble)
    return packed


def awq_codes(qweight, qzeros, scales):
    """One AWQ layer as (codes [K, N] uint8, zeros [K/g, N] uint8, scales [K/g, N] float32)."""
    import torch

    return unpack_awq(qweight), unpack_awq(qzeros), scales.to(torch.float32)


def dequantize(qweight, qzeros, scales, group_size: int):
    """The layer's effective weight in the HF layout [N, K], float32: (q - z) * s per group along K."""
    import torch

    q, z, s = awq_codes(qweight, qzeros, scales)
    z = z.repeat_interleave(group_size, dim=0).to(torch.float32)
    s = s.repeat_interleave(group_size, dim=0)
    return ((q.to(torch.float32) - z) * s).t().contiguous()


# --- 1. dequantize ----------------------------------------------------------------------------------------------

def quant_config(model_dir: Path) -> dict:
    cfg = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    q = cfg.get("quantization_config") or {}
    if q.get("quant_method") != "awq":
        raise ValueError(f"{model_dir} is not an AWQ checkpoint (quantization_config.quant_method is "
                         f"{q.get('quant_method')!r})")
    if int(q.get("bits", q.get("w_bit", 4))) != 4 or str(q.get("version", "gemm")).lower() != "gemm":
        raise ValueError(f"only 4-bit AWQ GEMM checkpoints are supported, not {q}")
    return q


def float_config(config: dict, dtype: str) -> dict:
    """The AWQ model's config for its dequantized copy: no quantization, readable by transformers 4.x and 5.x."""
    from .awq import legacy_rope

    cfg = {k: v for k, v in config.items() if k != "quantization_config"}
    cfg["torch_dtype"] = dtype
    cfg["dtype"] = dtype
    if (legacy := legacy_rope(cfg)) is not None:
        cfg["rope_scaling"] = legacy
    return cfg


def dequantize_checkpoint(awq_dir: Path, out: Path, dtype: str = "float16", device: str | None = None) -> dict:
    """Write `out/`: the AWQ model as a float checkpoint (sharded safetensors + config + tokenizer files)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    q = quant_config(awq_dir)
    group = int(q.get("group_size", q.get("q_group_size", 128)))
    dev = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    tdtype = getattr(torch, dtype)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    files = sorted(awq_dir.glob("*.safetensors"))
    shard, shard_bytes, shards, weight_map = {}, 0, [], {}
    layers = 0

    def flush():
        nonlocal shard, shard_bytes
        if shard:
            name = f"model-{len(shards) + 1:05d}.safetensors"
            save_file(shard, str(out / name), metadata={"format": "pt"})
            shards.append(name)
            weight_map.update({k: name for k in shard})
            shard, shard_bytes = {}, 0

    for f in files:
        with safe_open(str(f), framework="pt") as st:
            keys = list(st.keys())
            for key in keys:
                if key.endswith((".qzeros", ".scales")) and key.rsplit(".", 1)[0] + ".qweight" in keys:
                    continue
                if key.endswith(".qweight"):
                    base = key[: -len(".qweight")]
                    w = dequantize(st.get_tensor(key).to(dev), st.get_tensor(base + ".qzeros").to(dev),
                                   st.get_tensor(base + ".scales").to(dev), group)
                    name, tensor = base + ".weight", w.to(tdtype).cpu()
                    layers += 1
                else:
                    name, tensor = key, st.get_tensor(key)
                    if tensor.is_floating_point():
                        tensor = tensor.to(tdtype)
                shard[name] = tensor.contiguous()
                shard_bytes += tensor.numel() * tensor.element_size()
                if shard_bytes >= SHARD_BYTES:
                    flush()
    flush()
    if len(shards) > 1:
        index = {"metadata": {"total_size": sum((out / s).stat().st_size for s in shards)}, "weight_map": weight_map}
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2), encoding="utf-8")
    elif shards:
        os.replace(out / shards[0], out / "model.safetensors")
    config = json.loads((awq_dir / "config.json").read_text(encoding="utf-8"))
    (out / "config.json").write_text(json.dumps(float_config(config, dtype), indent=2) + "\n", encoding="utf-8")
    for item in awq_dir.iterdir():
        if item.is_file() and item.suffix != ".safetensors" and item.name not in (
                "config.json", "model.safetensors.index.json", "model_config.json"):
            shutil.copy2(item, out / item.name)
    return {"group_size": group, "layers": layers, "dtype": dtype, "shards": len(shards),
            "modules_to_not_convert": list(q.get("modules_to_not_convert") or [])}


# --- 2. build ---------------------------------------------------------------------------------------------------

def patch_build_config(config: dict, *, output_dir: str, group_size: int, zero_point: bool = True,
                       keep_lm_head: bool = True, float_lora_layers: int = 0) -> dict:
    """auto-opt's dry-run config -> int4 in AWQ's layout (block = group size, asymmetric), lm_head unquantized,
    and with `float_lora_layers` > 0 the LoRA MatMuls of that many layers left float (`lora_node_names`)."""
    exclude = (["/lm_head/MatMul"] if keep_lm_head else []) + lora_node_names(float_lora_layers)
    cfg = keep_float(config, exclude, output_dir)
    mb = model_builder_pass(cfg)
    mb["precision"] = "int4"
    mb["int4_block_size"] = int(group_size)
    mb["int4_is_symmetric"] = not zero_point
    return cfg


# --- 3./4. restore and verify -----------------------------------------------------------------------------------

NODE_RE = re.compile(r"^/model/layers\.(?P<layer>\d+)/(?P<block>attn|mlp)/(?P<proj>[a-z_]+)/MatMul")


@dataclass
class Target:
    """Which rows of which AWQ layer one MatMulNBits node holds."""

    node: str
    awq_module: str
    rows: slice


def node_target(node_name: str, q_size: int, kv_size: int, intermediate: int) -> Target | None:
    """The AWQ rows behind a builder node name (Phi-3 naming: fused qkv_proj and gate_up_proj in the checkpoint)."""
    m = NODE_RE.match(node_name)
    if not m or "/lora_" in node_name:
        return None
    layer, proj = int(m["layer"]), m["proj"]
    attn = f"model.layers.{layer}.self_attn"
    mlp = f"model.layers.{layer}.mlp"
    table = {
        "q_proj": (f"{attn}.qkv_proj", slice(0, q_size)),
        "k_proj": (f"{attn}.qkv_proj", slice(q_size, q_size + kv_size)),
        "v_proj": (f"{attn}.qkv_proj", slice(q_size + kv_size, q_size + 2 * kv_size)),
        "qkv_proj": (f"{attn}.qkv_proj", slice(0, q_size + 2 * kv_size)),
        "o_proj": (f"{attn}.o_proj", slice(None)),
        "gate_proj": (f"{mlp}.gate_up_proj", slice(0, intermediate)),
        "up_proj": (f"{mlp}.gate_up_proj", slice(intermediate, 2 * intermediate)),
        "gate_up_proj": (f"{mlp}.gate_up_proj", slice(None)),
        "down_proj": (f"{mlp}.down_proj", slice(None)),
    }
    if proj not in table:
        return None
    module, rows = table[proj]
    return Target(node_name, module, rows)


def ort_layout(codes, zeros, scales, rows: slice):
    """AWQ rows -> MatMulNBits tensors: B uint8 [N, K/bs, bs/2] (low nibble = even k), scales float32 [N, K/bs],
    zero points uint8 [N, ceil(K/bs / 2)] (low nibble = even block). `codes`/`zeros` are torch uint8 [K, N]/[K/g, N]."""
    import numpy as np
    import torch

    q = codes[:, rows].t()                                          # [N, K]
    z = zeros[:, rows].t()                                          # [N, K/g]
    n, k = q.shape
    blocks = z.shape[1]
    b = (q[:, 0::2] | (q[:, 1::2] << 4)).reshape(n, blocks, k // blocks // 2).contiguous().numpy()
    if blocks % 2:
        z = torch.cat([z, torch.zeros((n, 1), dtype=z.dtype)], dim=1)
    zp = (z[:, 0::2] | (z[:, 1::2] << 4)).contiguous().numpy()
    s = np.ascontiguousarray(scales[:, rows].t().to(torch.float32).numpy())
    return b, s, zp


def decode_ort(b, zp, blocks: int):
    """MatMulNBits B and zero points -> codes [N, K] and zeros [N, blocks] (for tests and diagnosis)."""
    import numpy as np

    n = b.shape[0]
    codes = np.stack([b & 0xF, b >> 4], axis=-1).reshape(n, -1)
    zeros = np.stack([zp & 0xF, zp >> 4], axis=-1).reshape(n, -1)[:, :blocks]
    return codes, zeros


def nibbles_differing(a, b) -> int:
    """How many 4-bit values differ between two packed uint8 arrays of the same size."""
    import numpy as np

    x = np.bitwise_xor(a.reshape(-1), b.reshape(-1))
    return int(np.count_nonzero(x & 0x0F)) + int(np.count_nonzero(x >> 4))


@dataclass
class Comparison:
    nodes: int = 0
    codes_total: int = 0
    codes_equal: int = 0
    scales_equal: int = 0
    scales_total: int = 0
    zeros_equal: int = 0
    groups_not_spanning: int = 0
    unmapped: list[str] = field(default_factory=list)

    def exact(self) -> bool:
        return (self.nodes > 0 and self.codes_equal == self.codes_total and self.scales_equal == self.scales_total
                and self.zeros_equal == self.scales_total and not self.unmapped)

    def line(self) -> str:
        pct = 100.0 * self.codes_equal / max(self.codes_total, 1)
        return (f"{self.nodes} int4 projections; codes identical {pct:.4f}% ({self.codes_total - self.codes_equal} "
                f"differ of {self.codes_total}); scales identical {self.scales_equal}/{self.scales_total}; "
                f"zero points identical {self.zeros_equal}/{self.scales_total}"
                + (f"; unmapped nodes: {len(self.unmapped)}" if self.unmapped else ""))


def model_dims(config: dict) -> tuple[int, int, int]:
    heads = config["num_attention_heads"]
    head = config.get("head_dim") or config["hidden_size"] // heads
    return heads * head, config.get("num_key_value_heads", heads) * head, config["intermediate_size"]


def load_awq_layers(awq_dir: Path, modules: set[str]) -> dict:
    """module -> (codes [K, N] uint8, zeros [K/g, N] uint8, scales [K/g, N] float32), torch on the CPU."""
    from safetensors import safe_open

    out = {}
    for f in sorted(awq_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            for key in st.keys():
                base, _, leaf = key.rpartition(".")
                if base in modules and leaf in ("qweight", "qzeros", "scales"):
                    out.setdefault(base, {})[leaf] = st.get_tensor(key)
    return {m: awq_codes(t["qweight"], t["qzeros"], t["scales"]) for m, t in out.items() if len(t) == 3}


def all_awq_modules(awq_dir: Path) -> set[str]:
    from safetensors import safe_open

    found = set()
    for f in sorted(awq_dir.glob("*.safetensors")):
        with safe_open(str(f), framework="pt") as st:
            found.update(k[: -len(".qweight")] for k in st.keys() if k.endswith(".qweight"))
    return found


def groups_not_spanning(codes, group: int) -> int:
    """AWQ groups whose codes do not reach both 0 and 15: there a min/max re-quantization picks another grid."""
    k, n = codes.shape
    g = codes.reshape(k // group, group, n)
    return int(((g.amin(dim=1) != 0) | (g.amax(dim=1) != 15)).sum())


def restore_and_compare(onnx_path: Path, awq_dir: Path, write: bool, layers: dict | None = None) -> Comparison:
    """Compare every quantized projection with the AWQ checkpoint; with `write`, replace it by AWQ's bytes first.

    Codes are compared packed (XOR, then the differing low and high nibbles are counted); scales as float32.
    """
    import numpy as np
    import onnx
    from onnx import numpy_helper

    config = json.loads((awq_dir / "config.json").read_text(encoding="utf-8"))
    q_size, kv_size, inter = model_dims(config)
    data_name = external_location(onnx_path)
    model = onnx.load(str(onnx_path), load_external_data=True)
    inits = {t.name: t for t in model.graph.initializer}
    targets = []
    result = Comparison()
    for node in model.graph.node:
        if node.op_type != "MatMulNBits":
            continue
        target = node_target(node.name, q_size, kv_size, inter)
        if target is None:
            if "/lora_" not in node.name:
                result.unmapped.append(node.name)
            continue
        targets.append((node, target))
    if layers is None:
        layers = load_awq_layers(awq_dir, {t.awq_module for _, t in targets})
    group = int(quant_config(awq_dir).get("group_size", 128))
    if write:
        result.groups_not_spanning = sum(groups_not_spanning(c, group) for c, _, _ in layers.values())
    for node, target in targets:
        if target.awq_module not in layers:
            result.unmapped.append(node.name)
            continue
        codes, zeros, scales = layers[target.awq_module]
        b_new, s_new, zp_new = ort_layout(codes, zeros, scales, target.rows)
        names = list(node.input)
        if len(names) < 4 or not names[3]:
            raise ValueError(f"{node.name} has no zero points: the build was symmetric, AWQ's layout is not")
        b_old = numpy_helper.to_array(inits[names[1]])
        s_old = numpy_helper.to_array(inits[names[2]])
        zp_old = numpy_helper.to_array(inits[names[3]])
        if b_old.size != b_new.size or s_old.size != s_new.size or zp_old.size != zp_new.size:
            raise ValueError(f"{node.name}: layout differs from AWQ's (B {b_old.shape} vs {b_new.shape}, "
                             f"scales {s_old.shape} vs {s_new.shape}): block size must equal the group size")
        blocks = s_new.shape[1]
        result.nodes += 1
        result.codes_total += b_new.size * 2
        result.codes_equal += b_new.size * 2 - nibbles_differing(b_old, b_new)
        result.scales_total += s_new.size
        result.scales_equal += int(np.count_nonzero(s_old.reshape(-1).astype(np.float32) == s_new.reshape(-1)))
        zp_diff = np.bitwise_xor(zp_old.reshape(zp_new.shape), zp_new)
        zero_diffs = int(np.count_nonzero(zp_diff & 0x0F))
        zero_diffs += int(np.count_nonzero((zp_diff >> 4)[:, : blocks // 2]))  # high nibble of an odd last byte is padding
        result.zeros_equal += s_new.size - zero_diffs
        if write:
            for name, arr in ((names[1], b_new.reshape(b_old.shape)), (names[2], s_new.reshape(s_old.shape).astype(s_old.dtype)),
                              (names[3], zp_new.reshape(zp_old.shape))):
                inits[name].CopyFrom(numpy_helper.from_array(np.ascontiguousarray(arr), name))
    if write and result.nodes:
        save_onnx(model, onnx_path, data_name)
    return result


def external_location(onnx_path: Path) -> str | None:
    """The file the model's weights live in (None: inside model.onnx)."""
    import onnx

    proto = onnx.load(str(onnx_path), load_external_data=False)
    for t in proto.graph.initializer:
        for entry in t.external_data:
            if entry.key == "location":
                return entry.value
    return None


def save_onnx(model, onnx_path: Path, data_name: str | None) -> None:
    """Save in place; weights in one external file `data_name` when the original had one (as the builder writes)."""
    import onnx

    external = data_name is not None
    tmp = onnx_path.parent / f".{onnx_path.name}.tmp-{os.getpid()}"
    if external:
        onnx.save_model(model, str(tmp), save_as_external_data=True, all_tensors_to_one_file=True,
                        location=data_name + ".new", size_threshold=1024)
        os.replace(onnx_path.parent / (data_name + ".new"), onnx_path.parent / data_name)
        fixed = onnx.load(str(tmp), load_external_data=False)   # point the graph at the final data file name
        for t in fixed.graph.initializer:
            for entry in t.external_data:
                if entry.key == "location":
                    entry.value = data_name
        onnx.save_model(fixed, str(tmp))
    else:
        onnx.save_model(model, str(tmp))
    os.replace(tmp, onnx_path)


# --- 2'. build with AWQ's codes: the builder's int4 pass replaced -------------------------------------------------

def write_awq_matmuls(ir_model, layers: dict, dims: tuple[int, int, int], group: int, accuracy_level: int,
                      excluded: set[str], scale_dtype) -> tuple[int, list[str]]:
    """In the builder's graph (onnx_ir, float MatMuls), replace each projection's MatMul by a MatMulNBits made of
    AWQ's codes, scales and zero points. The float weights are lazy in the builder, so they are never computed.

    Returns (projections replaced, names of float MatMuls left that the builder's own int4 pass would quantize)."""
    import numpy as np
    import onnx_ir as ir

    graph = ir_model.graph
    replaced, left = 0, []
    for node in list(graph):
        if node.op_type != "MatMul" or node.domain not in ("", "ai.onnx") or node.name in excluded:
            continue
        target = node_target(node.name, *dims)
        if target is None or target.awq_module not in layers:
            left.append(node.name)
            continue
        codes, zeros, scales = layers[target.awq_module]
        b, s, zp = ort_layout(codes, zeros, scales, target.rows)
        x, weight = node.inputs
        prefix = node.name[1:].replace("/", ".")
        inits = []
        for suffix, arr in (("weight_Q4", b), ("weight_scales", s.astype(scale_dtype)), ("weight_zero_points", zp)):
            value = ir.Value(name=f"{prefix}.{suffix}", const_value=ir.tensor(np.ascontiguousarray(arr)))
            value.shape, value.dtype = value.const_value.shape, value.const_value.dtype
            graph.register_initializer(value)
            inits.append(value)
        new = ir.node("MatMulNBits", inputs=[x, *inits], domain="com.microsoft", name=f"{node.name}_Q4",
                      attributes={"K": int(b.shape[1] * b.shape[2] * 2), "N": int(b.shape[0]), "bits": 4,
                                  "block_size": int(group), "accuracy_level": int(accuracy_level)})
        old_out = node.outputs[0]
        new.outputs[0].name = f"{node.name}_Q4/output_0"
        new.outputs[0].dtype, new.outputs[0].shape = old_out.dtype, old_out.shape
        ir.convenience.replace_all_uses_with(old_out, new.outputs[0])
        graph.insert_before(node, new)
        graph.remove(node, safe=True)
        if weight.name in graph.initializers and not weight.uses():
            graph.initializers.pop(weight.name)
        replaced += 1
    return replaced, left


def olive_run_with_awq_codes(config_file: str, awq_dir: str) -> int:
    """`olive run --config CONFIG` in this process, with the model builder's int4 pass (`Model.to_int4`, which
    quantizes every float MatMul on the CPU) replaced by `write_awq_matmuls`: the projections get AWQ's own codes
    and the builder's quantizer runs only if a float MatMul it should quantize is left (none for the models the
    lab builds). ExtractAdapters and the rest run as Olive runs them."""
    from olive.cli.launcher import main as olive_main
    from onnxruntime_genai.models import builder as base  # its `Model` is `builders.base.Model`: the models folder is
    # on sys.path and the builder imports `builders` as a top-level package, a module other than
    # onnxruntime_genai.models.builders.base (Olive patches it the same way, passes/onnx/model_builder.py)

    awq = Path(awq_dir)
    layers = load_awq_layers(awq, all_awq_modules(awq))
    dims = model_dims(json.loads((awq / "config.json").read_text(encoding="utf-8")))
    group = int(quant_config(awq).get("group_size", 128))
    builder_int4 = base.Model.to_int4

    def to_int4(self):
        t = time.monotonic()
        q = self.quant_attrs["int4"]
        replaced, left = write_awq_matmuls(self.model, layers, dims, group, q["accuracy_level"],
                                           set(q["nodes_to_exclude"]), self.io_dtype.numpy())
        say("note", f"builder: {replaced} projections written from the AWQ codes in {time.monotonic() - t:.1f} s; "
                    f"{len(left)} float MatMuls left for its own int4 pass")
        return builder_int4(self) if left else self.model

    base.Model.to_int4 = to_int4
    try:
        olive_main(["run", "--config", str(config_file)])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def build_argv(config_file: Path, awq_dir: Path) -> list[str]:
    code = ("import sys\nfrom olive_lab.steps.awq_onnx import olive_run_with_awq_codes\n"
            "sys.exit(olive_run_with_awq_codes(sys.argv[1], sys.argv[2]))\n")
    return [sys.executable, "-c", code, str(config_file), str(awq_dir)]


# --- main -------------------------------------------------------------------------------------------------------

def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m olive_lab.steps.awq_onnx", description=__doc__.split("\n\n")[0])
    p.add_argument("--awq", required=True, type=Path, help="the AWQ model folder the adapter was trained on (ft/model)")
    p.add_argument("--adapter", required=True, type=Path, help="the LoRA adapter folder (ft/adapter)")
    p.add_argument("--output", required=True, type=Path, help="the ONNX model folder to make")
    p.add_argument("--work", type=Path, default=None, help="where the dequantized checkpoint goes "
                   "(default: OUTPUT.work; deleted at the end unless --keep-work)")
    p.add_argument("--keep-work", action="store_true")
    p.add_argument("--requantize", action="store_true", help="let the builder quantize the dequantized weights "
                   "itself, then put AWQ's codes back (the slower way, for comparison)")
    p.add_argument("--no-restore", action="store_true", help="keep the builder's re-quantized codes (diagnosis)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    awq_dir, adapter, out = (p.expanduser().resolve() for p in (args.awq, args.adapter, args.output))
    work = (args.work or out.parent / f"{out.name}.work").expanduser().resolve()
    for folder, what in ((awq_dir, "config.json"), (adapter, "adapter_config.json")):
        if not (folder / what).is_file():
            say("error", f"input: {folder} has no {what}: run the finetune step first")
            return EXIT_USAGE
    try:
        q = quant_config(awq_dir)
    except ValueError as exc:
        say("error", f"input: {exc}")
        return EXIT_USAGE
    t0 = time.monotonic()
    report: dict = {"awq": str(awq_dir), "adapter": str(adapter), "output": str(out)}

    say("phase", "dequantizing AWQ weights")
    t = time.monotonic()
    deq = work / DEQUANT_DIR
    info = dequantize_checkpoint(awq_dir, deq)
    report["dequantize"] = {**info, "seconds": round(time.monotonic() - t, 1)}
    print(f"dequantized {info['layers']} AWQ layers (group {info['group_size']}) into {deq} "
          f"in {report['dequantize']['seconds']} s", flush=True)

    say("phase", "writing Olive config")
    with tempfile.TemporaryDirectory(prefix="olive-lab-onnx-") as tmp:
        code, _ = stream(dry_run_argv(deq, adapter, Path(tmp)))
        cfg_path = Path(tmp) / "config.json"
        if code != 0 or not cfg_path.is_file():
            say("error", f"olive: `olive auto-opt --dry_run` did not write a config (exit {code})")
            return EXIT_FAILED
        dry = json.loads(cfg_path.read_text(encoding="utf-8"))
    keep_lm_head = "lm_head" in info["modules_to_not_convert"]
    layers_n = int(json.loads((awq_dir / "config.json").read_text(encoding="utf-8"))["num_hidden_layers"])
    cfg = patch_build_config(dry, output_dir=str(out), group_size=info["group_size"],
                             zero_point=bool(q.get("zero_point", True)), keep_lm_head=keep_lm_head,
                             float_lora_layers=layers_n)
    work.mkdir(parents=True, exist_ok=True)
    config_file = work / CONFIG_FILE
    config_file.write_text(json.dumps(cfg, indent=4) + "\n", encoding="utf-8")

    say("phase", "building int4 ONNX with the adapter")
    t = time.monotonic()
    shutil.rmtree(out, ignore_errors=True)
    argv = ([sys.executable, "-m", "olive", "run", "--config", str(config_file)] if args.requantize
            else build_argv(config_file, awq_dir))
    code, tail = stream(argv)
    report["build_seconds"] = round(time.monotonic() - t, 1)
    report["build"] = "builder int4 pass, then AWQ codes restored" if args.requantize else "AWQ codes written in the build"
    if code != 0 or not (out / "model.onnx").is_file():
        say("error", f"build: {build_failure(code, tail)}; the first error is in the log above")
        return EXIT_FAILED if code else EXIT_NO_OUTPUT

    t = time.monotonic()
    layers = load_awq_layers(awq_dir, all_awq_modules(awq_dir))
    after = before = restore_and_compare(out / "model.onnx", awq_dir, write=False, layers=layers)
    report["built_vs_awq"] = before.__dict__
    print(f"the built int4 weights vs AWQ: {before.line()}", flush=True)
    if not before.exact() and not args.no_restore:
        say("phase", "restoring AWQ weights")
        restore_and_compare(out / "model.onnx", awq_dir, write=True, layers=layers)
        say("phase", "verifying")
        after = restore_and_compare(out / "model.onnx", awq_dir, write=False, layers=layers)
    del layers
    report["final_vs_awq"] = after.__dict__
    report["restore_verify_seconds"] = round(time.monotonic() - t, 1)
    problems = check_adapter(out)
    report["adapter_problems"] = problems
    report["lm_head"] = "unquantized (as in the AWQ model)" if keep_lm_head else "int4"
    report["seconds"] = round(time.monotonic() - t0, 1)
    (out / REPORT_FILE).write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    if not args.keep_work:
        shutil.rmtree(work, ignore_errors=True)
    say("result", f"awq-onnx: {after.line()}")
    if problems:
        say("error", f"adapter: {'; '.join(problems)}")
        return EXIT_FAILED
    if not args.no_restore and not after.exact():
        say("error", f"mismatch: the ONNX int4 weights are not AWQ's: {after.line()}")
        return EXIT_MISMATCH
    say("phase", "done")
    print(f"int4 ONNX from the AWQ weights + LoRA adapter: {out} in {report['seconds']} s", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
