"""AutoAWQ 0.2.9 run from our own step, with its data kept on the GPU (imported only under the awq-tf4 overlay).

Why not Olive's pass: it exposes none of AutoAWQ's knobs, and AutoAWQ's quantizer is CPU-bound by design
(findings-2026-12 §1, `awq/quantize/quantizer.py`): every linear's input is cached with `.cpu()`, the activation
means are summed on the CPU (`inp.cpu().abs()` in `max_chunk_memory` chunks), the scale search snapshots the
weights to the CPU and reloads them once per grid point (20 per group), and the clip search moves each linear back
to the CPU. `GpuResidentQuantizer` does the same arithmetic with those tensors left on the GPU (a 3.8 B model's
layer needs ~1 GB more there); everything else - data, grid, clip, packing, output - is AutoAWQ's.
"""

from __future__ import annotations

import functools
from collections import defaultdict

import torch
from awq.quantize.quantizer import AwqQuantizer
from awq.utils.module import get_op_name

#: model types whose input features AutoAWQ gathers from whole MoE blocks: left to AutoAWQ's own code.
MOE_TYPES = ("mixtral", "deepseek_v2", "deepseek_v3", "qwen3_moe")


class GpuResidentQuantizer(AwqQuantizer):
    """AutoAWQ's quantizer with layer inputs, activation statistics and weight snapshots on the layer's device."""

    n_grid = 20  # AutoAWQ's scale-search grid (hard-coded there)

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


def quantize(model_dir: str, calib_dir: str, out_dir: str, *, group_size: int, zero_point: bool = True,
             apply_clip: bool = True, max_calib_samples: int = 128, max_calib_seq_len: int = 512,
             n_grid: int = 20, gpu_resident: bool = True, modules_to_not_convert=("lm_head",)) -> dict:
    """Load, quantize and save like Olive's AutoAWQQuantizer (fp16 load, GEMM int4, `save_quantized`, tokenizer
    files); returns seconds per phase."""
    import time

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
    if gpu_resident:
        cls = type("GpuResidentQuantizerN", (GpuResidentQuantizer,), {"n_grid": int(n_grid)})
    t0 = time.monotonic()
    model.quantize(tokenizer, quant_config={"zero_point": zero_point, "q_group_size": group_size, "w_bit": 4,
                                            "version": "GEMM", "modules_to_not_convert": list(modules_to_not_convert)},
                   calib_data=calib_dir, split="train", text_column="text", apply_clip=apply_clip,
                   max_calib_samples=max_calib_samples, max_calib_seq_len=max_calib_seq_len, quantizer_cls=cls)
    t["quantize_s"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    model.save_quantized(out_dir)
    tokenizer.save_pretrained(out_dir)
    t["save_s"] = round(time.monotonic() - t0, 1)
    t["gpu_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    return t
