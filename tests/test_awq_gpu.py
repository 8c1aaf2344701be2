"""The gpu profile's AWQ quantizer (steps/awq_gpu.py) against AutoAWQ 0.2.9 itself, on the CPU.

The quantizer runs under the awq-tf4 overlay (transformers 4.51.3 + AutoAWQ), so these tests make that overlay for
real, once per test run, from its hashed lock (`envs.create`, what `olive-lab setup --profile gpu` runs), in a
temporary folder, and run `tests/awq_overlay_checks.py` under it. The GPU-only parts (the whole model on CUDA, its
time) are measured by bench/gpu_lab.py and bench/awq_quality.py on the GPU machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from olive_lab.steps import envs

CHECKS = Path(__file__).with_name("awq_overlay_checks.py")


@pytest.fixture(scope="session")
def awq_overlay(tmp_path_factory) -> dict[str, str]:
    """The environment that runs a command under a freshly made awq-tf4 overlay."""
    root = tmp_path_factory.mktemp("envs")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv(envs.ENVS_VAR, str(root))
        lines: list[str] = []
        status = envs.create("awq-tf4", log=lines.append)
        assert status.ready, "\n".join(lines[-20:])
        return envs.environ("awq-tf4", dict(os.environ))


def run_check(name: str, env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-W", "ignore", str(CHECKS), name], env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_packing_gives_autoawqs_int4_codes_bit_for_bit(awq_overlay):
    """Our whole-tensor `_apply_quant` writes the same WQLinear_GEMM buffers as AutoAWQ's per-column loops."""
    for seed, result in run_check("packing", awq_overlay).items():
        assert result["keys"] and result["type"] == "WQLinear_GEMM", seed
        assert all(result["equal"].values()), (seed, result["equal"])


def test_clip_search_in_float32_picks_what_autoawq_picks(awq_overlay):
    result = run_check("clip", awq_overlay)
    assert result["shape_equal"] and result["dtype_equal"]
    assert result["picks_equal"] == 1.0


def test_clip_search_in_float16_never_leaves_a_larger_error(awq_overlay):
    """On fp16 weights (the GPU's case) AutoAWQ sums fp16 products and we sum in float32: a near-tie may pick the
    neighbouring grid point, and that pick's true (float64) error is never larger than AutoAWQ's."""
    result = run_check("clip-fp16", awq_overlay)
    assert result["picks_equal"] >= 0.99
    assert result["ours_worse_by_max"] <= 1e-6
    assert result["total_error_ratio"] <= 1.0 + 1e-6
