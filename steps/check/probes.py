"""The machine check's probes: each gathers plain data about this machine (`facts`) and none raises.

GPU via NVML, torch and onnxruntime-genai in a child process (`child`), package versions from their metadata,
disk, RAM, Azure sign-in state from files. pynvml and psutil are imported inside their probes, so importing this
module stays light.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .child import MARKER
from .facts import (LAB_WRITES, PACKAGES, AzureProbe, DiskProbe, GenaiProbe, GpuInfo, NvmlProbe, ProbeData,
                    RamProbe, TorchProbe, cuda_version_from_int, last_line, missing_shared_library)

SUBPROCESS_TIMEOUT_S = 30.0
#: The child's file, run by path with -P (safe path: neither its folder nor the working folder shadows a package).
CHILD = Path(__file__).with_name("child.py")


def _child_args(probe: str) -> list[str]:
    return ["-P", str(CHILD), probe]


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

def run_in_child(args: list[str], timeout: float) -> tuple[dict | None, str, bool, float]:
    """Run this Python with `args` in a fresh process; returns (the JSON it printed after MARKER or None,
    stderr/explanation, timed_out, seconds)."""
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    t0 = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=timeout,
                              env=env, stdin=subprocess.DEVNULL, errors="replace")
    except subprocess.TimeoutExpired:
        return None, f"did not finish within {timeout:.0f} s", True, time.monotonic() - t0
    except OSError as exc:
        return None, str(exc), False, time.monotonic() - t0
    elapsed = time.monotonic() - t0
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            try:
                return json.loads(line[len(MARKER):]), proc.stderr, False, elapsed
            except json.JSONDecodeError:
                break
    why = last_line(proc.stderr) or f"exit code {proc.returncode}"
    if proc.returncode < 0:
        why = f"killed by signal {-proc.returncode} ({why})"
    return None, why, False, elapsed


def probe_torch(timeout: float = SUBPROCESS_TIMEOUT_S) -> TorchProbe:
    """torch's version, the CUDA it was built for and whether it can use a GPU, from a child process."""
    out, err, timed_out, elapsed = run_in_child(_child_args("torch"), timeout)
    if out is None:
        return TorchProbe(installed=_dist_version("torch") is not None, error=f"the torch probe failed: {err}",
                          timed_out=timed_out, elapsed_s=elapsed)
    return TorchProbe(installed=bool(out.get("installed")), version=out.get("version"), cuda=out.get("cuda"),
                      cuda_available=bool(out.get("cuda_available")), device_count=int(out.get("device_count") or 0),
                      error=out.get("error", ""), warning=(out.get("warning") or "").strip(), elapsed_s=elapsed)


def probe_genai(timeout: float = SUBPROCESS_TIMEOUT_S) -> GenaiProbe:
    """Whether onnxruntime-genai imports (naming a missing .so when not) and onnxruntime's version, in a child."""
    installed = any(_dist_version(d) for d in PACKAGES["onnxruntime-genai"])
    out, err, timed_out, elapsed = run_in_child(_child_args("genai"), timeout)
    if out is None:
        error = f"the onnxruntime-genai probe failed: {err}"
        lib = missing_shared_library(err)
        return GenaiProbe(installed=installed, error=error, missing_lib=lib,
                          missing_lib_folder=lib and find_in_nvidia_wheels(lib), timed_out=timed_out,
                          elapsed_s=elapsed)
    error = out.get("error", "")
    lib = missing_shared_library(error)
    return GenaiProbe(installed=installed, imported=bool(out.get("imported")), version=out.get("version"),
                      error=error, missing_lib=lib, missing_lib_folder=lib and find_in_nvidia_wheels(lib),
                      ort_version=out.get("ort_version"), ort_providers=list(out.get("ort_providers") or []),
                      ort_error=out.get("ort_error", ""), elapsed_s=elapsed)


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
    root = Path(__file__).resolve().parents[2]
    return str(root) if (root / "pyproject.toml").is_file() and (root / "cli" / "cli.py").is_file() else None


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
    from ..flows import gpu_flow

    flow = gpu_flow()
    return flow.name, flow.reason, flow.overlay_ready


def find_in_nvidia_wheels(lib: str) -> str | None:
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
