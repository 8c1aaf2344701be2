"""Our AWQ quantizer against AutoAWQ's, on the CPU: the codes, zero points and scales must be identical.

    PYTHONPATH=<awq-tf4 overlay> python bench/awq_equivalence.py MODEL_DIR CALIB_DIR

`steps/awq_gpu.GpuResidentQuantizer` keeps AutoAWQ's data on the GPU; its arithmetic must stay AutoAWQ's. Both
quantize the same float32 model with the same calibration folder (`python -m olive_lab.steps.awq --dry-run` writes
one) and every qweight/qzeros/scales tensor is compared. On a CUDA machine AutoAWQ's `.cpu()` weight snapshots are
copies; on the CPU `.cpu()` returns the tensor itself, so its snapshot would alias the weights it scales in place -
the reference run here makes `.cpu()` copy, as on the GPU. 2026-12-01 on the 2-core VM, tiny Phi-3 (2 layers,
hidden 128): all 24 tensors equal; again on 2026-12-02 with the matmul clip search and whole-tensor packing.
"""

import sys
import time

import torch
from awq import AutoAWQForCausalLM
from awq.quantize.quantizer import AwqQuantizer
from transformers import AutoTokenizer

from olive_lab.steps import awq_gpu

_cpu = torch.Tensor.cpu


def copying_cpu(self, *args, **kwargs):
    """`.cpu()` with the GPU's semantics (a copy), for AutoAWQ's reference run on a CPU-only machine."""
    out = _cpu(self, *args, **kwargs)
    return out.clone() if self.device.type == "cpu" else out


def quantized_tensors(model_dir: str, calib_dir: str, quantizer_cls) -> dict:
    model = AutoAWQForCausalLM.from_pretrained(model_dir, safetensors=True, torch_dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    t = time.time()
    model.quantize(tokenizer, quant_config={"zero_point": True, "q_group_size": 128, "w_bit": 4, "version": "GEMM",
                                            "modules_to_not_convert": ["lm_head"]},
                   calib_data=calib_dir, split="train", text_column="text", quantizer_cls=quantizer_cls,
                   max_calib_seq_len=128)
    print(f"{quantizer_cls.__name__}: quantize {time.time() - t:.1f} s", flush=True)
    return {k: v.clone() for k, v in model.model.state_dict().items() if k.endswith(("qweight", "qzeros", "scales"))}


def main() -> int:
    model_dir, calib_dir = sys.argv[1], sys.argv[2]
    torch.Tensor.cpu = copying_cpu
    reference = quantized_tensors(model_dir, calib_dir, AwqQuantizer)
    torch.Tensor.cpu = _cpu
    ours = quantized_tensors(model_dir, calib_dir, awq_gpu.GpuResidentQuantizer)
    differ = [k for k in reference if not torch.equal(reference[k], ours[k])]
    print(f"{len(reference) - len(differ)}/{len(reference)} tensors identical")
    for k in differ:  # how far apart: packed 4-bit codes compared nibble by nibble, scales relatively
        a, b = reference[k].cpu(), ours[k].cpu()
        if k.endswith("scales"):
            rel = ((a.float() - b.float()).abs() / a.float().abs().clamp(min=1e-8))
            print(f"  {k}: scales equal {100 * (a == b).float().mean():.2f} %, relative difference mean "
                  f"{rel.mean():.2e} max {rel.max():.2e}")
        else:
            same = torch.stack([((a >> (4 * i)) & 15) == ((b >> (4 * i)) & 15) for i in range(8)]).float().mean()
            print(f"  {k}: 4-bit codes equal {100 * same:.3f} %")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
