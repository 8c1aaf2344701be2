"""The machine check: pure assessment on made-up machines, then the real check on this (GPU-less) machine."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import types
from dataclasses import replace
from importlib import metadata

import pytest

from olive_lab.cli import EXIT_BLOCKED, EXIT_OK, main
from olive_lab.steps import check as c

MIB = 1024**2
GIB = 1024**3

PINNED = {"olive-ai": "0.13.0", "onnxruntime-genai": "0.14.1", "onnxruntime": "1.32.0", "transformers": "5.24.0",
          "peft": "0.21.2", "torch": "2.11.0+cu130", "textual": "8.2.8"}


def machine(*, gpu: c.GpuInfo | None = None, driver: str | None = "580.159.04", cuda_driver=(13, 0),
            nvml_error: str = "", torch_version: str | None = "2.11.0+cu130", torch_cuda: str | None = "13.0",
            cuda_available: bool | None = None, genai: c.GenaiProbe | None = None, packages: dict | None = None,
            free_gib: float = 200, ram_gib: float = 128, python=(3, 11, 9), azure: c.AzureProbe | None = None,
            ) -> c.ProbeData:
    """A made-up machine; by default an H100-class box with the pinned stack (hardware data only, no Olive)."""
    if gpu is None and nvml_error == "":
        nvml = c.NvmlProbe(available=True, driver_version=driver, cuda_driver=cuda_driver, gpus=[])
    elif gpu is None:
        nvml = c.NvmlProbe(available=False, error=nvml_error)
    else:
        nvml = c.NvmlProbe(available=True, driver_version=driver, cuda_driver=cuda_driver, gpus=[gpu])
    if cuda_available is None:
        cuda_available = bool(gpu is not None and torch_cuda)
    torch = c.TorchProbe(installed=torch_version is not None, version=torch_version, cuda=torch_cuda,
                         cuda_available=cuda_available, device_count=1 if cuda_available else 0, elapsed_s=1.0)
    genai = genai or c.GenaiProbe(installed=True, imported=True, version="0.14.1", ort_version="1.32.0",
                                  ort_providers=["CPUExecutionProvider"])
    return c.ProbeData(
        nvml=nvml, torch=torch, genai=genai, python_version=python,
        packages=dict(PINNED if packages is None else packages),
        disk=c.DiskProbe(path="/lab", free_bytes=int(free_gib * GIB)),
        ram=c.RamProbe(total_bytes=int(ram_gib * GIB), available_bytes=int(ram_gib * GIB * 0.9)),
        azure=azure or c.AzureProbe(config_dir="/home/u/.azure", logged_in=True, user="a@b.c",
                                    subscription_name="Lab", subscription_id="0000", az_path="/usr/bin/az",
                                    sdk_version="1.35.2"),
        source_root="/src/olive-lab",
    )


H100 = c.GpuInfo("NVIDIA H100 80GB HBM3", 81559 * MIB, (9, 0))
A100 = c.GpuInfo("NVIDIA A100 80GB PCIe", 81920 * MIB, (8, 0))
A10 = c.GpuInfo("NVIDIA A10", 23028 * MIB, (8, 6))
T4 = c.GpuInfo("Tesla T4", 15360 * MIB, (7, 5))
V100 = c.GpuInfo("Tesla V100-SXM2-16GB", 16384 * MIB, (7, 0))
RTX_A4000 = c.GpuInfo("NVIDIA RTX A4000", 16376 * MIB, (8, 6))
RTX_3060 = c.GpuInfo("NVIDIA GeForce RTX 3060", 12288 * MIB, (8, 6))
NO_NVML = "NVML Shared Library Not Found"


def by_key(findings):
    return {f.key: f for f in findings}


# ---------------------------------------------------------------------------------------------------- helpers


def test_version_helpers():
    assert c.version_tuple("2.13.0+cpu") == (2, 13, 0)
    assert c.version_tuple("0.21.0rc1") == (0, 21, 0)
    assert c.version_tuple("5.24.0") == (5, 24, 0)
    assert c.version_tuple(None) == ()
    assert c.cuda_version_from_int(13000) == (13, 0)
    assert c.cuda_version_from_int(12020) == (12, 2)
    assert c.cuda_version_from_int(11080) == (11, 8)


@pytest.mark.parametrize("text, lib", [
    ("ImportError: libcudnn.so.9: cannot open shared object file: No such file or directory", "libcudnn.so.9"),
    ("OSError: libcublasLt.so.12: cannot open shared object file: No such file or directory", "libcublasLt.so.12"),
    ("ImportError: libcudart.so.11.0: cannot open shared object file", "libcudart.so.11.0"),
    ("Failed to load library libonnxruntime_providers_cuda.so with error: libcublas.so.12: cannot open shared "
     "object file: No such file or directory", "libcublas.so.12"),
    ("ModuleNotFoundError: No module named 'onnxruntime_genai'", None),
])
def test_missing_shared_library_is_named(text, lib):
    assert c.missing_shared_library(text) == lib


# ---------------------------------------------------------------------------------------------- profile choice


def test_h100_driver_580_cuda13_picks_gpu_and_everything_ok():
    data = machine(gpu=H100, driver="580.159.04", cuda_driver=(13, 0))
    data.gpu_flow = ("faithful", "the awq-tf4 environment is ready", True)
    name, reason = c.choose_profile(data)
    assert name == "gpu"
    assert "H100" in reason and "9.0" in reason and "13.0" in reason and "gpu profile" in reason
    report = c.report_from(data)
    assert report.profile == "gpu" and report.ok and not report.profile_forced
    f = by_key(report.findings)
    assert [x.key for x in report.findings] == list(c.FINDING_KEYS)
    for key in ("gpu", "driver", "cuda", "bf16", "torch", "ortgenai", "python", "packages", "disk", "ram", "azure"):
        assert f[key].severity == "ok", (key, f[key])
        assert f[key].fix == ""
    assert "79.6 GiB" in f["gpu"].detail and "9.0" in f["gpu"].detail
    assert "580.159.04" in f["driver"].detail and "13.0" in f["driver"].detail
    assert "2.11.0+cu130" in f["cuda"].detail and "13.0" in f["cuda"].detail
    assert report.gpu is H100
    d = report.to_dict()
    assert d["gpu"]["compute_capability"] == "9.0" and d["profile"] == "gpu" and d["blocking"] == []
    json.dumps(d)  # JSON-ready


def test_a10_24gb_cuda_12_2_is_ok():
    data = machine(gpu=A10, driver="535.104.05", cuda_driver=(12, 2), torch_version="2.7.1+cu126", torch_cuda="12.6")
    assert c.choose_profile(data)[0] == "gpu"
    report = c.report_from(data)
    f = by_key(report.findings)
    assert report.ok
    assert f["gpu"].severity == "ok", f["gpu"]  # 22.5 GiB reported for a "24 GB" card counts as 24 GB
    assert f["driver"].severity == "ok" and "12.2" in f["driver"].detail
    assert f["cuda"].severity == "ok"  # a CUDA 12.6 build runs on a 12.2 driver (same major)
    assert f["bf16"].severity == "ok" and "8.6" in f["bf16"].detail


def test_a100_is_ok():
    assert c.choose_profile(machine(gpu=A100))[0] == "gpu"


def test_t4_gets_a_specific_message_and_the_cpu_profile():
    data = machine(gpu=T4, driver="535.104.05", cuda_driver=(12, 2), torch_cuda="12.6")
    name, reason = c.choose_profile(data)
    assert name == "cpu"
    assert "Tesla T4" in reason and "7.5" in reason and "A10/A100" in reason
    report = c.report_from(data)
    assert report.ok  # nothing blocks the cpu profile
    g = by_key(report.findings)["gpu"]
    assert g.severity == "warning"
    assert "bf16" in g.detail and "float16" in g.detail and "flash-attention" in g.detail
    assert "cpu profile" in g.fix
    # Forced onto the gpu profile: it may run with float16, and the check says how.
    forced = c.report_from(data, "gpu")
    f = by_key(forced.findings)
    assert forced.profile == "gpu" and forced.profile_forced
    assert f["gpu"].severity == "warning"
    assert f["bf16"].severity == "warning" and "--torch_dtype float16" in f["bf16"].fix
    assert "would pick cpu" in forced.profile_reason


def test_v100_blocks_the_gpu_profile_with_the_awq_reason():
    data = machine(gpu=V100, driver="535.104.05", cuda_driver=(12, 2), torch_cuda="12.6")
    assert c.choose_profile(data)[0] == "cpu"
    f = by_key(c.report_from(data, "gpu").findings)
    assert f["gpu"].severity == "blocking"
    assert "7.5" in f["gpu"].detail and "AWQ" in f["gpu"].detail and "7.0" in f["gpu"].detail


def test_driver_with_cuda_11_8_blocks_the_gpu_profile():
    data = machine(gpu=A100, driver="520.61.05", cuda_driver=(11, 8), torch_version="2.7.1+cu118", torch_cuda="11.8")
    name, reason = c.choose_profile(data)
    assert name == "cpu"
    assert "520.61.05" in reason and "11.8" in reason and "CUDA 12" in reason
    auto = by_key(c.report_from(data).findings)
    assert auto["driver"].severity == "warning"  # explains why cpu was chosen; does not block it
    forced = c.report_from(data, "gpu")
    f = by_key(forced.findings)
    assert f["driver"].severity == "blocking"
    assert "11.8" in f["driver"].detail
    assert f["driver"].fix == "Update the NVIDIA driver to one that supports CUDA 12+ (R525+)."
    assert "driver" in [x.key for x in forced.blocking]


def test_no_nvml_picks_cpu_with_a_reason():
    data = machine(gpu=None, nvml_error=NO_NVML, torch_version="2.13.0+cpu", torch_cuda=None)
    name, reason = c.choose_profile(data)
    assert name == "cpu"
    assert reason == (f"No NVIDIA GPU found (NVML: {NO_NVML}), so the cpu profile runs the lab on a small model (SmolLM2-135M-Instruct).")
    report = c.report_from(data)
    assert report.ok and report.gpu is None
    f = by_key(report.findings)
    for key in ("gpu", "driver", "cuda", "bf16"):
        assert f[key].severity == "ok", f[key]
    # Forcing the gpu profile there blocks, with the way out.
    forced = c.report_from(data, "gpu")
    g = by_key(forced.findings)["gpu"]
    assert g.severity == "blocking" and "--profile cpu" in g.fix
    assert not forced.ok and "gpu" in forced.to_dict()["blocking"]


def test_nvml_without_devices():
    data = machine(gpu=None, torch_cuda=None, torch_version="2.13.0+cpu")
    name, reason = c.choose_profile(data)
    assert name == "cpu" and "found no NVIDIA GPU" in reason


def test_cpu_torch_on_a_gpu_machine():
    data = machine(gpu=H100, torch_version="2.13.0+cpu", torch_cuda=None)
    name, reason = c.choose_profile(data)
    assert name == "cpu" and "CPU build" in reason and "2.13.0+cpu" in reason
    assert by_key(c.report_from(data).findings)["cuda"].severity == "warning"
    f = by_key(c.report_from(data, "gpu").findings)["cuda"]
    assert f.severity == "blocking"
    assert "download.pytorch.org/whl/cu130" in f.fix  # driver supports 13.0


def test_torch_built_for_a_newer_cuda_than_the_driver():
    data = machine(gpu=A100, driver="550.54.15", cuda_driver=(12, 4), torch_cuda="13.0", cuda_available=False)
    assert c.choose_profile(data)[0] == "cpu"
    f = by_key(c.report_from(data, "gpu").findings)["cuda"]
    assert f.severity == "blocking" and "newer CUDA than the driver" in f.detail and "cu126" in f.fix


def test_torch_cuda_not_available_says_why():
    data = machine(gpu=A100, cuda_available=False)
    data.torch.warning = "CUDA initialization: Unexpected error from cudaGetDeviceCount()"
    name, reason = c.choose_profile(data)
    assert name == "cpu" and "is_available() is False" in reason and "cudaGetDeviceCount" in reason


def test_vram_thresholds():
    small = machine(gpu=RTX_3060)  # 12 GB
    name, reason = c.choose_profile(small)
    assert name == "cpu" and "12.0 GiB" in reason and "16.4 GiB" in reason
    mid = machine(gpu=RTX_A4000)  # 16 GB: usable, with a warning
    assert c.choose_profile(mid)[0] == "gpu"
    g = by_key(c.report_from(mid).findings)["gpu"]
    assert g.severity == "warning" and "24 GB" in g.detail and "16.4 GiB" in g.detail


def test_genai_missing_cudnn_is_named_with_the_fix():
    err = ("ImportError: libcudnn.so.9: cannot open shared object file: No such file or directory")
    genai = c.GenaiProbe(installed=True, imported=False, error=err, missing_lib=c.missing_shared_library(err),
                         ort_version="1.32.0")
    f = by_key(c.assess(machine(gpu=H100, genai=genai), "gpu"))["ortgenai"]
    assert f.severity == "blocking"
    assert "libcudnn.so.9" in f.detail
    assert "cuDNN 9 for CUDA 12" in f.fix and "LD_LIBRARY_PATH" in f.fix


def test_genai_missing_cublas_is_named():
    err = "ImportError: libcublasLt.so.12: cannot open shared object file: No such file or directory"
    genai = c.GenaiProbe(installed=True, imported=False, error=err, missing_lib=c.missing_shared_library(err))
    f = by_key(c.assess(machine(gpu=H100, genai=genai), "gpu"))["ortgenai"]
    assert "libcublasLt.so.12" in f.detail and "CUDA 12" in f.fix and "LD_LIBRARY_PATH" in f.fix


def test_genai_lib_already_in_a_wheel_folder_says_only_the_loader_path_is_missing():
    err = "ImportError: libcudnn.so.9: cannot open shared object file: No such file or directory"
    genai = c.GenaiProbe(installed=True, imported=False, error=err, missing_lib="libcudnn.so.9",
                         missing_lib_folder="/venv/lib/python3.11/site-packages/nvidia/cudnn/lib")
    f = by_key(c.assess(machine(gpu=H100, genai=genai), "gpu"))["ortgenai"]
    assert f.severity == "blocking"
    assert f.fix.startswith("libcudnn.so.9 is already at /venv/lib/python3.11/site-packages/nvidia/cudnn/lib")
    assert "export LD_LIBRARY_PATH=/venv/lib/python3.11/site-packages/nvidia/cudnn/lib:$LD_LIBRARY_PATH" in f.fix


def test_the_genai_probe_finds_a_missing_lib_in_pip_s_nvidia_wheels(tmp_path, monkeypatch):
    from olive_lab.steps.check import probes

    libdir = tmp_path / "nvidia" / "cudnn" / "lib"
    libdir.mkdir(parents=True)
    (libdir / "libcudnn.so.9").write_bytes(b"")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    assert probes.find_in_nvidia_wheels("libcudnn.so.9") == str(libdir)
    assert probes.find_in_nvidia_wheels("libcublasLt.so.12") is None


def test_the_child_probe_reports_a_missing_package_as_data(monkeypatch):
    from olive_lab.steps.check import child

    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` raises ModuleNotFoundError(name="torch")
    assert child.torch_facts() == {"installed": False,
                                   "error": "ModuleNotFoundError: import of torch halted; None in sys.modules"}


def test_old_onnxruntime_beside_genai_blocks():
    genai = c.GenaiProbe(installed=True, imported=True, version="0.14.1", ort_version="1.30.0")
    f = by_key(c.assess(machine(gpu=H100, genai=genai), "gpu"))["ortgenai"]
    assert f.severity == "blocking" and "1.30.0" in f.detail and "onnxruntime>=1.32" in f.fix


def test_genai_015_breaks_the_model_builder():
    pk = dict(PINNED, **{"onnxruntime-genai": "0.15.2"})
    f = by_key(c.assess(machine(gpu=H100, packages=pk), "gpu"))["packages"]
    assert f.severity == "blocking" and "0.15" in f.detail and "model builder" in f.detail
    assert "onnxruntime-genai==0.14.1" in f.fix


def test_missing_package_gives_the_pip_command():
    pk = dict(PINNED, **{"olive-ai": None})
    f = by_key(c.assess(machine(gpu=None, nvml_error=NO_NVML, torch_cuda=None, packages=pk), "cpu"))["packages"]
    assert f.severity == "blocking" and "olive-ai missing" in f.detail
    assert "pip install -e '.[cpu]'" in f.fix
    f = by_key(c.assess(machine(gpu=H100, packages=pk), "gpu"))["packages"]
    assert "pip install -e '.[gpu]'" in f.fix


def test_version_drift_warns():
    pk = dict(PINNED, **{"peft": "0.17.1", "transformers": "4.58.0"})
    f = by_key(c.assess(machine(gpu=H100, packages=pk), "gpu"))["packages"]
    assert f.severity == "warning" and "peft 0.17.1" in f.detail and "transformers 4.58.0" in f.detail
    pk = dict(PINNED, transformers="4.51.3")
    assert by_key(c.assess(machine(gpu=H100, packages=pk), "gpu"))["packages"].severity == "blocking"


def test_python_version():
    """Both locked Pythons are fine on either profile (the GPU runs were on 3.12.3); others get the lock's list."""
    for python in ((3, 11, 9), (3, 12, 3)):
        for profile in ("gpu", "cpu"):
            assert by_key(c.assess(machine(gpu=H100, python=python), profile))["python"].severity == "ok"
    f = by_key(c.assess(machine(gpu=H100, python=(3, 13, 1)), "gpu"))["python"]
    assert f.severity == "warning" and "locked and tested for Python 3.11 and 3.12" in f.detail
    assert "torch" not in f.detail and "PYTHON=python3.12 bash scripts/setup.sh" in f.fix
    assert by_key(c.assess(machine(gpu=H100, python=(3, 10, 12)), "cpu"))["python"].severity == "blocking"


def test_gpu_profile_reason_names_the_flow_that_runs():
    """Before setup the reason must not promise the lab as written while the flow row says fallback."""
    data = machine(gpu=H100)
    data.gpu_flow = ("fallback", "the awq-tf4 environment is not ready: not installed", False)
    name, reason = c.choose_profile(data)
    flow = by_key(c.assess(data, "gpu"))["flow"]
    assert name == "gpu" and "as written" not in reason
    assert "fallback flow" in reason and "olive-lab setup --profile gpu" in reason
    assert flow.detail.startswith("fallback") and "olive-lab setup --profile gpu" in flow.fix


def test_disk_and_ram_against_the_profile():
    f = by_key(c.assess(machine(gpu=H100, free_gib=25, ram_gib=32), "gpu"))
    assert f["disk"].severity == "blocking" and "25.0 GiB free" in f["disk"].detail
    assert "writes about 25.1 GiB at its peak" in f["disk"].detail and "Free 0.1 GiB" in f["disk"].fix
    assert f["ram"].severity == "warning" and "32.0 GiB" in f["ram"].detail
    f = by_key(c.assess(machine(gpu=None, nvml_error=NO_NVML, free_gib=25, ram_gib=8), "cpu"))
    assert f["disk"].severity == "ok" and f["ram"].severity == "ok"


def test_disk_second_lab_in_a_fresh_folder_is_not_blocked():
    """After one full lab 39.5 GiB were left and the check asked for 40, though a lab peaks at about 27 GB."""
    assert by_key(c.assess(machine(gpu=H100, free_gib=39.5), "gpu"))["disk"].severity == "ok"


def test_disk_counts_what_the_work_folder_already_holds(tmp_path):
    (tmp_path / "models" / "base").mkdir(parents=True)
    (tmp_path / "models" / "base" / "w.safetensors").write_bytes(b"x" * 3_000_000)
    (tmp_path / ".olive-cache").mkdir()
    (tmp_path / ".olive-cache" / "c.bin").write_bytes(b"x" * 1_000_000)
    probe = c.probe_disk(tmp_path)
    assert probe.present_bytes == 4_000_000
    data = machine(gpu=H100, free_gib=3)
    data.disk.present_bytes = int(20 * GIB)  # e.g. the base model and a finished quantize + finetune
    f = by_key(c.assess(data, "gpu"))["disk"]
    assert f.severity == "blocking" and "20.0 GiB of it already there" in f.detail
    assert "still needs about 5.1 GiB" in f.detail and "Free 2.1 GiB" in f.fix
    data.disk.present_bytes = int(24 * GIB)
    assert by_key(c.assess(data, "gpu"))["disk"].severity == "ok"


# ------------------------------------------------------------------------------------------------------- Azure


def test_azure_profile_with_bom_is_read(tmp_path):
    cfg = tmp_path / "az"
    cfg.mkdir()
    profile = {"installationId": "x", "subscriptions": [
        {"id": "1111", "name": "Other", "isDefault": False, "user": {"name": "me@x.com", "type": "user"}},
        {"id": "2222", "name": "Olive Lab", "isDefault": True, "user": {"name": "me@x.com", "type": "user"}},
    ]}
    (cfg / "azureProfile.json").write_text(json.dumps(profile), encoding="utf-8-sig")
    (cfg / "cliextensions" / "azure-cli-ml").mkdir(parents=True)
    probe = c.probe_azure(env={"AZURE_CONFIG_DIR": str(cfg), "PATH": ""})
    assert probe.logged_in and probe.subscription_name == "Olive Lab" and probe.subscription_id == "2222"
    assert probe.user == "me@x.com" and probe.az_path is None and probe.legacy_ml_extension
    f = by_key(c.assess(replace(machine(), azure=probe), "cpu"))["azure"]
    assert f.severity == "warning" and "Olive Lab" in f.detail and "azure-cli-ml" in f.fix


def test_azure_not_signed_in_is_a_warning_never_blocking(tmp_path):
    probe = c.probe_azure(env={"PATH": ""}, home=tmp_path)
    assert not probe.logged_in and not probe.profile_found
    for profile in ("cpu", "gpu"):
        f = by_key(c.assess(machine(gpu=H100, azure=probe), profile))["azure"]
        assert f.severity == "warning"
        assert "az login --use-device-code" in f.fix and "upload" in f.detail


def test_azure_managed_identity(tmp_path):
    probe = c.probe_azure(env={"PATH": "", "MSI_ENDPOINT": "http://127.0.0.1:46808/MSI/auth", "MSI_SECRET": "s3cr3t"},
                          home=tmp_path)
    assert probe.managed_identity
    f = by_key(c.assess(machine(azure=replace(probe, sdk_version="1.35.2")), "cpu"))["azure"]
    assert f.severity == "ok" and "managed identity" in f.detail
    assert "s3cr3t" not in json.dumps(c.report_from(machine(azure=probe)).to_dict())


# ---------------------------------------------------------------------------------------------------- probes


def test_probe_nvml_reads_a_fake_nvml(monkeypatch):
    """NVML is hardware: a stand-in module shows the probe reads what an H100 box reports."""
    class Mem:
        total = 81559 * MIB

    fake = types.SimpleNamespace(
        nvmlInit=lambda: None, nvmlShutdown=lambda: None,
        nvmlSystemGetDriverVersion=lambda: b"580.159.04",
        nvmlSystemGetCudaDriverVersion_v2=lambda: 13000,
        nvmlDeviceGetCount=lambda: 1,
        nvmlDeviceGetHandleByIndex=lambda i: i,
        nvmlDeviceGetName=lambda h: "NVIDIA H100 80GB HBM3",
        nvmlDeviceGetMemoryInfo=lambda h: Mem(),
        nvmlDeviceGetCudaComputeCapability=lambda h: (9, 0),
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    nv = c.probe_nvml()
    assert nv.available and nv.driver_version == "580.159.04" and nv.cuda_driver == (13, 0)
    assert nv.gpu.name == "NVIDIA H100 80GB HBM3" and nv.gpu.compute_capability == (9, 0)
    assert round(nv.gpu.vram_gib, 1) == 79.6


def test_probe_nvml_failure_is_data(monkeypatch):
    def boom():
        raise RuntimeError("Driver Not Loaded")

    monkeypatch.setitem(sys.modules, "pynvml", types.SimpleNamespace(nvmlInit=boom))
    nv = c.probe_nvml()
    assert not nv.available and nv.error == "Driver Not Loaded" and nv.gpu is None


def test_subprocess_probe_survives_a_crash_and_a_hang():
    out, err, timed_out, _ = c.run_in_child(["-c", "import os; os.abort()"], 10)
    assert out is None and "signal" in err and not timed_out
    t0 = time.monotonic()
    out, err, timed_out, _ = c.run_in_child(["-c", "import time; time.sleep(30)"], 0.5)
    assert out is None and timed_out and time.monotonic() - t0 < 5


def test_importing_the_check_stays_light():
    code = ("import sys, olive_lab.steps.check; "
            "print(sorted(m for m in ('torch', 'pynvml', 'psutil', 'rich', 'onnxruntime_genai', 'olive') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------------ real, this machine


def _has_nvidia_gpu() -> bool:
    nv = c.probe_nvml()
    return nv.available and bool(nv.gpus)


needs_no_gpu = pytest.mark.skipif(_has_nvidia_gpu(), reason="this test describes a machine without an NVIDIA GPU")


@needs_no_gpu
def test_real_check_on_this_machine(tmp_path):
    t0 = time.monotonic()
    report = c.run_checks(tmp_path)
    took = time.monotonic() - t0
    assert report.profile == "cpu" and report.auto_profile == "cpu"
    assert report.profile_reason.startswith("No NVIDIA GPU found (NVML:")
    assert report.gpu is None
    # Real versions, read from the installed packages' metadata.
    for name in ("olive-ai", "onnxruntime-genai", "onnxruntime", "transformers", "peft", "torch"):
        assert report.data.packages[name] == metadata.version(name)
    assert report.data.torch.version == metadata.version("torch")
    assert report.data.genai.imported and report.data.genai.version == metadata.version("onnxruntime-genai")
    assert report.data.genai.ort_version == metadata.version("onnxruntime")
    assert report.ok, [(f.key, f.detail) for f in report.blocking]
    assert report.data.disk.free_bytes > 0 and report.data.ram.total_bytes > 0
    assert took < 10, f"the check took {took:.1f} s"
    print(f"\nreal check: {report.elapsed_s:.2f} s; probes {report.data.timings}")


@needs_no_gpu
def test_cli_check_exits_0(tmp_path, capsys):
    assert main(["check", "--workdir", str(tmp_path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "Profile: cpu" in out and "No NVIDIA GPU found" in out and "Checked in" in out


@needs_no_gpu
def test_cli_check_json(tmp_path, capsys):
    assert main(["--workdir", str(tmp_path), "check", "--json"]) == EXIT_OK
    d = json.loads(capsys.readouterr().out)
    assert set(d) == {"ok", "profile", "profile_reason", "profile_forced", "auto_profile", "blocking", "warnings",
                      "findings", "gpu", "workdir", "elapsed_s", "probes"}
    assert d["ok"] is True and d["profile"] == "cpu" and d["gpu"] is None and d["blocking"] == []
    # the gpu flow is only a finding on the gpu profile
    assert [f["key"] for f in d["findings"]] == [k for k in c.FINDING_KEYS if k != "flow"]
    for f in d["findings"]:
        assert set(f) == {"key", "title", "severity", "detail", "fix"} and f["severity"] in c.SEVERITIES
    assert d["workdir"] == str(tmp_path)
    assert d["probes"]["packages"]["olive-ai"] == metadata.version("olive-ai")


@needs_no_gpu
def test_cli_forced_gpu_profile_is_blocked(tmp_path, capsys):
    assert main(["check", "--profile", "gpu", "--workdir", str(tmp_path), "--json"]) == EXIT_BLOCKED
    d = json.loads(capsys.readouterr().out)
    assert d["profile"] == "gpu" and d["profile_forced"] and d["auto_profile"] == "cpu" and not d["ok"]
    assert "gpu" in d["blocking"]
    gpu = next(f for f in d["findings"] if f["key"] == "gpu")
    assert gpu["severity"] == "blocking" and "No NVIDIA GPU" in gpu["detail"]
    assert main(["--profile", "gpu", "check", "--workdir", str(tmp_path)]) == EXIT_BLOCKED
    assert "blocking for the gpu profile" in capsys.readouterr().out


def test_gpu_profile_without_the_awq_overlay_says_which_flow_runs_and_how_to_get_awq():
    data = machine(gpu=H100, driver="580.159.04", cuda_driver=(13, 0))
    data.gpu_flow = ("fallback", "the awq-tf4 environment is not ready: not installed", False)
    flow = by_key(c.report_from(data).findings)["flow"]
    assert flow.severity == c.WARNING
    assert flow.detail.startswith("fallback") and "olive-lab setup --profile gpu" in flow.fix
