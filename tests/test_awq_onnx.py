"""The faithful flow's last link: AWQ packing, dequantization, the MatMulNBits layout, and (slow) the whole step on a
fake AWQ checkpoint made with AutoAWQ's own arithmetic (tests/awq_fixtures.py): the int4 codes, scales and zero
points in the ONNX model must be exactly AWQ's, and the adapter must be there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from olive_lab.steps import awq_onnx  # noqa: E402

FIXTURE = Path(__file__).parent / "fixtures" / "olive_autoopt_dryrun_config.json"


def test_pack_unpack_round_trip_and_awq_order():
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(0, 16, (6, 32), generator=g, dtype=torch.uint8)
    packed = awq_onnx.pack_awq(codes)
    assert packed.dtype == torch.int32 and packed.shape == (6, 4)
    assert torch.equal(awq_onnx.unpack_awq(packed), codes)
    # nibble i holds column 8c + (0 2 4 6 1 3 5 7)[i] (WQLinear_GEMM.from_linear)
    one = torch.zeros((1, 8), dtype=torch.uint8)
    one[0, 2] = 5
    assert int(awq_onnx.pack_awq(one)[0, 0]) == 5 << 4


def test_dequantize_is_q_minus_z_times_s_per_group():
    g = torch.Generator().manual_seed(1)
    k, n, group = 256, 16, 128
    q = torch.randint(0, 16, (k, n), generator=g, dtype=torch.uint8)
    z = torch.randint(0, 16, (k // group, n), generator=g, dtype=torch.uint8)
    s = (torch.rand((k // group, n), generator=g) / 10).half()
    w = awq_onnx.dequantize(awq_onnx.pack_awq(q), awq_onnx.pack_awq(z), s, group)
    assert w.shape == (n, k)
    want = (q.float() - z.float().repeat_interleave(group, 0)) * s.float().repeat_interleave(group, 0)
    assert torch.equal(w, want.t())


@pytest.mark.parametrize("blocks", [2, 3])
def test_ort_layout_round_trips_through_the_matmulnbits_decoding(blocks):
    g = torch.Generator().manual_seed(2)
    k, n, group = 128 * blocks, 24, 128
    codes = torch.randint(0, 16, (k, n), generator=g, dtype=torch.uint8)
    zeros = torch.randint(0, 16, (blocks, n), generator=g, dtype=torch.uint8)
    scales = torch.rand((blocks, n), generator=g).half().float()
    b, s, zp = awq_onnx.ort_layout(codes, zeros, scales, slice(8, 20))
    assert b.shape == (12, blocks, 64) and s.shape == (12, blocks) and zp.shape == (12, (blocks + 1) // 2)
    got_codes, got_zeros = awq_onnx.decode_ort(b, zp, blocks)
    assert (got_codes == codes[:, 8:20].t().numpy()).all()
    assert (got_zeros == zeros[:, 8:20].t().numpy()).all()
    assert (s == scales[:, 8:20].t().numpy()).all()


def test_nibbles_differing_counts_each_half_byte():
    import numpy as np

    a = np.array([0x00, 0x11, 0xF0], dtype=np.uint8)
    b = np.array([0x01, 0x11, 0x0F], dtype=np.uint8)
    assert awq_onnx.nibbles_differing(a, b) == 3


def test_node_names_map_to_awq_rows():
    t = awq_onnx.node_target("/model/layers.3/attn/k_proj/MatMul_Q4", 3072, 1024, 8192)
    assert t.awq_module == "model.layers.3.self_attn.qkv_proj" and t.rows == slice(3072, 4096)
    t = awq_onnx.node_target("/model/layers.0/mlp/up_proj/MatMul_Q4", 3072, 3072, 8192)
    assert t.awq_module == "model.layers.0.mlp.gate_up_proj" and t.rows == slice(8192, 16384)
    assert awq_onnx.node_target("/model/layers.0/attn/q_proj/lora_A/MatMul_Q4", 1, 1, 1) is None
    assert awq_onnx.node_target("/lm_head/MatMul_Q4", 1, 1, 1) is None


def test_build_config_patch_uses_awq_layout():
    dry = json.loads(FIXTURE.read_text(encoding="utf-8"))
    cfg = awq_onnx.patch_build_config(dry, output_dir="/o", group_size=128)
    mb = cfg["passes"]["model_builder"]
    assert mb["int4_block_size"] == 128 and mb["int4_is_symmetric"] is False
    assert mb["int4_nodes_to_exclude"] == ["/lm_head/MatMul"] and mb["precision"] == "int4"
    assert cfg["output_dir"] == "/o" and "extract_adapters" in cfg["passes"]
    assert "int4_block_size" not in dry["passes"]["model_builder"]  # pure
    del dry["passes"]["extract_adapters"]
    with pytest.raises(ValueError):
        awq_onnx.patch_build_config(dry, output_dir="/o", group_size=128)


def test_float_config_drops_quantization_and_keeps_longrope_for_both_transformers():
    cfg = {"quantization_config": {"quant_method": "awq"}, "rope_parameters": {
        "rope_type": "longrope", "short_factor": [1.0], "long_factor": [2.0], "rope_theta": 1e4}}
    out = awq_onnx.float_config(cfg, "float16")
    assert "quantization_config" not in out and out["torch_dtype"] == out["dtype"] == "float16"
    assert out["rope_scaling"]["type"] == "longrope" and out["rope_parameters"]["rope_type"] == "longrope"


@pytest.mark.slow
def test_whole_step_on_a_fake_awq_checkpoint(tmp_path):
    """tiny model -> fake AWQ (AutoAWQ arithmetic) + a random LoRA -> the step -> exact AWQ weights + adapter."""
    pytest.importorskip("olive")
    pytest.importorskip("onnxruntime_genai")
    from awq_fixtures import make_fake_awq
    from hubstub import write_travel_jsonl
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    data = write_travel_jsonl(tmp_path / "travel.jsonl")
    tiny = tmp_path / "tiny"
    proc = subprocess.run([sys.executable, "-m", "olive_lab.steps.tiny_model", "--out", str(tiny), "--data", str(data),
                           "--longrope"], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    fake = make_fake_awq(tiny, tmp_path / "awq")
    model = AutoModelForCausalLM.from_pretrained(tiny)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["qkv_proj", "o_proj"]))
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.normal_(0, 0.02)
    peft_model.save_pretrained(tmp_path / "adapter")
    out = tmp_path / "onnx"
    env = {**os.environ, "TF_BUILD": "1", "HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / ".hf")}
    proc = subprocess.run([sys.executable, "-m", "olive_lab.steps.awq_onnx", "--awq", str(fake), "--adapter",
                           str(tmp_path / "adapter"), "--output", str(out)], capture_output=True, text=True,
                          timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "[olive-lab] result awq-onnx: 14 int4 projections; codes identical 100.0000%" in proc.stdout
    report = json.loads((out / awq_onnx.REPORT_FILE).read_text())
    final = report["final_vs_awq"]
    assert final["codes_equal"] == final["codes_total"] and final["scales_equal"] == final["scales_total"]
    built = report["built_vs_awq"]  # written in the build, not re-quantized by the builder and restored after
    assert built["codes_equal"] == built["codes_total"] and built["zeros_equal"] == built["scales_total"]
    assert "[olive-lab] note builder: 14 projections written from the AWQ codes" in proc.stdout
    assert "restoring AWQ weights" not in proc.stdout
    assert (out / "adapter_weights.onnx_adapter").is_file() and not (tmp_path / "onnx.work").exists()

    from olive_lab.steps.chat import ChatSession

    session = ChatSession.open(out)
    assert session.has_adapter
    off = session.reply("Lisbon?", use_adapter=False, max_new_tokens=8)
    on = session.reply("Lisbon?", use_adapter=True, max_new_tokens=8)
    assert isinstance(off, str) and isinstance(on, str)


def test_lora_matmuls_stay_float_in_the_build_config():
    dry = json.loads(FIXTURE.read_text(encoding="utf-8"))
    cfg = awq_onnx.patch_build_config(dry, output_dir="/o", group_size=128, float_lora_layers=2)
    exclude = cfg["passes"]["model_builder"]["int4_nodes_to_exclude"]
    assert exclude[0] == "/lm_head/MatMul"
    assert "/model/layers.1/mlp/down_proj/lora_B/MatMul" in exclude and "/model/layers.0/attn/q_proj/lora_A/MatMul" in exclude
    assert not any("/lora_" not in n for n in exclude[1:])  # base projections are still int4
    assert not any(n.startswith("/model/layers.2/") for n in exclude)


def test_awq_matmuls_written_into_a_graph_compute_the_dequantized_product():
    """A float MatMul named like the builder's becomes a MatMulNBits of AWQ's codes, and onnxruntime's kernel
    gives x @ W_awq for it (W_awq = (q - z) * s): the layout and the node are right, not only the bytes."""
    np = pytest.importorskip("numpy")
    ir = pytest.importorskip("onnx_ir")
    ort = pytest.importorskip("onnxruntime")
    import onnx

    g = torch.Generator().manual_seed(3)
    k, n, group = 256, 32, 128
    codes = torch.randint(0, 16, (k, n), generator=g, dtype=torch.uint8)
    zeros = torch.randint(0, 16, (k // group, n), generator=g, dtype=torch.uint8)
    scales = (torch.rand((k // group, n), generator=g) / 10 + 0.01).half()
    w_awq = awq_onnx.dequantize(awq_onnx.pack_awq(codes), awq_onnx.pack_awq(zeros), scales, group)  # [N, K]

    x = ir.Value(name="x", type=ir.TensorType(ir.DataType.FLOAT), shape=ir.Shape([1, k]))
    w = ir.Value(name="w", const_value=ir.tensor(np.ones((k, n), dtype=np.float32)))  # replaced, never used
    w.dtype, w.shape = ir.DataType.FLOAT, ir.Shape([k, n])
    node = ir.node("MatMul", inputs=[x, w], name="/model/layers.0/attn/o_proj/MatMul")
    node.outputs[0].name, node.outputs[0].dtype, node.outputs[0].shape = "mm", ir.DataType.FLOAT, ir.Shape([1, n])
    out = ir.node("Identity", inputs=[node.outputs[0]], name="out")  # a projection feeds other nodes, as in the builder
    out.outputs[0].name, out.outputs[0].dtype, out.outputs[0].shape = "y", ir.DataType.FLOAT, ir.Shape([1, n])
    graph = ir.Graph([x], [out.outputs[0]], nodes=[node, out], initializers=[w], name="g",
                     opset_imports={"": 17, "com.microsoft": 1})
    model = ir.Model(graph, ir_version=9)
    layers = {"model.layers.0.self_attn.o_proj": (codes, zeros, scales.float())}
    # accuracy level 0: float compute (level 4, the CPU's default, rounds x to int8 and blurs a layout check)
    replaced, left = awq_onnx.write_awq_matmuls(model, layers, (n, n, n), group, 0, set(), np.float32)
    assert (replaced, left) == (1, [])
    (op,) = [nd for nd in model.graph if nd.domain == "com.microsoft"]
    assert op.op_type == "MatMulNBits" and "w" not in model.graph.initializers
    session = ort.InferenceSession(ir.to_proto(model).SerializeToString(), providers=["CPUExecutionProvider"])
    xs = np.random.default_rng(4).random((1, k), dtype=np.float32)
    got = session.run(None, {"x": xs})[0]
    want = xs @ w_awq.t().numpy()
    assert np.abs(got - want).max() <= 1e-4 * np.abs(want).max()
    assert onnx.checker.check_model(ir.to_proto(model)) is None
