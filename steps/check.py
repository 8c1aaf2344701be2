"""The machine check: can this machine run the lab, which profile fits it, and what to fix first.

Probes gather plain data (GPU via NVML, torch and onnxruntime-genai in subprocesses, package versions from their
metadata, disk, RAM, Azure sign-in state from files); `assess` turns that data into findings for one profile and
`choose_profile` picks the profile. Both are pure, so tests feed them made-up machines.

Only the standard library is imported here at import time: pynvml and psutil are imported inside their probes,
torch and onnxruntime-genai only ever in a child process (a broken CUDA install cannot crash the front end, and
the front end never pays torch's import).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .profiles import PROFILES, Profile

OK, WARNING, BLOCKING = "ok", "warning", "blocking"
SEVERITIES = (OK, WARNING, BLOCKING)
_RANK = {OK: 0, WARNING: 1, BLOCKING: 2}

#: Stable ids of the findings, in the order they are shown.
FINDING_KEYS = ("gpu", "driver", "cuda", "bf16", "torch", "ortgenai", "python", "packages", "flow", "disk", "ram",
                "azure")

#: The lab asks for an NVIDIA A10 (8.6) or A100 (8.0); newer GPUs (L4 8.9, H100 9.0, ...) pass.
MIN_COMPUTE_CAPABILITY = (8, 0)
#: AutoAWQ's kernels need Turing (7.5) or newer; below that the gpu profile cannot quantize.
AWQ_MIN_COMPUTE_CAPABILITY = (7, 5)
MIN_DRIVER_CUDA = (12, 0)
#: VRAM as sold ("16 GB", "24 GB"); NVML reports a little less than the label (an A10 "24 GB" reports 22.5 GiB),
#: so the comparison allows 8% below the label.
MIN_VRAM_GB = 16
RECOMMENDED_VRAM_GB = 24
_VRAM_TOLERANCE = 0.92
LORA_PEAK_GIB = 16.4  # gpu-pipeline.md: LoRA at the lab's batch (8 x 1024 tokens) on an H100
QLORA_PEAK_GIB = 13.6
PYTHON_MIN = (3, 11)
#: The Pythons locks/ has a lock for (pyproject.toml [tool.olive-lab.lock] pythons); the GPU runs were on 3.12.3.
PYTHONS_LOCKED = ((3, 11), (3, 12))
#: What a whole lab writes at its peak, measured: gpu 27 GB on the H100 (models, Olive's cache, the ONNX build;
#: shared/docs/findings-2026-12.md), cpu well under the profile's 0.2 GB. Falls back to the profile's figure.
LAB_PEAK_GIB = {"gpu": 27e9 / 1024**3}
#: Folders of the work folder whose contents count as already written (the base model, outputs, caches).
LAB_WRITES = ("models", ".hf", ".olive-cache")

SUBPROCESS_TIMEOUT_S = 30.0
_MARKER = "@@olive-lab-check@@"

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
REQUIRED_PACKAGES = ("olive-ai", "onnxruntime-genai", "onnxruntime", "transformers", "peft", "torch")
PINS = {
    "olive-ai": "==0.13.0",
    "onnxruntime-genai": "==0.14.1",
    "onnxruntime": ">=1.32",
    "transformers": "5.x",
    "peft": "0.21.x",
}

GIB = 1024**3


# --------------------------------------------------------------------------------------------------------------
# Data


@dataclass
class Finding:
    """One line of the check: what was found (with figures) and, unless it is ok, what to do about it."""

    key: str
    title: str
    severity: str
    detail: str
    fix: str = ""

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")

    def to_dict(self) -> dict:
        return asdict(self)


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
    """Everything the probes found; `assess` and `choose_profile` read only this."""

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


@dataclass
class CheckReport:
    findings: list[Finding]
    profile: str
    profile_reason: str
    auto_profile: str
    profile_forced: bool
    data: ProbeData
    workdir: str
    elapsed_s: float = 0.0

    @property
    def blocking(self) -> list[Finding]:
        """The findings that stop the chosen profile."""
        return [f for f in self.findings if f.severity == BLOCKING]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == WARNING]

    @property
    def ok(self) -> bool:
        return not self.blocking

    @property
    def gpu(self) -> GpuInfo | None:
        return self.data.nvml.gpu

    def finding(self, key: str) -> Finding | None:
        return next((f for f in self.findings if f.key == key), None)

    def to_dict(self) -> dict:
        """The report as JSON-ready data; keys are stable (`olive-lab check --json`)."""
        return {
            "ok": self.ok,
            "profile": self.profile,
            "profile_reason": self.profile_reason,
            "profile_forced": self.profile_forced,
            "auto_profile": self.auto_profile,
            "blocking": [f.key for f in self.blocking],
            "warnings": [f.key for f in self.warnings],
            "findings": [f.to_dict() for f in self.findings],
            "gpu": self.gpu.to_dict() if self.gpu else None,
            "workdir": self.workdir,
            "elapsed_s": round(self.elapsed_s, 3),
            "probes": self.data.to_dict(),
        }


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


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in (text or "").strip().splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def _gib(n: float | None) -> str:
    return "?" if n is None else f"{n / GIB:.1f} GiB"


# --------------------------------------------------------------------------------------------------------------
# Probes (each returns plain data; none raises)


def probe_nvml() -> NvmlProbe:
    """GPU name, VRAM, compute capability, driver version and the CUDA version the driver supports, via NVML."""
    try:
        import pynvml
    except ImportError as exc:
        return NvmlProbe(error=f"nvidia-ml-py is not installed ({exc})")
    try:
        pynvml.nvmlInit()
    except Exception as exc:  # NVMLError_LibraryNotFound, NVMLError_DriverNotLoaded, ...
        return NvmlProbe(error=str(exc) or type(exc).__name__)
    probe = NvmlProbe(available=True)
    try:
        try:
            probe.driver_version = _text(pynvml.nvmlSystemGetDriverVersion())
        except Exception as exc:
            probe.error = f"driver version: {exc}"
        try:
            probe.cuda_driver = cuda_version_from_int(pynvml.nvmlSystemGetCudaDriverVersion_v2())
        except Exception:
            try:
                probe.cuda_driver = cuda_version_from_int(pynvml.nvmlSystemGetCudaDriverVersion())
            except Exception as exc:
                probe.error = f"CUDA driver version: {exc}"
        count = pynvml.nvmlDeviceGetCount()
        for i in range(count):
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            name = _text(pynvml.nvmlDeviceGetName(h))
            mem = pynvml.nvmlDeviceGetMemoryInfo(h).total
            major, minor = pynvml.nvmlDeviceGetCudaComputeCapability(h)
            probe.gpus.append(GpuInfo(name, int(mem), (int(major), int(minor)), i))
    except Exception as exc:
        probe.error = str(exc) or type(exc).__name__
    finally:
        try:
            pynvml.nvmlShutdown()
        except Exception:
            pass
    return probe


def _text(value) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


_TORCH_SCRIPT = f"""
import json, sys, warnings
out = {{}}
try:
    import torch
except BaseException as exc:
    out = {{"installed": not isinstance(exc, ModuleNotFoundError) or getattr(exc, "name", "") != "torch",
           "error": f"{{type(exc).__name__}}: {{exc}}"}}
else:
    out = {{"installed": True, "version": torch.__version__, "cuda": torch.version.cuda}}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["cuda_available"] = bool(torch.cuda.is_available())
            out["device_count"] = torch.cuda.device_count() if out["cuda_available"] else 0
        except BaseException as exc:
            out["cuda_available"] = False
            out["error"] = f"torch.cuda: {{type(exc).__name__}}: {{exc}}"
    out["warning"] = " ".join(str(w.message) for w in caught)[:500]
print("{_MARKER}" + json.dumps(out), flush=True)
"""

_GENAI_SCRIPT = f"""
import json
out = {{}}
try:
    import onnxruntime_genai as og
    out["imported"] = True
    out["version"] = getattr(og, "__version__", None)
except BaseException as exc:
    out["imported"] = False
    out["error"] = f"{{type(exc).__name__}}: {{exc}}"
try:
    import onnxruntime as ort
    out["ort_version"] = ort.__version__
    out["ort_providers"] = list(ort.get_available_providers())
except BaseException as exc:
    out["ort_error"] = f"{{type(exc).__name__}}: {{exc}}"
print("{_MARKER}" + json.dumps(out), flush=True)
"""


def _run_probe_script(script: str, timeout: float) -> tuple[dict | None, str, bool, float]:
    """Run `script` in a fresh interpreter; returns (parsed JSON or None, stderr/explanation, timed_out, seconds)."""
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:.0f} s", True, time.monotonic() - t0
    except OSError as exc:
        return None, str(exc), False, time.monotonic() - t0
    elapsed = time.monotonic() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(_MARKER):
            try:
                return json.loads(line[len(_MARKER):]), proc.stderr, False, elapsed
            except json.JSONDecodeError:
                break
    why = _last_line(proc.stderr) or f"exit code {proc.returncode}"
    if proc.returncode < 0:
        why = f"killed by signal {-proc.returncode} ({why})"
    return None, why, False, elapsed


def probe_torch(timeout: float = SUBPROCESS_TIMEOUT_S) -> TorchProbe:
    """torch's version, the CUDA it was built for and whether it can use a GPU, from a child process."""
    out, err, timed_out, elapsed = _run_probe_script(_TORCH_SCRIPT, timeout)
    if out is None:
        return TorchProbe(installed=_dist_version("torch") is not None, error=f"the torch probe failed: {err}",
                          timed_out=timed_out, elapsed_s=elapsed)
    return TorchProbe(installed=bool(out.get("installed")), version=out.get("version"), cuda=out.get("cuda"),
                      cuda_available=bool(out.get("cuda_available")), device_count=int(out.get("device_count") or 0),
                      error=out.get("error", ""), warning=(out.get("warning") or "").strip(), elapsed_s=elapsed)


def probe_genai(timeout: float = SUBPROCESS_TIMEOUT_S) -> GenaiProbe:
    """Whether onnxruntime-genai imports (naming a missing .so when not) and onnxruntime's version, in a child."""
    installed = any(_dist_version(d) for d in PACKAGES["onnxruntime-genai"])
    out, err, timed_out, elapsed = _run_probe_script(_GENAI_SCRIPT, timeout)
    if out is None:
        error = f"the onnxruntime-genai probe failed: {err}"
        return GenaiProbe(installed=installed, error=error, missing_lib=missing_shared_library(err),
                          timed_out=timed_out, elapsed_s=elapsed)
    error = out.get("error", "")
    return GenaiProbe(installed=installed, imported=bool(out.get("imported")), version=out.get("version"),
                      error=error, missing_lib=missing_shared_library(error), ort_version=out.get("ort_version"),
                      ort_providers=list(out.get("ort_providers") or []), ort_error=out.get("ort_error", ""),
                      elapsed_s=elapsed)


def _dist_version(dist: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None
    except Exception:
        return None


def probe_packages() -> tuple[dict[str, str | None], dict[str, str]]:
    """Installed versions from package metadata (no imports): shown name -> version or None."""
    versions: dict[str, str | None] = {}
    dists: dict[str, str] = {}
    for name, candidates in PACKAGES.items():
        versions[name] = None
        for dist in candidates:
            v = _dist_version(dist)
            if v:
                versions[name] = v
                if dist != candidates[0]:
                    dists[name] = dist
                break
    return versions, dists


def probe_disk(workdir: str | os.PathLike) -> DiskProbe:
    """Free space where the work folder is (or will be: the nearest folder that exists)."""
    path = Path(workdir).expanduser().absolute()
    probe = DiskProbe(path=str(path))
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        probe.free_bytes = shutil.disk_usage(existing).free
    except OSError as exc:
        probe.error = str(exc)
    probe.present_bytes = sum(_tree_bytes(path / name) for name in LAB_WRITES)
    return probe


def _tree_bytes(folder: Path) -> int:
    """Bytes of the regular files under `folder` (symlinks not followed, unreadable entries skipped)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if not os.path.islink(os.path.join(root, name)):
                total += st.st_size
    return total


def probe_ram() -> RamProbe:
    try:
        import psutil

        vm = psutil.virtual_memory()
        return RamProbe(total_bytes=int(vm.total), available_bytes=int(vm.available))
    except Exception as exc:
        try:
            total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            return RamProbe(total_bytes=total, error=f"psutil: {exc}")
        except (ValueError, OSError, AttributeError):
            return RamProbe(error=str(exc))


def probe_azure(env: dict[str, str] | None = None, home: str | os.PathLike | None = None) -> AzureProbe:
    """Azure sign-in state from files and environment only: no network, no `az` call, and no token is read."""
    env = dict(os.environ) if env is None else env
    home_dir = Path(home) if home is not None else Path.home()
    config_dir = Path(env["AZURE_CONFIG_DIR"]).expanduser() if env.get("AZURE_CONFIG_DIR") else home_dir / ".azure"
    probe = AzureProbe(config_dir=str(config_dir))
    profile = config_dir / "azureProfile.json"
    if profile.is_file():
        probe.profile_found = True
        try:
            data = json.loads(profile.read_text(encoding="utf-8-sig"))
            subs = data.get("subscriptions") or []
            default = next((s for s in subs if s.get("isDefault")), subs[0] if subs else None)
            if default:
                probe.logged_in = True
                probe.subscription_name = default.get("name")
                probe.subscription_id = default.get("id")
                user = default.get("user") or {}
                probe.user = user.get("name")
        except (OSError, ValueError, AttributeError) as exc:
            probe.error = f"cannot read {profile}: {exc}"
    probe.az_path = shutil.which("az", path=env.get("PATH"))
    probe.managed_identity = bool(env.get("MSI_ENDPOINT") or env.get("IDENTITY_ENDPOINT"))
    probe.service_principal = bool(env.get("AZURE_CLIENT_ID") and env.get("AZURE_TENANT_ID") and (
        env.get("AZURE_CLIENT_SECRET") or env.get("AZURE_CLIENT_CERTIFICATE_PATH")
        or env.get("AZURE_FEDERATED_TOKEN_FILE")))
    ext_dir = Path(env["AZURE_EXTENSION_DIR"]).expanduser() if env.get("AZURE_EXTENSION_DIR") \
        else config_dir / "cliextensions"
    probe.ml_extension = (ext_dir / "ml").is_dir()
    probe.legacy_ml_extension = (ext_dir / "azure-cli-ml").is_dir()
    probe.sdk_version = _dist_version("azure-ai-ml")
    return probe


def _source_root() -> str | None:
    """The checkout this module runs from (so the fix can say `pip install -e`), else None."""
    root = Path(__file__).resolve().parents[1]
    return str(root) if (root / "pyproject.toml").is_file() and (root / "olive_lab").is_dir() else None


def collect(workdir: str | os.PathLike = ".", *, timeout: float = SUBPROCESS_TIMEOUT_S) -> ProbeData:
    """Run every probe; the two subprocess probes run concurrently with each other and with the quick ones."""
    timings: dict[str, float] = {}

    def timed(name, fn, *args):
        t0 = time.monotonic()
        try:
            return fn(*args)
        finally:
            timings[name] = round(time.monotonic() - t0, 3)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="olive-lab-check") as pool:
        torch_f = pool.submit(timed, "torch", probe_torch, timeout)
        genai_f = pool.submit(timed, "ortgenai", probe_genai, timeout)
        nvml = timed("nvml", probe_nvml)
        packages, dists = timed("packages", probe_packages)
        disk = timed("disk", probe_disk, workdir)
        ram = timed("ram", probe_ram)
        azure = timed("azure", probe_azure)
        flow = timed("flow", probe_gpu_flow)
        torch_probe = torch_f.result()
        genai_probe = genai_f.result()
    return ProbeData(nvml=nvml, torch=torch_probe, genai=genai_probe, python_version=tuple(sys.version_info[:3]),
                     packages=packages, package_dists=dists, python_executable=sys.executable, disk=disk,
                     ram=ram, azure=azure, source_root=_source_root(), timings=timings,
                     gpu_flow=flow)


def probe_gpu_flow() -> tuple[str, str, bool]:
    """Which gpu flow runs here (faithful AWQ flow needs the overlay that `olive-lab setup` makes)."""
    from .flows import gpu_flow

    flow = gpu_flow()
    return flow.name, flow.reason, flow.overlay_ready


# --------------------------------------------------------------------------------------------------------------
# Assessment (pure)


def _gpu_usable(data: ProbeData) -> tuple[bool, str]:
    """(True, description) when the gpu profile can run here; else (False, one sentence saying why not)."""
    nv, t = data.nvml, data.torch
    cpu_tail = "so the cpu profile runs the lab on a small model (SmolLM2-135M-Instruct)."
    if not nv.available:
        return False, f"No NVIDIA GPU found (NVML: {nv.error or 'not available'}), {cpu_tail}"
    gpu = nv.gpu
    if gpu is None:
        return False, f"NVML found no NVIDIA GPU, {cpu_tail}"
    if gpu.compute_capability < MIN_COMPUTE_CAPABILITY:
        return False, (f"The {gpu.name} (compute capability {gpu.cc}) is older than the lab's A10/A100 "
                       f"(8.0 or newer), {cpu_tail}")
    if nv.cuda_driver is None or nv.cuda_driver < MIN_DRIVER_CUDA:
        supports = f"supports CUDA {nv.cuda_driver_text} only" if nv.cuda_driver else "reports no CUDA version"
        return False, (f"The NVIDIA driver {nv.driver_version or '?'} {supports} (the lab needs CUDA 12 or newer), "
                       f"{cpu_tail}")
    if not gpu.vram_at_least(MIN_VRAM_GB):
        return False, (f"The {gpu.name} has {gpu.vram_gib:.1f} GiB of memory (the lab's LoRA step peaks at "
                       f"{LORA_PEAK_GIB} GiB), {cpu_tail}")
    if not t.installed or (t.error and not t.version):
        return False, (f"torch does not load ({t.error or 'not installed'}), so the {gpu.name} cannot be used; "
                       f"the cpu profile is chosen.")
    if not t.cuda:
        return False, (f"torch {t.version} is a CPU build, so it cannot use the {gpu.name}; the cpu profile runs "
                       f"the lab on a small model until a CUDA build of torch is installed.")
    if not t.cuda_available:
        why = f": {t.warning}" if t.warning else ""
        return False, (f"torch {t.version} (CUDA {t.cuda}) cannot use the {gpu.name} "
                       f"(torch.cuda.is_available() is False{why}), {cpu_tail}")
    if data.gpu_flow is not None and not data.gpu_flow[2]:
        runs = (f"runs the {data.gpu_flow[0]} flow (RTN for AWQ, LoRA on the float model) until "
                "`olive-lab setup --profile gpu` makes the AWQ environment")
    else:
        runs = "runs the lab as written"
    return True, (f"The {gpu.name} ({gpu.vram_gib:.1f} GiB, compute capability {gpu.cc}, driver CUDA "
                  f"{nv.cuda_driver_text}) and torch {t.version} with CUDA {t.cuda} are ready, so the gpu profile "
                  f"{runs}.")


def choose_profile(data: ProbeData | CheckReport) -> tuple[str, str]:
    """("gpu" or "cpu", the one sentence a user reads about why)."""
    if isinstance(data, CheckReport):
        data = data.data
    usable, reason = _gpu_usable(data)
    return ("gpu" if usable else "cpu"), reason


def _torch_install_fix(data: ProbeData, profile: Profile) -> str:
    nv = data.nvml
    if profile.needs_gpu or (nv.gpu is not None and nv.cuda_driver):
        tag = _torch_cuda_tag(nv.cuda_driver)
        return (f"Install a CUDA build of torch that the driver supports: "
                f"`pip install torch --index-url https://download.pytorch.org/whl/{tag}`.")
    return ("Install the CPU build of torch first (PyPI's Linux wheel is the multi-GB CUDA build): "
            "`pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`, or set up with "
            "`bash scripts/setup.sh`.")


def _torch_cuda_tag(cuda_driver: tuple[int, int] | None) -> str:
    if cuda_driver and cuda_driver >= (13, 0):
        return "cu130"
    if cuda_driver and cuda_driver >= (12, 8):
        return "cu128"
    return "cu126"


def _pip_extra(data: ProbeData, profile: Profile) -> str:
    extra = "gpu" if profile.needs_gpu else "cpu"
    if data.source_root:
        return f"`pip install -e '.[{extra}]'` in {data.source_root}"
    return f"`pip install 'olive-lab[{extra}]'`"


def _assess_gpu(data: ProbeData, profile: Profile) -> list[Finding]:
    nv, t = data.nvml, data.torch
    gpu = nv.gpu
    need = profile.needs_gpu
    # On the cpu profile a GPU problem only explains why the gpu profile was not chosen: never blocking.
    bad = BLOCKING if need else WARNING
    out: list[Finding] = []

    # gpu ------------------------------------------------------------------------------------------------------
    if gpu is None:
        what = f"No NVIDIA GPU found (NVML: {nv.error or 'not available'})" if not nv.available \
            else "NVML works but found no NVIDIA GPU"
        if need:
            out.append(Finding("gpu", "GPU", BLOCKING, f"{what}; the gpu profile needs one.",
                               "Run on a machine with an NVIDIA A10, A100 or newer (compute capability 8.0+, "
                               "CUDA 12+), or use the cpu profile (--profile cpu)."))
        else:
            out.append(Finding("gpu", "GPU", OK, f"{what}; the cpu profile does not need one."))
    else:
        detail = gpu.describe()
        if len(nv.gpus) > 1:
            detail += f" (GPU 0 of {len(nv.gpus)}: " + "; ".join(g.name for g in nv.gpus) + ")"
        if gpu.compute_capability < AWQ_MIN_COMPUTE_CAPABILITY:
            out.append(Finding("gpu", "GPU", bad, f"{detail}: older than the lab's A10/A100 (8.0+). AutoAWQ's "
                               "kernels need 7.5+ (Turing), there is no bf16, and flash-attention needs 8.0+.",
                               "Use the cpu profile (--profile cpu), or a machine with an A10, A100 or newer."))
        elif gpu.compute_capability < MIN_COMPUTE_CAPABILITY:
            out.append(Finding("gpu", "GPU", WARNING, f"{detail}: older than the lab's A10/A100 (8.0+): no bf16 "
                               "(the fine-tune must use float16), flash-attention needs 8.0+, AWQ runs slower.",
                               "Use the cpu profile, or the gpu profile with float16 "
                               "(`olive finetune --torch_dtype float16`)."))
        elif not gpu.vram_at_least(MIN_VRAM_GB):
            out.append(Finding("gpu", "GPU", WARNING, f"{detail}: less than {MIN_VRAM_GB} GB; the lab's LoRA step "
                               f"peaks at {LORA_PEAK_GIB} GiB (QLoRA {QLORA_PEAK_GIB} GiB).",
                               "Use the cpu profile, or lower --max_seq_len / the batch size when fine-tuning."))
        elif not gpu.vram_at_least(RECOMMENDED_VRAM_GB):
            sev = WARNING if need else OK
            out.append(Finding("gpu", "GPU", sev, f"{detail}: below the {RECOMMENDED_VRAM_GB} GB the lab asks for; "
                               f"LoRA peaks at {LORA_PEAK_GIB} GiB at the lab's batch (8 x 1024 tokens).",
                               "If the fine-tune runs out of memory, lower --max_seq_len or use QLoRA."
                               if sev != OK else ""))
        else:
            note = "" if need else " (the gpu profile could run here; the cpu profile was chosen)"
            out.append(Finding("gpu", "GPU", OK, f"{detail}{note}."))

    # driver -----------------------------------------------------------------------------------------------------
    driver_fix = "Update the NVIDIA driver to one that supports CUDA 12+ (R525+)."
    if not nv.available:
        if need:
            out.append(Finding("driver", "NVIDIA driver", BLOCKING, f"No NVIDIA driver found (NVML: {nv.error}).",
                               "Install the NVIDIA driver R525 or newer (CUDA 12+) on a machine with an NVIDIA GPU."))
        else:
            out.append(Finding("driver", "NVIDIA driver", OK, "No NVIDIA driver; the cpu profile does not need one."))
    elif nv.cuda_driver is None:
        out.append(Finding("driver", "NVIDIA driver", bad if gpu else OK,
                           f"Driver {nv.driver_version or '?'}; NVML did not report the CUDA version it supports"
                           f"{f' ({nv.error})' if nv.error else ''}.", driver_fix if gpu else ""))
    elif nv.cuda_driver < MIN_DRIVER_CUDA:
        out.append(Finding("driver", "NVIDIA driver", bad if gpu else WARNING,
                           f"Driver {nv.driver_version} supports CUDA {nv.cuda_driver_text}; the lab needs CUDA 12+.",
                           driver_fix))
    else:
        out.append(Finding("driver", "NVIDIA driver", OK,
                           f"Driver {nv.driver_version} supports CUDA up to {nv.cuda_driver_text}."))

    # cuda: torch's CUDA build beside the driver's -------------------------------------------------------------------
    driver_cuda = nv.cuda_driver_text or "none"
    torch_cuda = f"CUDA {t.cuda}" if t.cuda else "CPU build"
    side = f"torch {t.version or '?'} ({torch_cuda}); driver CUDA {driver_cuda}"
    if not t.version:
        out.append(Finding("cuda", "CUDA", WARNING if need else OK,
                           f"Unknown: torch did not load ({t.error or 'not installed'}); driver CUDA {driver_cuda}.",
                           "See the torch line." if need else ""))
    elif gpu is None:
        if need and not t.cuda:
            out.append(Finding("cuda", "CUDA", BLOCKING,
                               f"{side}: a CPU build of torch cannot run the gpu profile.",
                               _torch_install_fix(data, profile)))
        elif need:
            out.append(Finding("cuda", "CUDA", WARNING, f"{side}: no GPU for torch to use.",
                               "See the GPU line."))
        else:
            out.append(Finding("cuda", "CUDA", OK, f"{side}: the cpu profile does not use CUDA."))
    elif not t.cuda:
        out.append(Finding("cuda", "CUDA", bad,
                           f"{side}: this torch cannot use the {gpu.name}.", _torch_install_fix(data, profile)))
    elif nv.cuda_driver and version_tuple(t.cuda)[:1] > nv.cuda_driver[:1]:
        out.append(Finding("cuda", "CUDA", bad,
                           f"{side}: torch is built for a newer CUDA than the driver supports.",
                           f"Update the NVIDIA driver, or install a torch built for CUDA {nv.cuda_driver[0]}: "
                           f"`pip install torch --index-url https://download.pytorch.org/whl/"
                           f"{_torch_cuda_tag(nv.cuda_driver)}`."))
    elif not t.cuda_available:
        why = f" ({t.warning})" if t.warning else ""
        out.append(Finding("cuda", "CUDA", bad,
                           f"{side}: torch.cuda.is_available() is False{why}.",
                           "Check that the driver works (`nvidia-smi`), that CUDA_VISIBLE_DEVICES does not hide the "
                           "GPU, and that torch's CUDA build matches the driver."))
    else:
        out.append(Finding("cuda", "CUDA", OK,
                           f"{side}; torch sees {t.device_count} GPU{'s' if t.device_count != 1 else ''}."))

    # bf16 -------------------------------------------------------------------------------------------------------
    if gpu is None:
        if need:
            out.append(Finding("bf16", "bf16", WARNING, "Unknown without a GPU.", "See the GPU line."))
        else:
            out.append(Finding("bf16", "bf16", OK, "Not needed: the cpu profile trains in float32."))
    elif gpu.compute_capability >= (8, 0):
        out.append(Finding("bf16", "bf16", OK, f"Supported (compute capability {gpu.cc} >= 8.0)."))
    else:
        out.append(Finding("bf16", "bf16", WARNING if need else OK,
                           f"Not supported (compute capability {gpu.cc} < 8.0): `olive finetune` defaults to "
                           "bfloat16, so the fine-tune must use float16."
                           + ("" if need else " The cpu profile trains in float32."),
                           "Fine-tune with `--torch_dtype float16` (and eager attention)." if need else ""))
    return out


def _assess_torch(data: ProbeData, profile: Profile) -> Finding:
    t = data.torch
    if t.version:
        cuda = f"built for CUDA {t.cuda}" if t.cuda else "CPU build"
        return Finding("torch", "torch", OK, f"torch {t.version} ({cuda}), imported in {t.elapsed_s:.1f} s.")
    if t.timed_out:
        return Finding("torch", "torch", WARNING, f"Importing torch {t.error.split(': ', 1)[-1]}.",
                       "Run the check again (the first import after an install compiles files); if it stays slow, "
                       "reinstall torch.")
    if not t.installed:
        return Finding("torch", "torch", BLOCKING, "torch is not installed; every Olive step needs it.",
                       _torch_install_fix(data, profile) + f" Then run {_pip_extra(data, profile)}.")
    return Finding("torch", "torch", BLOCKING, f"torch is installed but does not import: {t.error}",
                   "Reinstall torch: " + _torch_install_fix(data, profile))


def _genai_lib_fix(lib: str) -> str:
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
    found = _find_in_nvidia_wheels(lib)
    if found:
        return (f"{lib} is already at {found} but not on the loader path: "
                f"`export LD_LIBRARY_PATH={found}:$LD_LIBRARY_PATH`. (onnxruntime uses the system's CUDA and "
                "cuDNN; PyTorch bundles its own.)")
    return (f"{what}, then add its lib folder to LD_LIBRARY_PATH (onnxruntime uses the system's CUDA and cuDNN; "
            "PyTorch bundles its own). Or use the CPU package `onnxruntime-genai==0.14.1`: the lab's chat runs on "
            "the CPU.")


def _find_in_nvidia_wheels(lib: str) -> str | None:
    """A folder of pip's nvidia-* wheels that holds `lib` (so only LD_LIBRARY_PATH is missing), or None."""
    for entry in sys.path:
        base = Path(entry) / "nvidia"
        if not base.is_dir():
            continue
        try:
            for libdir in base.glob("*/lib"):
                if (libdir / lib).exists():
                    return str(libdir)
        except OSError:
            continue
    return None


def _assess_genai(data: ProbeData, profile: Profile) -> Finding:
    g = data.genai
    ort_version = g.ort_version or data.packages.get("onnxruntime")
    if g.imported:
        detail = f"onnxruntime-genai {g.version or data.packages.get('onnxruntime-genai') or '?'} imports"
        providers = ", ".join(p.replace("ExecutionProvider", "") for p in g.ort_providers) or "?"
        if ort_version:
            detail += f"; onnxruntime {ort_version} (providers: {providers})"
        if not ort_version:
            return Finding("ortgenai", "onnxruntime-genai", BLOCKING,
                           f"{detail}, but onnxruntime does not ({g.ort_error or 'not installed'}).",
                           "Run `pip install 'onnxruntime>=1.32'`.")
        if version_tuple(ort_version) < (1, 32):
            return Finding("ortgenai", "onnxruntime-genai", BLOCKING,
                           f"{detail}: onnxruntime older than 1.32 crashes beside onnxruntime-genai 0.14.1 when the "
                           "chat runs with the adapter off.",
                           "Run `pip install 'onnxruntime>=1.32'`.")
        return Finding("ortgenai", "onnxruntime-genai", OK, detail + ".")
    ort_note = ""
    if ort_version:
        ort_note = f" (onnxruntime {ort_version}"
        ort_note += ", older than the 1.32 it needs)" if version_tuple(ort_version) < (1, 32) else ")"
    if g.timed_out:
        return Finding("ortgenai", "onnxruntime-genai", WARNING,
                       f"Importing onnxruntime-genai {g.error.split(': ', 1)[-1]}.",
                       "Run the check again; if it stays slow, reinstall onnxruntime-genai.")
    if not g.installed:
        return Finding("ortgenai", "onnxruntime-genai", BLOCKING,
                       f"onnxruntime-genai is not installed{ort_note}; the optimize step (model builder) and the "
                       "chat need it.",
                       f"Run {_pip_extra(data, profile)}.")
    lib = g.missing_lib or missing_shared_library(g.error)
    if lib:
        return Finding("ortgenai", "onnxruntime-genai", BLOCKING,
                       f"onnxruntime-genai does not import: {lib} is missing ({_last_line(g.error)[:200]}).",
                       _genai_lib_fix(lib))
    return Finding("ortgenai", "onnxruntime-genai", BLOCKING,
                   f"onnxruntime-genai does not import: {_last_line(g.error)[:300]}",
                   "Reinstall it: `pip install --force-reinstall onnxruntime-genai==0.14.1`.")


def _assess_python(data: ProbeData, profile: Profile) -> Finding:
    v = data.python_version
    text = ".".join(map(str, v))
    if tuple(v[:2]) < PYTHON_MIN:
        return Finding("python", "Python", BLOCKING, f"Python {text}; Olive Lab needs 3.11 or newer.",
                       "Create the environment with Python 3.11: `python3.11 -m venv .venv`.")
    if tuple(v[:2]) not in PYTHONS_LOCKED:
        locked = " and ".join(".".join(map(str, p)) for p in PYTHONS_LOCKED)
        return Finding("python", "Python", WARNING,
                       f"Python {text}: the lab's stack is locked and tested for Python {locked} only, so setup "
                       "has no lock for this one and the packages pip picks are untested.",
                       f"Create the environment with Python {locked.split(' and ')[-1]}: "
                       f"`PYTHON=python{locked.split(' and ')[-1]} bash scripts/setup.sh` (after removing .venv).")
    where = f" at {data.python_executable}" if data.python_executable else ""
    return Finding("python", "Python", OK, f"Python {text}{where}.")


def _assess_flow(data: ProbeData, profile: Profile) -> list[Finding]:
    """On the gpu profile: the flow that will run, and how to get the lab's faithful AWQ flow when it is not it."""
    if not profile.needs_gpu or data.gpu_flow is None:
        return []
    name, why, ready = data.gpu_flow
    if ready:
        return [Finding("flow", "GPU flow", OK, f"{name} ({why}).")]
    return [Finding("flow", "GPU flow", WARNING, f"{name}: {why}.",
                    "Run `olive-lab setup --profile gpu` to make the pinned AWQ environment; until then the lab "
                    "fine-tunes the float model and RTN stands in for AWQ.")]


def _assess_packages(data: ProbeData, profile: Profile) -> Finding:
    pk = data.packages
    shown = []
    for name in PACKAGES:
        v = pk.get(name)
        dist = data.package_dists.get(name, name)
        shown.append(f"{dist} {v}" if v else f"{dist} missing")
    problems: list[tuple[str, str, str]] = []  # (severity, what, fix)

    missing = [n for n in REQUIRED_PACKAGES if not pk.get(n)]
    if missing:
        fix = f"Run {_pip_extra(data, profile)}."
        if "torch" in missing:
            fix = _torch_install_fix(data, profile) + f" Then run {_pip_extra(data, profile)}."
        problems.append((BLOCKING, "the lab needs " + ", ".join(missing), fix))
    if not pk.get("textual"):
        problems.append((WARNING, "the wizard's screens need textual (the headless CLI works without it)",
                         "Run `pip install textual==8.2.8`."))

    olive = version_tuple(pk.get("olive-ai"))
    if olive and olive[:2] < (0, 13):
        problems.append((BLOCKING, f"olive-ai {pk['olive-ai']} predates the commands the lab uses (0.13 moved AWQ "
                         "behind --implementation awq and adds `olive optimize`)",
                         "Run `pip install olive-ai==0.13.0`."))
    elif olive and olive[:3] != (0, 13, 0):
        problems.append((WARNING, f"olive-ai {pk['olive-ai']} is not the verified 0.13.0",
                         "Run `pip install olive-ai==0.13.0`."))

    genai = version_tuple(pk.get("onnxruntime-genai"))
    if genai and genai[:2] >= (0, 15):
        problems.append((BLOCKING, f"onnxruntime-genai {pk['onnxruntime-genai']}: 0.15 and newer break Olive "
                         "0.13's model builder (the optimize step)", "Run `pip install onnxruntime-genai==0.14.1`."))
    elif genai and genai[:3] != (0, 14, 1):
        problems.append((WARNING, f"onnxruntime-genai {pk['onnxruntime-genai']} is not the verified 0.14.1",
                         "Run `pip install onnxruntime-genai==0.14.1`."))

    tf = version_tuple(pk.get("transformers"))
    if tf and tf[:2] < (4, 57):
        problems.append((BLOCKING, f"transformers {pk['transformers']}: onnxruntime-genai 0.14.1's model builder "
                         "needs 4.57 or newer (5.x verified)", "Run `pip install 'transformers>=5.17,<6'`."))
    elif tf and tf[0] != 5:
        problems.append((WARNING, f"transformers {pk['transformers']} is not the verified 5.x",
                         "Run `pip install 'transformers>=5.17,<6'`."))

    peft = version_tuple(pk.get("peft"))
    if peft and peft[:2] != (0, 21):
        problems.append((WARNING, f"peft {pk['peft']} is not the verified 0.21.x",
                         "Run `pip install 'peft>=0.21,<0.22'`."))

    detail = ", ".join(shown)
    if not problems:
        return Finding("packages", "Packages", OK, detail + " (matches the pinned stack).")
    severity = max((p[0] for p in problems), key=_RANK.__getitem__)
    said = "; ".join(p[1] for p in problems)
    detail += ". " + said[0].upper() + said[1:] + "."
    fix = " ".join(dict.fromkeys(p[2] for p in problems))
    return Finding("packages", "Packages", severity, detail, fix)


def _assess_disk(data: ProbeData, profile: Profile) -> Finding:
    d = data.disk
    if d.free_bytes is None:
        return Finding("disk", "Disk", WARNING, f"Could not read the free space in {d.path}: {d.error}",
                       "Check that the work folder is on a mounted, readable disk.")
    free_gib = d.free_bytes / GIB
    peak = LAB_PEAK_GIB.get(profile.name, profile.disk_gb)
    present = d.present_bytes / GIB
    need = max(peak - present, 0.0)
    detail = (f"{free_gib:.1f} GiB free in {d.path}; the {profile.name} lab writes about {peak:.1f} GiB at its peak"
              + (f", {present:.1f} GiB of it already there (models, caches), so it still needs about {need:.1f} GiB"
                 if present >= 0.05 else ""))
    if free_gib < need:
        return Finding("disk", "Disk", BLOCKING, detail + ".",
                       f"Free {need - free_gib:.1f} GiB or more, or pick a work folder on a bigger disk "
                       "(--workdir).")
    return Finding("disk", "Disk", OK, detail + ".")


def _assess_ram(data: ProbeData, profile: Profile) -> Finding:
    r = data.ram
    if r.total_bytes is None:
        return Finding("ram", "RAM", WARNING, f"Could not read the memory size: {r.error}", "")
    total = r.total_bytes / GIB
    avail = f" ({r.available_bytes / GIB:.1f} GiB available)" if r.available_bytes is not None else ""
    detail = f"{total:.1f} GiB RAM{avail}; the {profile.name} profile needs about {profile.ram_gb:g} GiB"
    if profile.needs_gpu:
        detail += " (the optimize step peaks at ~33 GiB at full size)"
    if total < profile.ram_gb:
        return Finding("ram", "RAM", WARNING, detail + ".",
                       "Use a machine with more memory, or add swap; a step that runs out is killed by the system.")
    if r.available_bytes is not None and r.available_bytes / GIB < profile.ram_gb:
        return Finding("ram", "RAM", WARNING, detail + ": other programs hold the rest.",
                       "Close other programs before the optimize step.")
    return Finding("ram", "RAM", OK, detail + ".")


def _assess_azure(data: ProbeData, profile: Profile) -> Finding:
    a = data.azure
    ways = []
    if a.logged_in:
        who = f" as {a.user}" if a.user else ""
        ways.append(f"Azure CLI signed in{who}; default subscription '{a.subscription_name}' ({a.subscription_id})")
    if a.managed_identity:
        ways.append("a managed identity is available (MSI_ENDPOINT/IDENTITY_ENDPOINT)")
    if a.service_principal:
        ways.append("a service principal is set in the environment (AZURE_CLIENT_ID/AZURE_TENANT_ID)")
    extras = []
    extras.append(f"az at {a.az_path}" if a.az_path else "az not on PATH")
    extras.append(f"azure-ai-ml {a.sdk_version}" if a.sdk_version else "azure-ai-ml not installed")
    fixes = []
    if a.legacy_ml_extension:
        extras.append("the old azure-cli-ml extension is installed")
        fixes.append("Remove the old extension: `az extension remove -n azure-cli-ml`.")
    if not a.sdk_version:
        fixes.append("For the upload: `pip install -e '.[azure]'`." if data.source_root
                     else "For the upload: `pip install 'olive-lab[azure]'`.")
    if a.error:
        extras.append(a.error)
    tail = "; ".join(extras)
    if ways:
        return Finding("azure", "Azure login", WARNING if fixes else OK, "; ".join(ways + [tail]) + ".",
                       " ".join(fixes))
    state = "Not signed in" if a.profile_found else f"Not signed in (no {Path(a.config_dir) / 'azureProfile.json'})"
    login = "`az login --use-device-code`" if a.az_path else \
        "install the Azure CLI, then `az login --use-device-code`"
    return Finding("azure", "Azure login", WARNING,
                   f"{state}; {tail}. Only the upload step needs it.",
                   " ".join([f"Before uploading: {login}."] + fixes))


def assess(data: ProbeData, profile: Profile | str) -> list[Finding]:
    """The findings for `profile` on the machine `data` describes, in FINDING_KEYS order."""
    if isinstance(profile, str):
        profile = PROFILES[profile]
    findings = _assess_gpu(data, profile)
    findings += [
        _assess_torch(data, profile),
        _assess_genai(data, profile),
        _assess_python(data, profile),
        _assess_packages(data, profile),
        *_assess_flow(data, profile),
        _assess_disk(data, profile),
        _assess_ram(data, profile),
        _assess_azure(data, profile),
    ]
    order = {k: i for i, k in enumerate(FINDING_KEYS)}
    return sorted(findings, key=lambda f: order.get(f.key, len(order)))


def report_from(data: ProbeData, profile_name: str | None = None, *, workdir: str = ".",
                elapsed_s: float = 0.0) -> CheckReport:
    """Choose (or take) the profile and assess `data` for it."""
    auto, reason = choose_profile(data)
    forced = profile_name is not None
    profile = profile_name or auto
    if profile not in PROFILES:
        raise ValueError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    if forced:
        if profile == auto:
            reason = f"Chosen with --profile {profile}; the check agrees: {reason}"
        else:
            reason = f"Chosen with --profile {profile}; the check would pick {auto}: {reason}"
    findings = assess(data, profile)
    return CheckReport(findings=findings, profile=profile, profile_reason=reason, auto_profile=auto,
                       profile_forced=forced, data=data, workdir=str(workdir), elapsed_s=elapsed_s)


def run_checks(workdir: str | os.PathLike = ".", profile_name: str | None = None, *,
               timeout: float = SUBPROCESS_TIMEOUT_S) -> CheckReport:
    """Probe this machine and assess it; `profile_name` forces a profile, else the check picks one."""
    t0 = time.monotonic()
    data = collect(workdir, timeout=timeout)
    path = str(Path(workdir).expanduser().absolute())
    return report_from(data, profile_name, workdir=path, elapsed_s=time.monotonic() - t0)
