"""What the machine check knows about a machine: the probes' plain data, and the parsers that read versions and
error texts. No probing and no judging happens here; `probes` fills these, `assess` reads them.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

GIB = 1024**3
#: VRAM as sold ("16 GB", "24 GB"); NVML reports a little less than the label (an A10 "24 GB" reports 22.5 GiB),
#: so the comparison allows 8% below the label.
_VRAM_TOLERANCE = 0.92

#: Packages compared with the pinned stack: shown name -> distributions that provide it (first is canonical).
PACKAGES: dict[str, tuple[str, ...]] = {
    "olive-ai": ("olive-ai",),
    "onnxruntime-genai": ("onnxruntime-genai", "onnxruntime-genai-cuda"),
    "onnxruntime": ("onnxruntime", "onnxruntime-gpu"),
    "transformers": ("transformers",),
    "peft": ("peft",),
    "torch": ("torch",),
    "textual": ("textual",),
}
#: Folders of the work folder whose contents count as already written (the base model, outputs, caches).
LAB_WRITES = ("models", ".hf", ".olive-cache")


@dataclass
class GpuInfo:
    name: str
    memory_total_bytes: int
    compute_capability: tuple[int, int]
    index: int = 0

    @property
    def vram_gib(self) -> float:
        return self.memory_total_bytes / GIB

    @property
    def cc(self) -> str:
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    def vram_at_least(self, label_gb: float) -> bool:
        """True when the card is of the `label_gb` class or bigger (NVML reports a little less than the label)."""
        return self.memory_total_bytes >= label_gb * 1e9 * _VRAM_TOLERANCE

    def describe(self) -> str:
        return f"{self.name}, {self.vram_gib:.1f} GiB, compute capability {self.cc}"

    def to_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "memory_total_bytes": self.memory_total_bytes,
                "vram_gib": round(self.vram_gib, 2), "compute_capability": self.cc}


@dataclass
class NvmlProbe:
    """What NVML says. `available` is False when the library or the driver is missing (`error` says which)."""

    available: bool = False
    error: str = ""
    driver_version: str | None = None
    cuda_driver: tuple[int, int] | None = None  # the newest CUDA the driver supports, e.g. (13, 0)
    gpus: list[GpuInfo] = field(default_factory=list)

    @property
    def gpu(self) -> GpuInfo | None:
        """The GPU the lab uses (CUDA device 0)."""
        return self.gpus[0] if self.gpus else None

    @property
    def cuda_driver_text(self) -> str | None:
        return None if self.cuda_driver is None else f"{self.cuda_driver[0]}.{self.cuda_driver[1]}"


@dataclass
class TorchProbe:
    installed: bool = False
    version: str | None = None
    cuda: str | None = None  # torch.version.cuda: the CUDA it was built for; None for a CPU build
    cuda_available: bool = False
    device_count: int = 0
    error: str = ""  # import failure, crash or timeout
    warning: str = ""  # what torch warned while looking for CUDA (e.g. "driver too old")
    timed_out: bool = False
    elapsed_s: float = 0.0


@dataclass
class GenaiProbe:
    installed: bool = False
    imported: bool = False
    version: str | None = None
    error: str = ""
    missing_lib: str | None = None  # e.g. libcudnn.so.9, parsed from the ImportError
    #: the folder of pip's nvidia-* wheels that already holds `missing_lib` (so only LD_LIBRARY_PATH is missing)
    missing_lib_folder: str | None = None
    ort_version: str | None = None
    ort_providers: list[str] = field(default_factory=list)
    ort_error: str = ""
    timed_out: bool = False
    elapsed_s: float = 0.0


@dataclass
class DiskProbe:
    path: str
    free_bytes: int | None = None
    error: str = ""
    #: bytes already in the work folder's LAB_WRITES folders: what a lab there need not write again
    present_bytes: int = 0


@dataclass
class RamProbe:
    total_bytes: int | None = None
    available_bytes: int | None = None
    error: str = ""


@dataclass
class AzureProbe:
    config_dir: str = ""
    profile_found: bool = False
    logged_in: bool = False
    user: str | None = None
    subscription_name: str | None = None
    subscription_id: str | None = None
    az_path: str | None = None
    managed_identity: bool = False
    service_principal: bool = False
    ml_extension: bool = False
    legacy_ml_extension: bool = False  # azure-cli-ml (v1) must be removed for `az ml` v2
    sdk_version: str | None = None  # azure-ai-ml
    error: str = ""


@dataclass
class ProbeData:
    """Everything the probes found; `assess` and `choose_profile` read only this (and `to_dict` is the `probes`
    part of `olive-lab check --json`)."""

    nvml: NvmlProbe
    torch: TorchProbe
    genai: GenaiProbe
    python_version: tuple[int, int, int]
    packages: dict[str, str | None]
    disk: DiskProbe
    ram: RamProbe
    azure: AzureProbe
    package_dists: dict[str, str] = field(default_factory=dict)  # shown name -> distribution, where not canonical
    python_executable: str = ""
    source_root: str | None = None  # the checkout (for `pip install -e`), None for an installed package
    timings: dict[str, float] = field(default_factory=dict)
    gpu_flow: tuple[str, str, bool] | None = None  # (flow, why, overlay ready) the gpu profile would run here

    def to_dict(self) -> dict:
        d = asdict(self)
        d["nvml"]["gpus"] = [g.to_dict() for g in self.nvml.gpus]
        d["python_version"] = ".".join(map(str, self.python_version))
        return d


# --------------------------------------------------------------------------------------------------------------
# Small helpers


def version_tuple(text: str | None) -> tuple[int, ...]:
    """`2.13.0+cpu` -> (2, 13, 0); `0.21.0rc1` -> (0, 21, 0); None or junk -> ()."""
    if not text:
        return ()
    parts = []
    for piece in re.split(r"[.+-]", text.strip()):
        m = re.match(r"\d+", piece)
        if not m:
            break
        parts.append(int(m.group()))
        if m.end() != len(piece):
            break
    return tuple(parts)


def cuda_version_from_int(value: int) -> tuple[int, int]:
    """NVML/CUDA encode versions as 1000*major + 10*minor: 13000 -> (13, 0), 12020 -> (12, 2)."""
    return value // 1000, (value % 1000) // 10


_LIB_RE = re.compile(r"(lib[A-Za-z0-9_+-]+(?:\.[A-Za-z0-9_+-]+)*?\.so(?:\.\d+)*)")


def missing_shared_library(error_text: str) -> str | None:
    """The shared library an ImportError names, e.g. `libcudnn.so.9` or `libcublasLt.so.12`."""
    if not error_text:
        return None
    m = re.search(r"(lib[\w+-]+(?:\.[\w+-]+)*?\.so(?:\.\d+)*)\s*:\s*cannot open shared object file", error_text)
    if m:
        return m.group(1)
    m = _LIB_RE.search(error_text)
    return m.group(1) if m else None


def last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""

