"""AutoAWQ 0.2.9 run from our own step, with its data kept on the GPU (imported only under the awq-tf4 overlay).

Why not Olive's pass: it exposes none of AutoAWQ's knobs, and AutoAWQ's quantizer is CPU-bound by design
(findings-2026-12 §1, `awq/quantize/quantizer.py`): every linear's input is cached with `.cpu()`, the activation
means are summed on the CPU (`inp.cpu().abs()` in `max_chunk_memory` chunks), the scale search snapshots the
weights to the CPU and reloads them once per grid point (20 per group), and the clip search moves each linear back
to the CPU. `GpuResidentQuantizer` does the same arithmetic with those tensors left on the GPU (a 3.8 B model's
layer needs ~1 GB more there), and replaces two loops that launch a GPU kernel per tiny slice:
- the clip search (AutoAWQ: an elementwise [256 rows, 512 tokens, groups, 128] product per row batch and shrink
  step, ~1,400 per Phi-3.5 layer) becomes one batched matmul per shrink step over all rows, summed in float32;
- the int4 packing (`WQLinear_GEMM.from_linear`: a Python loop over every input column, then over every packed
  output column, ~50,000 kernel launches per layer) becomes whole-tensor operations with bit-identical codes.
Everything else - data, scale grid, output format - is AutoAWQ's. Each phase's GPU seconds are summed per layer
(`PhaseClock`) so a run's log says where its time went.
"""

from __future__ import annotations

import functools
import time
from collections import defaultdict

import torch
from awq.modules.linear.gemm import WQLinear_GEMM
from awq.quantize.quantizer import AwqQuantizer
from awq.utils.module import get_op_name, set_op_by_name
from awq.utils.utils import get_best_device

from .awq_onnx import pack_awq

#: model types whose input features AutoAWQ gathers from whole MoE blocks: left to AutoAWQ's own code.
MOE_TYPES = ("mixtral", "deepseek_v2", "deepseek_v3", "qwen3_moe")
#: float32 elements of one clip-search product (rows are searched in chunks below this: ~1 GiB).
CLIP_CHUNK_ELEMENTS = 2**28


def gemm_linear(linear: torch.nn.Linear, group_size: int, scales: torch.Tensor, zeros: torch.Tensor) -> WQLinear_GEMM:
    """`WQLinear_GEMM.from_linear(linear, 4, group_size, scales=scales, zeros=zeros)` with the same fp16 arithmetic
    per element (so the same codes), done on whole tensors. `scales`/`zeros` are [groups, out], as AutoAWQ passes."""
    q = WQLinear_GEMM.from_linear(linear, 4, group_size, init_only=True)
    q.scales = scales.clone().half()
    if linear.bias is not None:
        q.bias = linear.bias.clone().half()
    per_input = functools.partial(torch.repeat_interleave, repeats=group_size, dim=0)  # [groups, out] -> [in, out]
    codes = torch.round((linear.weight.data.t() + per_input(zeros * scales)) / per_input(q.scales))
    q.qweight = pack_awq(codes.to(torch.int32))
    q.qzeros = pack_awq(zeros.to(torch.int32))
    return q


class PhaseClock:
    """Seconds per quantizer phase, summed over layers (synchronized with the GPU, so each phase owns its work)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)

    def timed(self, phase: str, fn):
        @functools.wraps(fn)
        def run(*args, **kwargs):
            t0 = time.monotonic()
            try:
                return fn(*args, **kwargs)
            finally:
                if torch.cuda.is_available():
                    torch.cuda.synchronize()
                self.seconds[phase] += time.monotonic() - t0
        return run

    def summary(self) -> dict[str, float]:
        return {f"{phase}_s": round(s, 1) for phase, s in self.seconds.items()}


class GpuResidentQuantizer(AwqQuantizer):
    """AutoAWQ's quantizer with layer inputs, activation statistics and weight snapshots on the layer's device."""

    n_grid = 20  # AutoAWQ's scale-search grid (hard-coded there)
    clock: PhaseClock | None = None  # set by `quantize` to time the phases

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.clock is not None:
            for phase, name in (("inputs", "_get_input_feat"), ("scale_search", "_search_best_scale"),
                                ("clip_search", "_search_best_clip"), ("pack", "_apply_quant")):
                setattr(self, name, self.clock.timed(phase, getattr(self, name)))

    def _get_input_feat(self, layer, named_linears):
        if self.awq_model.model_type in MOE_TYPES:
            return super()._get_input_feat(layer, named_linears)
        feats = defaultdict(list)

        def keep(m, x, y, name):
            feats[name].append(x[0].detach())

        handles = [lin.register_forward_hook(functools.partial(keep, name=name)) for name, lin in named_linears.items()]
        self.inps = self.inps.to(next(layer.parameters()).device)
        self.inps = self._module_forward(self.inps, layer, self._sanitize_kwargs(self.module_kwargs, layer))
        for h in handles:
            h.remove()
        return {k: torch.cat(v, dim=0) for k, v in feats.items()}

    @torch.no_grad()
    def _search_best_scale(self, module, prev_op, layers, inp, module2inspect=None, kwargs={}):  # noqa: B006 - AutoAWQ's signature
        if module2inspect is None:
            assert len(layers) == 1
            module2inspect = layers[0]
        kwargs = {k: v for k, v in kwargs.items() if k != "use_cache"}
        inp = inp.to(next(module2inspect.parameters()).device)
        weight = torch.cat([m.weight for m in layers], dim=0)
        groups = weight.view(-1, self.group_size).abs()
        w_mean = (groups / (groups.amax(dim=1, keepdim=True) + 1e-6)).view(weight.shape).mean(0)
        del weight, groups
        flat = inp.abs().view(-1, inp.shape[-1])
        x_mean = (flat.float().sum(dim=0) / flat.shape[0]).to(inp.dtype)  # AutoAWQ's formula (fp32 sum / n)
        module_kwargs = self._sanitize_kwargs(kwargs, module2inspect)
        fp16_output = self._module_forward(inp, module2inspect, module_kwargs)
        fp16_output = fp16_output.clip(torch.finfo(fp16_output.dtype).min, torch.finfo(fp16_output.dtype).max)
        best = self._compute_best_scale(inp, w_mean, x_mean, module2inspect, layers, fp16_output, module_kwargs)
        return get_op_name(module, prev_op), tuple(get_op_name(module, m) for m in layers), best

    def _compute_best_scale(self, x, w_mean, x_mean, module2inspect, linears2scale, fp16_output, kwargs={}):  # noqa: B006
        """AutoAWQ's grid search, with the weight snapshot kept on the device (a clone, not `.cpu()`)."""
        best_error, best_scales = float("inf"), None
        org_sd = {k: v.clone() for k, v in module2inspect.state_dict().items()}
        x_mean, w_mean = x_mean.view(-1).to(x.device), w_mean.view(-1).to(x.device)
        for step in range(self.n_grid):
            ratio = step / self.n_grid
            if self.duo_scaling:
                scales = (x_mean.pow(ratio) / (w_mean.pow(1 - ratio) + 1e-4)).clamp(min=1e-4)
            else:
                scales = x_mean.pow(ratio).clamp(min=1e-4).view(-1)
            scales = scales / (scales.max() * scales.min()).sqrt()
            scales[torch.isinf(scales)] = 1
            scales[torch.isnan(scales)] = 1
            view = scales.view(1, -1)
            for fc in linears2scale:
                fc.weight.mul_(view)
                fc.weight.data = self.pseudo_quantize_tensor(fc.weight.data)[0] / view
            out = self._module_forward(x, module2inspect, kwargs)
            out = out.clip(torch.finfo(out.dtype).min, torch.finfo(out.dtype).max)
            loss = (fp16_output - out).float().pow(2).sum().item() / out.numel()  # AutoAWQ's `_compute_loss`
            if loss < best_error:
                best_error, best_scales = loss, scales.clone()
            module2inspect.load_state_dict(org_sd)
        if best_scales is None:
            raise RuntimeError("AWQ scale search found no finite loss")
        return best_scales.detach().cpu()

    @torch.no_grad()
    def _search_best_clip(self, layer, named_linears, input_feat):
        """AutoAWQ's clip search, each linear on its input's device and left there (AutoAWQ moves it back to the
        CPU). The move is needed: `apply_scale` has just put the linears on the CPU, and `_compute_best_clip`
        follows the weight's device - without it the search ran on the CPU at 171 s per Phi-3.5 layer."""
        avoid = ["q_", "k_", "query", "key", "Wqkv"]
        clips = []
        for name, lin in named_linears.items():
            if any(a in name for a in avoid):
                continue
            lin.to(input_feat[name].device)
            clips.append((name, self._compute_best_clip(lin.weight, input_feat[name])))
        return clips

    @torch.no_grad()
    def _compute_best_clip(self, w, input_feat, n_grid=20, max_shrink=0.5, n_sample_token=512):
        """AutoAWQ's clip search (same tokens, shrink grid and fp16 pseudo-quantization; returns [rows, groups, 1]
        maxima), with each group's partial products as one float32 matmul per shrink step instead of fp16
        elementwise products per 256 rows. Float32 sums: a near-tie may pick the neighbouring grid point."""
        rows, cols = w.shape
        group = self.group_size if self.group_size > 0 else cols
        x = input_feat.reshape(-1, cols)
        x = x[:: max(1, x.shape[0] // n_sample_token)]  # AutoAWQ's token subsample
        x = x.view(x.shape[0], -1, group).transpose(0, 1).float()  # [groups, tokens, group]
        chunk = max(1, CLIP_CHUNK_ELEMENTS // (x.shape[0] * x.shape[1]))
        best_all = []
        for w_rows in w.view(rows, -1, group).split(chunk):  # [chunk, groups, group]
            org_max = w_rows.abs().amax(dim=-1, keepdim=True)
            org_out = torch.bmm(x, w_rows.permute(1, 2, 0).float())  # [groups, tokens, chunk]
            best, min_err = org_max.clone(), torch.full(org_max.shape, float("inf"), device=w.device)
            for i_s in range(int(max_shrink * n_grid)):
                max_val = org_max * (1 - i_s / n_grid)
                q_w = self.pseudo_quantize_tensor(torch.clamp(w_rows, -max_val, max_val))[0]
                out = torch.bmm(x, q_w.permute(1, 2, 0).float())
                err = (out - org_out).pow_(2).mean(dim=1).t().unsqueeze(-1)  # [chunk, groups, 1]
                better = err < min_err
                min_err = torch.where(better, err, min_err)
                best = torch.where(better, max_val, best)
            best_all.append(best)
        return torch.cat(best_all)

    def _apply_quant(self, module, named_linears):
        """AutoAWQ's `_apply_quant` for the GEMM layout, packing with `gemm_linear`."""
        if self.version != "gemm":
            return super()._apply_quant(module, named_linears)
        for name, linear in named_linears.items():
            linear = linear.to(get_best_device()).half()
            linear.weight.data, scales, zeros = self.pseudo_quantize_tensor(linear.weight.data)
            q_linear = gemm_linear(linear, self.group_size, scales.t().contiguous(), zeros.t().contiguous())
            linear.cpu()  # as AutoAWQ: the float copy leaves the GPU
            set_op_by_name(module, name, q_linear.to(next(module.parameters()).device))


def quantize(model_dir: str, calib_dir: str, out_dir: str, *, group_size: int, zero_point: bool = True,
             apply_clip: bool = True, max_calib_samples: int = 128, max_calib_seq_len: int = 512,
             n_grid: int = 20, gpu_resident: bool = True, modules_to_not_convert=("lm_head",)) -> dict:
    """Load, quantize and save like Olive's AutoAWQQuantizer (fp16 load, GEMM int4, `save_quantized`, tokenizer
    files); returns seconds per phase."""
    from awq import AutoAWQForCausalLM
    from transformers import AutoTokenizer

    if not torch.cuda.is_available():
        raise RuntimeError("AWQ needs a CUDA GPU (torch.cuda.is_available() is False)")
    t = {}
    t0 = time.monotonic()
    model = AutoAWQForCausalLM.from_pretrained(model_dir, safetensors=True)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    t["load_s"] = round(time.monotonic() - t0, 1)
    cls = AwqQuantizer
    clock = PhaseClock()
    if gpu_resident:
        cls = type("GpuResidentQuantizerN", (GpuResidentQuantizer,), {"n_grid": int(n_grid), "clock": clock})
    t0 = time.monotonic()
    model.quantize(tokenizer, quant_config={"zero_point": zero_point, "q_group_size": group_size, "w_bit": 4,
                                            "version": "GEMM", "modules_to_not_convert": list(modules_to_not_convert)},
                   calib_data=calib_dir, split="train", text_column="text", apply_clip=apply_clip,
                   max_calib_samples=max_calib_samples, max_calib_seq_len=max_calib_seq_len, quantizer_cls=cls)
    t["quantize_s"] = round(time.monotonic() - t0, 1)
    t.update(clock.summary())
    t0 = time.monotonic()
    model.save_quantized(out_dir)
    tokenizer.save_pretrained(out_dir)
    t["save_s"] = round(time.monotonic() - t0, 1)
    t["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return t
