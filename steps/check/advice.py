"""The machine check's fix texts that depend on the machine: which torch to install, which pip command, how to
get a missing CUDA library. Pure: they read the probes' data only.
"""

from __future__ import annotations

from ..profiles import Profile
from .facts import ProbeData


def torch_install_fix(data: ProbeData, profile: Profile) -> str:
    """How to install the torch build this machine and profile want."""
    nv = data.nvml
    if profile.needs_gpu or (nv.gpu is not None and nv.cuda_driver):
        tag = torch_cuda_tag(nv.cuda_driver)
        return (f"Install a CUDA build of torch that the driver supports: "
                f"`pip install torch --index-url https://download.pytorch.org/whl/{tag}`.")
    return ("Install the CPU build of torch first (PyPI's Linux wheel is the multi-GB CUDA build): "
            "`pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`, or set up with "
            "`bash scripts/setup.sh`.")


def torch_cuda_tag(cuda_driver: tuple[int, int] | None) -> str:
    """The PyTorch wheel index (cu126, cu128, cu130) the driver's CUDA can run."""
    if cuda_driver and cuda_driver >= (13, 0):
        return "cu130"
    if cuda_driver and cuda_driver >= (12, 8):
        return "cu128"
    return "cu126"


def pip_extra(data: ProbeData, profile: Profile) -> str:
    """The pip command that installs the profile's extra, from the checkout when there is one."""
    extra = "gpu" if profile.needs_gpu else "cpu"
    if data.source_root:
        return f"`pip install -e '.[{extra}]'` in {data.source_root}"
    return f"`pip install 'olive-lab[{extra}]'`"


def genai_lib_fix(lib: str, found: str | None = None) -> str:
    """How to get `lib`; `found` is the folder of pip's nvidia-* wheels that already holds it, if one does."""
    if lib.startswith("libcudnn"):
        what = ("Install cuDNN 9 for CUDA 12 (`pip install nvidia-cudnn-cu12`, or "
                "`sudo apt-get install cudnn9-cuda-12`)")
    elif lib.startswith(("libcublas", "libcudart", "libcufft", "libcurand", "libnvrtc", "libcusparse")):
        what = ("Install the CUDA 12 runtime libraries (`pip install nvidia-cublas-cu12 nvidia-cuda-runtime-cu12`, "
                "or the CUDA 12 toolkit)")
    elif lib.startswith("libcuda.so"):
        return ("libcuda comes with the NVIDIA driver: install the driver (R525+), or use the CPU package: "
                "`pip uninstall onnxruntime-genai-cuda && pip install onnxruntime-genai==0.14.1`.")
    elif lib.startswith("libnvinfer"):
        what = "Install TensorRT for CUDA 12"
    else:
        what = f"Install the package that provides {lib}"
    if found:
        return (f"{lib} is already at {found} but not on the loader path: "
                f"`export LD_LIBRARY_PATH={found}:$LD_LIBRARY_PATH`. (onnxruntime uses the system's CUDA and "
                "cuDNN; PyTorch bundles its own.)")
    return (f"{what}, then add its lib folder to LD_LIBRARY_PATH (onnxruntime uses the system's CUDA and cuDNN; "
            "PyTorch bundles its own). Or use the CPU package `onnxruntime-genai==0.14.1`: the lab's chat runs on "
            "the CPU.")
