"""The two ways to run the lab: `gpu` (the lab as written, on an NVIDIA GPU) and `cpu` (a tiny model, anywhere).

A profile is data only: which base model, which quantizer, how to fine-tune, what it costs. The steps read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The lab's text template: the Phi-3 chat format around the dataset's two fields.
LAB_TEXT_TEMPLATE = "<|user|>\n{prompt}<|end|>\n<|assistant|>\n{response}<|end|>"

TINY_MODEL = "tiny"


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    base_model: str
    quantize_algorithm: str
    quantized_dir: str
    finetune_on_quantized: bool
    finetune_args: tuple[str, ...]
    optimize_precision: str = "int4"
    disk_gb: float = 1.0
    ram_gb: float = 4.0
    needs_gpu: bool = False
    expected_s: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    #: quantize/finetune/optimize are planned by steps/flows.py (faithful, hybrid or fallback GPU flow).
    gpu_flows: bool = False


CPU = Profile(
    name="cpu",
    summary="A tiny Phi-3-architecture model built on this machine; every step runs on the CPU in about a minute.",
    base_model=TINY_MODEL,
    quantize_algorithm="rtn",
    quantized_dir="models/phi/rtn",
    finetune_on_quantized=False,
    # float32 on CPU: bf16 works too but is no faster here and hides nothing worth teaching.
    # Short sequences and a high learning rate: a few dozen steps show a falling loss within seconds.
    finetune_args=("--torch_dtype", "float32", "--max_steps", "40", "--logging_steps", "5", "--max_seq_len", "256",
                   "--per_device_train_batch_size", "8", "--learning_rate", "0.003"),
    disk_gb=0.2,
    ram_gb=3.0,
    expected_s={"model": 5, "quantize": 10, "finetune": 30, "optimize": 10},
    notes={
        "quantize": "On the CPU profile, RTN int4 stands in for AWQ (AWQ needs a CUDA GPU). It shows the size win.",
        "finetune": "RTN output cannot be LoRA-trained (peft has no QuantLinear support), so the adapter is "
                    "trained on the float base model; the optimize step quantizes to int4 instead.",
    },
)

GPU = Profile(
    name="gpu",
    summary="The lab as written: Phi-3.5-mini-instruct, AWQ, LoRA, int4 ONNX with the adapter, on an NVIDIA GPU.",
    base_model="microsoft/Phi-3.5-mini-instruct",
    quantize_algorithm="awq",
    quantized_dir="models/phi/awq",
    # The faithful flow trains on the AWQ model; steps/flows.py falls back to the float model when the awq-tf4
    # environment (transformers 4.51.3 + AutoAWQ + peft 0.17.1, made by `olive-lab setup`) is missing.
    finetune_on_quantized=True,
    finetune_args=("--max_steps", "100", "--logging_steps", "5"),
    disk_gb=40.0,
    ram_gb=40.0,
    needs_gpu=True,
    expected_s={"model": 300, "quantize": 480, "finetune": 180, "optimize": 200},
    notes={
        "finetune": "The adapter is trained on the AWQ model under the awq-tf4 environment (transformers 5 "
                    "cannot load AutoAWQ checkpoints without gptqmodel) - see shared/docs/gpu-pipeline.md.",
    },
    gpu_flows=True,
)

PROFILES = {p.name: p for p in (CPU, GPU)}
