"""The machine check: can this machine run the lab, which profile fits it, and what to fix first.

Cut along its seams (each module's docstring says what it owns):

- `facts`: the probes' plain data (GpuInfo, NvmlProbe, ..., ProbeData) and the parsers of versions and errors;
- `probes`: the probes that fill it (`collect`), and `child`, the script that imports torch and
  onnxruntime-genai in a child process (a broken CUDA install cannot crash the front end, and the front end
  never pays torch's import);
- `assess`: pure: facts and a profile in, findings (`steps.findings.Finding`) out; `choose_profile`;
- `advice`: the fix texts that depend on the machine;
- `report`: CheckReport, its JSON (`olive-lab check --json`), and `run_checks`, which runs it all.

Only the standard library is imported at import time: pynvml and psutil are imported inside their probes.
The names below are the check's public ones; callers import them from here.
"""

from ..findings import BLOCKING, OK, WARNING, Finding
from .assess import FINDING_KEYS, assess, choose_profile
from .facts import (PACKAGES, AzureProbe, DiskProbe, GenaiProbe, GpuInfo, NvmlProbe, ProbeData, RamProbe,
                    TorchProbe, cuda_version_from_int, missing_shared_library, version_tuple)
from .probes import (SUBPROCESS_TIMEOUT_S, collect, probe_azure, probe_disk, probe_genai, probe_nvml,
                     probe_packages, probe_ram, probe_torch, run_in_child)
from .report import CheckReport, report_from, run_checks

#: The severities of the machine check's findings.
SEVERITIES = (OK, WARNING, BLOCKING)

__all__ = [
    "BLOCKING", "OK", "WARNING", "SEVERITIES", "Finding", "FINDING_KEYS", "assess", "choose_profile", "PACKAGES",
    "AzureProbe", "DiskProbe", "GenaiProbe", "GpuInfo", "NvmlProbe", "ProbeData", "RamProbe", "TorchProbe",
    "cuda_version_from_int", "missing_shared_library", "version_tuple", "SUBPROCESS_TIMEOUT_S", "collect",
    "probe_azure", "probe_disk", "probe_genai", "probe_nvml", "probe_packages", "probe_ram", "probe_torch",
    "run_in_child", "CheckReport", "report_from", "run_checks",
]
