"""The machine check's report: the findings for the chosen profile, why that profile, and the probes' data, as
the front ends show it and as `olive-lab check --json` prints it (`CheckReport.to_dict`, stable keys).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from ..findings import Finding, blocking_of, warnings_of
from ..profiles import PROFILES
from .assess import assess, choose_profile
from .facts import GpuInfo, ProbeData
from .probes import SUBPROCESS_TIMEOUT_S, collect


def finding_dict(f: Finding) -> dict:
    """One finding of `olive-lab check --json`: key, title, severity, detail, fix."""
    return {"key": f.key, "title": f.title, "severity": f.severity, "detail": f.detail, "fix": f.fix}


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
        return blocking_of(self.findings)

    @property
    def warnings(self) -> list[Finding]:
        return warnings_of(self.findings)

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
            "findings": [finding_dict(f) for f in self.findings],
            "gpu": self.gpu.to_dict() if self.gpu else None,
            "workdir": self.workdir,
            "elapsed_s": round(self.elapsed_s, 3),
            "probes": self.data.to_dict(),
        }


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
