"""A bundle: one folder with every wheel a profile's lock names (and the gpu overlay's), for rooms without good
Wi-Fi. A facilitator makes it once (`olive-lab bundle --profile gpu DIR`); each machine then sets up offline with
`bash scripts/lab.sh --from DIR` (pip --no-index --find-links DIR, hashes checked as from the index).

The folder holds the wheels, `locks/` (the locks it was made from, cut to what it holds when `only` is given;
the overlay's lock also accepts the autoawq wheel built here from its hashed sdist: its setup needs no torch), the
torch wheel(s) of the profile unless left out, and, on request, the base model folder under `model/`.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from . import envs, locks

#: PyTorch's CPU wheels: the CPU build without CUDA. Asked with a short timeout (an unreachable host may hang).
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
PROFILE_OVERLAYS = {"gpu": ("awq-tf4",), "cpu": ()}
PLATFORM = "manylinux_2_28_x86_64"


@dataclass
class Bundle:
    folder: Path
    files: list[Path] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def size_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())


def reachable(url: str, timeout: float = 5.0) -> bool:
    """Whether `url` answers within `timeout` s, asked in a child process killed after it (DNS can hang)."""
    code = f"import urllib.request as u; u.urlopen({url!r}, timeout={timeout})"
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=timeout + 3).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _pip(python: str, *args: str, log) -> int:
    argv = [python, "-m", "pip", "--disable-pip-version-check", *args]
    log("$ " + " ".join(argv))
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    for line in proc.stdout:
        if not line.startswith("WARNING: Location"):  # this machine's empty local indexes, once per package
            log("  " + line.rstrip("\n"))
    return proc.wait()


def _download(python: str, requirements: Path, dest: Path, target_python: str, log) -> int:
    return _pip(python, "download", "--no-deps", "--require-hashes", "-r", str(requirements), "-d", str(dest),
                "--python-version", target_python, "--platform", PLATFORM, "--platform", "manylinux2014_x86_64",
                "--platform", "linux_x86_64", "--implementation", "cp", log=log)


def make(profile: str, dest: Path, *, python: str | None = None, only: set[str] | None = None,
         with_torch: bool = True, model: Path | None = None, log=print) -> Bundle:
    """Fill `dest` with the `profile` lock's wheels for Python `python` (default: this one)."""
    python = python or locks.python_tag()
    dest = dest.resolve()
    bundle = Bundle(dest)
    lock = locks.lock_path(profile, python)
    if not lock.is_file():
        bundle.problems.append(f"no lock {lock}: this source tree has none for the {profile} profile on Python "
                               f"{python} (write it with `python scripts/lock.py`)")
        return bundle
    header, entries = locks.read(lock)
    if only is not None:
        unknown = sorted(only - {e.name for e in entries} - {"torch"})
        if unknown:
            bundle.problems.append(f"not in {lock.name}: {', '.join(unknown)}")
            return bundle
        entries = [e for e in entries if e.name in only]
        with_torch = with_torch and "torch" in only
    kept = locks.write(dest / "locks" / lock.name, header, entries)
    if entries and _download(sys.executable, kept, dest, python, log) != 0:
        bundle.problems.append(f"pip could not download every wheel of {lock.name} (see the lines above)")
    if with_torch and not _bundle_torch(profile, lock, dest, python, log):
        bundle.problems.append("pip could not download torch (see the lines above)")
    for name in PROFILE_OVERLAYS.get(profile, ()):
        _bundle_overlay(name, dest, bundle, log)
    if model is not None:
        target = dest / "model" / model.name
        shutil.copytree(model, target, dirs_exist_ok=True)
        log(f"model: {model} -> {target}")
    bundle.files = sorted(p for p in dest.iterdir() if p.is_file())
    return bundle


def _bundle_torch(profile: str, lock: Path, dest: Path, python: str, log) -> bool:
    """torch of the lock's version: the CPU build for cpu (PyTorch's CPU index if it answers), with its CUDA
    runtime wheels for gpu (the default index's build)."""
    pin = f"torch=={locks.torch_version(lock)}"
    args = ["download", pin, "-d", str(dest), "--python-version", python, "--platform", PLATFORM,
            "--implementation", "cp", "--only-binary", ":all:"]
    if profile == "cpu":
        args.append("--no-deps")
        if reachable(TORCH_CPU_INDEX + "/torch/"):
            args += ["--index-url", TORCH_CPU_INDEX]
        else:
            log(f"torch: {TORCH_CPU_INDEX} did not answer; taking {pin} from the default index")
    return _pip(sys.executable, *args, log=log) == 0


def _bundle_overlay(name: str, dest: Path, bundle: Bundle, log) -> None:
    """The overlay's locked files, with each sdist-only package built into a wheel here (autoawq: no torch)."""
    overlay = envs.OVERLAYS[name]
    lock = envs.overlay_lock(name)
    if lock is None:
        bundle.problems.append(f"no lock for the {name} overlay in {locks.locks_dir()}")
        return
    if _pip(sys.executable, "download", "--no-deps", "--require-hashes", "-r", str(lock), "-d", str(dest),
            log=log) != 0:
        bundle.problems.append(f"pip could not download the {name} overlay's files (see the lines above)")
        return
    header, entries = locks.read(lock)
    for dist in overlay.sdist_only:
        entry = next(e for e in entries if e.name == dist)
        sdists = list(dest.glob(f"{dist}-{entry.version}.tar.gz"))
        built = Path(dest / ".build")
        # built in pip's isolated build environment (fresh setuptools, no torch: autoawq's setup needs none)
        if not sdists or _pip(sys.executable, "wheel", "--no-deps", str(sdists[0]), "-w", str(built),
                              log=log) != 0:
            bundle.problems.append(f"could not build {dist} {entry.version} into a wheel (see the lines above)")
            continue
        for wheel in built.glob("*.whl"):
            shutil.move(str(wheel), dest / wheel.name)
            digest = hashlib.sha256((dest / wheel.name).read_bytes()).hexdigest()
            entries = [locks.with_extra_hash(e, digest) if e is entry else e for e in entries]
            log(f"{dist}: built {wheel.name} (sha256 {digest[:12]}...)")
        shutil.rmtree(built, ignore_errors=True)
    locks.write(dest / "locks" / lock.name, header, entries)

