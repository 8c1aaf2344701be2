"""Run under the awq-tf4 overlay (tests/test_awq_gpu.py): our quantizer's pieces against AutoAWQ 0.2.9's, on the CPU.

    python tests/awq_overlay_checks.py packing|clip|clip-fp16     prints one JSON object

Both sides get the same tensors; AutoAWQ's methods are called on a bare quantizer object (its `__init__` would
calibrate a whole model), which is all `pseudo_quantize_tensor`, `_apply_quant` and `_compute_best_clip` read.
"""

import copy
import json
import sys

import torch
from awq.quantize.quantizer import AwqQuantizer

from olive_lab.steps.awq_gpu import GpuResidentQuantizer

GROUP = 128


def bare(cls):
    q = cls.__new__(cls)
    q.group_size, q.zero_point, q.w_bit, q.version = GROUP, True, 4, "gemm"
    return q


def layer(seed: int) -> torch.nn.Module:
    """Two linears shaped like a transformer block's (in a multiple of the group, out of 8), one with a bias, and
    a few outlier weights."""
    torch.manual_seed(seed)
    m = torch.nn.Module()
    m.up, m.down = torch.nn.Linear(256, 384, bias=True), torch.nn.Linear(384, 256, bias=False)
    with torch.no_grad():
        m.down.weight[3, :7] *= 40
    return m


def packing() -> dict:
    """`_apply_quant` (pseudo-quantize + pack into WQLinear_GEMM) by AutoAWQ and by us: every buffer identical."""
    results = {}
    for seed in range(3):
        ref, ours = layer(seed), None
        ours = copy.deepcopy(ref)
        bare(AwqQuantizer)._apply_quant(ref, {"up": ref.up, "down": ref.down})
        bare(GpuResidentQuantizer)._apply_quant(ours, {"up": ours.up, "down": ours.down})
        a, b = ref.state_dict(), ours.state_dict()
        results[seed] = {"keys": sorted(a) == sorted(b), "type": type(ours.up).__name__,
                         "equal": {k: bool(torch.equal(a[k], b[k])) for k in a}}
    return results


def clip(dtype=torch.float32) -> dict:
    """The clip search by AutoAWQ (elementwise products in `dtype`) and by us (float32 matmul): the maxima each
    picks, and the output error each pick leaves (float64, per row and group)."""
    torch.manual_seed(0)
    rows, cols, tokens = 512, 384, 2048
    w = torch.randn(rows, cols) * 0.05
    w[7, :5] *= 30
    x = torch.randn(tokens, cols) * torch.linspace(0.2, 3.0, cols)
    w, x = w.to(dtype), x.to(dtype)
    ref = bare(AwqQuantizer)._compute_best_clip(w, x)
    ours = bare(GpuResidentQuantizer)._compute_best_clip(w, x)
    xs = x[:: max(1, tokens // 512)].double().view(-1, cols // GROUP, GROUP)  # the tokens both searched

    def error(max_val):
        q = bare(AwqQuantizer).pseudo_quantize_tensor(torch.clamp(w.view(rows, -1, GROUP), -max_val, max_val))[0]
        wg = w.view(rows, -1, GROUP).double()
        return torch.einsum("tgk,rgk->rgt", xs, q.double() - wg).pow(2).mean(-1)  # [rows, groups]

    e_ref, e_ours = error(ref), error(ours)
    return {"shape_equal": list(ref.shape) == list(ours.shape), "dtype_equal": ref.dtype == ours.dtype,
            "picks_equal": float((ref == ours).float().mean()),
            "ours_worse_by_max": float(((e_ours - e_ref) / e_ref.clamp(min=1e-12)).max()),
            "total_error_ratio": float(e_ours.sum() / e_ref.sum())}


if __name__ == "__main__":
    checks = {"packing": packing, "clip": clip, "clip-fp16": lambda: clip(torch.float16)}
    print(json.dumps(checks[sys.argv[1]]()))
