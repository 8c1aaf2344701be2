"""Pinned per-step Python environments ("overlays") for the GPU flow, made by `olive-lab setup`.

Why: no single transformers version serves every step of the lab's real flow (shared/docs/gpu-pipeline.md,
F-G3..F-G6). AutoAWQ 0.2.9 (the AWQ step) and loading an AWQ checkpoint for LoRA (the finetune step on the AWQ
model) need transformers 4.x (<= 4.56) with peft <= 0.18.1, while onnxruntime-genai 0.14.1's model builder (the
optimize step) needs transformers >= 4.57 (5.x is the main environment's).

An overlay is a folder of exactly pinned packages installed with `pip install --no-deps --target`, from its hashed
lock `locks/<name>.txt` (scripts/lock.py writes it from the pins below; a bundle carries its own copy). A step runs
with the folder first on PYTHONPATH, so the pinned packages shadow the main environment's copies, and everything
else (torch, triton, olive, accelerate, datasets, ...) comes from the main environment. The overlay therefore
belongs to one main environment: it lives under `sys.prefix` (or `$OLIVE_LAB_ENVS`) and records which Python made it.

Olive's own mechanism for this, the PythonEnvironment system (olive/systems/python_environment), was considered:
it runs a pass with another interpreter through `run_subprocess(..., capture_output=True)`, so the pass's output
reaches the log only at its end and at DEBUG level (no live progress, loss or phases for the wizard), it logs the
whole environment on failure, the CLI commands (`olive finetune`, `olive quantize`) cannot select it, and it still
needs an environment with the pinned packages to exist. An overlay is that environment; running the step's
`olive` command under it keeps the live log.

    python -m olive_lab.steps.envs run NAME -- COMMAND ...    run COMMAND with overlay NAME (used in step argvs)
    python -m olive_lab.steps.envs status [NAME]              print what is installed and what is wrong
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import locks
from .folders import replace_folder

MARKER = "olive-lab-env.json"
ENVS_VAR = "OLIVE_LAB_ENVS"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_MISSING = 0, 1, 2, 5


@dataclass(frozen=True)
class Overlay:
    name: str
    purpose: str
    pins: tuple[str, ...]
    #: Distributions published only as an sdist: built here into a pure-Python wheel (autoawq 0.2.9 has no
    #: wheel on PyPI; without `autoawq-kernels` it runs on its triton kernels).
    sdist_only: tuple[str, ...] = ()
    #: module -> pin, installed into the overlay only when the main environment cannot import the module
    #: (datasets 5.0.1 imports `httpx`; a main environment on huggingface_hub 2.x has only `httpx2`).
    if_missing: tuple[tuple[str, str], ...] = ()
    #: imported under the overlay once it is made: a missing dependency shows at setup, not in a step.
    smoke_imports: tuple[str, ...] = ()
    steps: tuple[str, ...] = ()

    def versions(self) -> dict[str, str]:
        return {canonical(p.split("==")[0]): p.split("==")[1] for p in self.pins}


#: transformers 4.51.3: AutoAWQ 0.2.9 imports `transformers.activations.PytorchGELUTanh` (gone in 4.57.0) and
#: transformers 4.x loads AWQ checkpoints into AutoAWQ layers (5.x needs gptqmodel). tokenizers and huggingface_hub
#: are the versions transformers 4.51.3 accepts. peft 0.17.1: the last line whose `dispatch_awq` accepts AutoAWQ
#: layers (0.19+ accept only gptqmodel ones). datasets 5.0.1: newer 5.x import `huggingface_hub.errors.
#: BucketNotFoundError` (hub >= 1.6) at import time, so the main environment's datasets would fail under hub 0.36.2.
AWQ_TF4 = Overlay(
    name="awq-tf4",
    purpose="AWQ quantization and LoRA on the AWQ model (transformers 4.51.3 + AutoAWQ + peft 0.17.1)",
    pins=("transformers==4.51.3", "tokenizers==0.21.4", "huggingface_hub==0.36.2", "autoawq==0.2.9",
          "peft==0.17.1", "datasets==5.0.1"),
    sdist_only=("autoawq",),
    if_missing=(("httpx", "httpx==0.28.1"), ("httpcore", "httpcore==1.0.9")),
    smoke_imports=("transformers", "peft", "awq", "datasets", "olive.passes.pytorch.autoawq",
                   "olive.passes.pytorch.lora"),
    steps=("quantize", "finetune"),
)

OVERLAYS = {o.name: o for o in (AWQ_TF4,)}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def envs_root() -> Path:
    """Where overlays live: `$OLIVE_LAB_ENVS`, else inside the main environment (they only fit that one)."""
    if os.environ.get(ENVS_VAR):
        return Path(os.environ[ENVS_VAR]).expanduser().resolve()
    return Path(sys.prefix) / "share" / "olive-lab" / "envs"


def overlay_dir(name: str) -> Path:
    return envs_root() / name


@dataclass
class OverlayStatus:
    name: str
    path: Path
    installed: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        if self.ready:
            return ", ".join(f"{k} {v}" for k, v in sorted(self.installed.items()))
        return "; ".join(self.problems)


def installed_versions(folder: Path) -> dict[str, str]:
    """Distribution name -> version, read from the `*.dist-info/METADATA` files in `folder` (nothing imported)."""
    found: dict[str, str] = {}
    for meta in folder.glob("*.dist-info/METADATA"):
        name = version = None
        with open(meta, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.startswith("Name:"):
                    name = line.split(":", 1)[1].strip()
                elif line.startswith("Version:"):
                    version = line.split(":", 1)[1].strip()
                elif not line.strip():
                    break
        if name and version:
            found[canonical(name)] = version
    return found


def inspect(name: str) -> OverlayStatus:
    """Whether overlay `name` is installed with exactly its pins, for this Python."""
    overlay = OVERLAYS[name]
    path = overlay_dir(name)
    status = OverlayStatus(name, path)
    if not path.is_dir():
        status.problems.append(f"not installed ({path} is missing): run `olive-lab setup --profile gpu`")
        return status
    status.installed = installed_versions(path)
    for dist, want in overlay.versions().items():
        have = status.installed.get(dist)
        if have != want:
            status.problems.append(f"{dist} {have or 'missing'} (needs {want})")
    try:
        marker = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        marker = {}
    made_for = marker.get("python")
    here = f"{sys.version_info.major}.{sys.version_info.minor}"
    if made_for and made_for != here:
        status.problems.append(f"made for Python {made_for}, this is {here}: run `olive-lab setup --force`")
    if status.problems:
        status.problems.append("run `olive-lab setup --profile gpu` to repair it")
    return status


def environ(name: str, base: dict[str, str] | None = None) -> dict[str, str]:
    """`base` (default: this process's environment) with overlay `name` first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    parts = [str(overlay_dir(name))] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    env["PYTHONPATH"] = os.pathsep.join(parts)
    return env


def wrap(name: str, argv: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """`argv` run under overlay `name`: what a step plan puts in its argv (copyable as a command line)."""
    return (sys.executable, "-m", "olive_lab.steps.envs", "run", name, "--", *argv)


def missing_modules(python: str, modules) -> list[str]:
    """Which of `modules` the main environment's `python` cannot find (nothing is imported)."""
    code = ("import importlib.util, sys\n"
            "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))")
    out = subprocess.run([python, "-c", code, *modules], capture_output=True, text=True)
    return out.stdout.split()


def overlay_lock(name: str, wheel_dir: Path | None = None) -> Path | None:
    """The overlay's hashed lock: a bundle's own copy (it names the wheels built into it), else locks/."""
    for folder in ([wheel_dir / "locks"] if wheel_dir is not None else []) + [locks.locks_dir()]:
        if (folder / f"{name}.txt").is_file():
            return folder / f"{name}.txt"
    return None


def pip_argv(overlay: Overlay, target: Path, wheel_dir: Path | None, python: str,
             requirements: Path | None = None) -> list[str]:
    """pip's argv for the overlay: `requirements` (a hashed lock) when given, else the bare pins."""
    argv = [python, "-m", "pip", "install", "--no-deps", "--no-compile", "--disable-pip-version-check",
            "--upgrade", "--target", str(target)]
    if wheel_dir is not None:
        argv += ["--no-index", "--find-links", str(wheel_dir)]
    if wheel_dir is not None and overlay.sdist_only and _has_setuptools(python):
        # offline, a bundle without the built wheel: build with the main environment's setuptools (no torch needed)
        argv.append("--no-build-isolation")
    if requirements is not None:
        return argv + ["--require-hashes", "-r", str(requirements)]
    extra = [pin for module, pin in overlay.if_missing if module in missing_modules(python, [module])]
    return argv + list(overlay.pins) + extra


def locked_requirements(overlay: Overlay, lock: Path, dest: Path, python: str) -> Path:
    """The overlay's lock entries that this main environment needs (its pins, and `if_missing` ones it lacks)."""
    header, entries = locks.read(lock)
    wanted = set(overlay.versions())
    wanted |= {canonical(pin.split("==")[0]) for module, pin in overlay.if_missing
               if module in missing_modules(python, [module])}
    return locks.write(dest, header, [e for e in entries if e.name in wanted])


def smoke_test(name: str, python: str | None = None) -> str:
    """'' if the overlay's key modules import under it, else the error's last line."""
    overlay = OVERLAYS[name]
    if not overlay.smoke_imports:
        return ""
    code = "import importlib, sys\nfor m in sys.argv[1:]: importlib.import_module(m)"
    env = environ(name)
    env.update({"HF_HUB_OFFLINE": "1", "TF_BUILD": "1", "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1"})
    out = subprocess.run([python or sys.executable, "-c", code, *overlay.smoke_imports], env=env,
                         capture_output=True, text=True)
    if out.returncode == 0:
        return ""
    lines = [ln for ln in out.stderr.strip().splitlines() if ln.strip()]
    return lines[-1] if lines else f"exit {out.returncode}"


def _has_setuptools(python: str) -> bool:
    return subprocess.run([python, "-c", "import setuptools"], capture_output=True).returncode == 0


def create(name: str, wheel_dir: Path | None = None, force: bool = False, python: str | None = None,
           log=print) -> OverlayStatus:
    """Install overlay `name` (atomically: into `<dir>.tmp-<pid>`, then renamed). Returns its status after."""
    overlay = OVERLAYS[name]
    path = overlay_dir(name)
    if not force and inspect(name).ready:
        log(f"{name}: already installed at {path}")
        return inspect(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.parent / f"{path.name}.tmp-{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    python = python or sys.executable
    lock = overlay_lock(name, wheel_dir)
    requirements = None
    if lock is not None:
        requirements = locked_requirements(overlay, lock, path.parent / f"{path.name}.req-{os.getpid()}.txt", python)
    argv = pip_argv(overlay, tmp, wheel_dir, python, requirements)
    log("$ " + " ".join(argv))
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in proc.stdout:  # live: the wizard's log view shows pip as it goes
        log("  " + line.rstrip("\n"))
    proc.wait()
    if requirements is not None:
        requirements.unlink(missing_ok=True)
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        status = OverlayStatus(name, path, problems=[f"pip failed (exit {proc.returncode}); see the lines above"])
        return status
    for junk in tmp.glob("bin"):  # console scripts would point at the overlay-less interpreter: not used
        shutil.rmtree(junk, ignore_errors=True)
    marker = {"name": name, "pins": list(overlay.pins), "python": f"{sys.version_info.major}.{sys.version_info.minor}",
              "main_prefix": sys.prefix, "created_at": time.time(), "seconds": round(time.monotonic() - t0, 1)}
    (tmp / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
    replace_folder(tmp, path)
    status = inspect(name)
    if status.ready and (error := smoke_test(name, python)):
        status.problems.append(f"imports fail under the overlay: {error}")
    log(f"{name}: {'ready' if status.ready else 'NOT ready'} at {path} ({marker['seconds']} s): {status.summary()}")
    return status


def run(name: str, argv: list[str]) -> int:
    """Exec `argv` with overlay `name` first on PYTHONPATH (same pid, so the runner's cancel reaches it)."""
    if name not in OVERLAYS:
        print(f"[olive-lab] error usage: unknown environment {name!r} (known: {', '.join(OVERLAYS)})", flush=True)
        return EXIT_USAGE
    status = inspect(name)
    if not status.ready:
        print(f"[olive-lab] error env: the {name} environment is not usable: {status.summary()}", flush=True)
        return EXIT_MISSING
    print(f"[olive-lab] env {name}: {status.summary()} ({status.path})", flush=True)
    env = environ(name)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        print(f"[olive-lab] error env: cannot start {argv[0]}: {exc}", flush=True)
        return EXIT_FAILED
    return EXIT_OK  # not reached


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"] and len(args) >= 3:
        name, rest = args[1], args[2:]
        if rest[:1] == ["--"]:
            rest = rest[1:]
        if not rest:
            print("usage: python -m olive_lab.steps.envs run NAME -- COMMAND ...", file=sys.stderr)
            return EXIT_USAGE
        return run(name, rest)
    if args[:1] == ["status"]:
        names = args[1:] or list(OVERLAYS)
        code = EXIT_OK
        for name in names:
            status = inspect(name)
            print(f"{name}: {'ready' if status.ready else 'not ready'} - {status.summary()} ({status.path})")
            code = code if status.ready else EXIT_MISSING
        return code
    print(__doc__.split("\n\n")[-1], file=sys.stderr)
    return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
