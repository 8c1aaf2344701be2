"""Test helper: a fake AWQ checkpoint of a float model, made with AutoAWQ's own arithmetic (no GPU, no AutoAWQ).

`pseudo_quantize` is AutoAWQ 0.2.9's `AwqQuantizer.pseudo_quantize_tensor` (zero point, fp16), and the packing is
`WQLinear_GEMM.from_linear`'s (order 0 2 4 6 1 3 5 7), written with torch only. No scale search or clipping: the
format and the arithmetic are what the tests need, not AWQ's accuracy.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

AWQ_MODULES = ("self_attn.qkv_proj", "self_attn.o_proj", "mlp.gate_up_proj", "mlp.down_proj")


def pseudo_quantize(w, group_size: int = 128, bits: int = 4):
    """(codes [out, in] int, scales [out, in/g], zeros [out, in/g]) exactly as AutoAWQ computes them (fp16)."""
    import torch

    shape = w.shape
    w = w.reshape(-1, group_size)
    max_val, min_val = w.amax(dim=1, keepdim=True), w.amin(dim=1, keepdim=True)
    max_int, min_int = 2**bits - 1, 0
    scales = (max_val - min_val).clamp(min=1e-5) / max_int
    zeros = (-torch.round(min_val / scales)).clamp_(min_int, max_int)
    wq = (torch.clamp(torch.round(w / scales) + zeros, min_int, max_int) - zeros) * scales
    scales = scales.view(shape[0], -1)
    zeros = zeros.view(shape[0], -1)
    wq = wq.reshape(shape)
    # WQLinear_GEMM.from_linear: intweight = round((w + zeros * scales) / scales) with fp16 scales
    s_in = scales.t().contiguous().half()  # [in/g, out]
    z_in = zeros.t().contiguous()
    g = torch.arange(shape[1]) // group_size
    codes = torch.round((wq.t() + (z_in * s_in)[g]) / s_in[g]).to(torch.int32)  # [in, out]
    return codes, s_in, z_in.to(torch.int32)


def make_fake_awq(float_dir: Path, out: Path, group_size: int = 128) -> Path:
    import torch
    from safetensors.torch import load_file, save_file

    from olive_lab.steps.awq_onnx import pack_awq

    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    state = {}
    for f in sorted(float_dir.glob("*.safetensors")):
        state.update(load_file(str(f)))
    result = {}
    for name, t in state.items():
        base = name[: -len(".weight")] if name.endswith(".weight") else None
        if base and base.endswith(AWQ_MODULES):
            codes, scales, zeros = pseudo_quantize(t.to(torch.float16), group_size)
            result[base + ".qweight"] = pack_awq(codes.to(torch.uint8))
            result[base + ".qzeros"] = pack_awq(zeros.to(torch.uint8))
            result[base + ".scales"] = scales
        else:
            result[name] = t.to(torch.float16) if t.is_floating_point() else t
    save_file(result, str(out / "model.safetensors"), metadata={"format": "pt"})
    cfg = json.loads((float_dir / "config.json").read_text())
    cfg["quantization_config"] = {"quant_method": "awq", "bits": 4, "group_size": group_size, "zero_point": True,
                                  "version": "gemm", "modules_to_not_convert": ["lm_head"]}
    cfg["torch_dtype"] = "float16"
    (out / "config.json").write_text(json.dumps(cfg, indent=2))
    for item in float_dir.iterdir():
        if item.is_file() and item.suffix != ".safetensors" and item.name != "config.json":
            shutil.copy2(item, out / item.name)
    return out
