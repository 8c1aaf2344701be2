#!/usr/bin/env python3
"""Write locks/: the exact, hashed environment of each profile (cpu, gpu) for each supported Python, and the
awq-tf4 overlay's, all from pyproject.toml's direct requirements. Run it after changing a requirement:

    python scripts/lock.py            # needs uv (`pip install uv`): it resolves for a Python it does not run on
    python scripts/lock.py --check    # exit 1 if a lock is older than pyproject.toml's requirements (CI-cheap)

Why uv: it resolves for another Python version and platform without that interpreter (`--python-version`,
`--python-platform`), writes sha256 hashes, and takes a few seconds (pip-tools needs each interpreter and a
minute per lock). The locks are plain requirements files, so pip installs them (`pip install --no-deps
--require-hashes -r ...`) and honours the machine's own pip settings; uv is only needed to write them.

uv does not read pip's configuration, so the machine's extra indexes, find-links and constraints
(`pip config list`) are passed to it as flags, with pip's rule of taking the best version from any index.

torch is resolved (so its CPU build's dependencies are locked) but not written: setup installs it in its own step
from the index that fits the machine, because the CPU and CUDA builds are different files of one version and a
hash can only name one. Its CUDA-only dependencies (nvidia-*, triton, cuda-*) are left out of the cpu and gpu
locks for the same reason; the torch step brings them where it installs a CUDA build. The pinned torch version is
the `# torch==` line at the top of each lock.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCKS = ROOT / "locks"
PLATFORM = "x86_64-manylinux_2_28"
CUDA_ONLY = re.compile(r"^(nvidia-.*|triton|cuda-.*)$")
DIGEST_PREFIX = "# inputs-sha256: "


def lock_name(profile: str, python: str) -> str:
    return f"{profile}-py{python}.txt"


def settings() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def inputs_digest(config: dict) -> str:
    """A digest of everything a lock is made from, so --check can tell a stale lock without resolving."""
    project = config["project"]
    relevant = repr((project["dependencies"], project["optional-dependencies"], config["tool"]["olive-lab"]["lock"],
                     overlay_pins()))
    return hashlib.sha256(relevant.encode()).hexdigest()[:16]


def overlay_pins() -> dict[str, list[str]]:
    """The overlays' pins, read from steps/envs.py (one place for them) without importing the package."""
    sys.path.insert(0, str(ROOT))
    envs = importlib.import_module("steps.envs")  # the source folder of olive_lab.steps; stdlib-only imports
    return {name: list(o.pins) + [pin for _, pin in o.if_missing] for name, o in envs.OVERLAYS.items()}


def pip_settings_as_uv_flags() -> list[str]:
    """This machine's pip settings (extra indexes, find-links, constraints) as uv flags: uv does not read them."""
    out = subprocess.run([sys.executable, "-m", "pip", "config", "list"], capture_output=True, text=True).stdout
    flags = ["--index-strategy", "unsafe-best-match"]  # pip's rule: the best version from any index
    for line in out.splitlines():
        key, _, value = line.partition("=")
        values = value.strip().strip("'\"").split()
        option = key.rsplit(".", 1)[-1]
        if option == "index-url":
            flags += ["--index-url", values[0]]
        elif option == "extra-index-url":
            for v in values:
                flags += ["--extra-index-url", v]
        elif option == "find-links":
            for v in values:
                flags += ["--find-links", v]
        elif option == "constraint":
            for v in values:
                flags += ["--constraint", v]
    return _dedupe_pairs(flags)


def _dedupe_pairs(flags: list[str]) -> list[str]:
    """`pip config list` shows a value once per scope (env, global): keep each (flag, value) pair once."""
    pairs = list(dict.fromkeys(zip(flags[::2], flags[1::2])))
    return [x for pair in pairs for x in pair]


def uv() -> str:
    found = shutil.which("uv") or str(Path(sys.executable).with_name("uv"))
    if not Path(found).exists():
        sys.exit("scripts/lock.py needs uv: `pip install uv` (only to write the locks; installing needs pip only)")
    return found


def compile_(requirements: list[str], python: str, extra: list[str], workdir: Path) -> str:
    """`uv pip compile` of `requirements` for Linux x86_64 and `python`; returns the requirements text."""
    infile = workdir / "in.txt"
    infile.write_text("\n".join(requirements) + "\n", encoding="utf-8")
    argv = [uv(), "pip", "compile", str(infile), "--python-version", python, "--python-platform", PLATFORM,
            "--generate-hashes", "--no-header", "--quiet", *pip_settings_as_uv_flags(), *extra]
    proc = subprocess.run(argv, capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        sys.exit(f"uv pip compile failed for {requirements} on Python {python}:\n{proc.stderr}")
    # no temporary path in the committed file
    return (proc.stdout.replace(f"-r {infile}", "pyproject.toml")
            .replace(f"-c {workdir / 'verified.txt'}", "pyproject.toml (verified)"))


def names(text: str) -> list[str]:
    return re.findall(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==", text, flags=re.M)


def lock_profile(profile: str, python: str, config: dict, workdir: Path) -> str:
    lock_cfg = config["tool"]["olive-lab"]["lock"]
    torch_pin = f"torch=={lock_cfg['torch'][profile]}"
    cuda_only = [n for n in names(compile_([torch_pin], python, [], workdir)) if CUDA_ONLY.match(n)]
    excludes = workdir / "excludes.txt"
    excludes.write_text("\n".join(cuda_only) + "\n", encoding="utf-8")
    verified = workdir / "verified.txt"
    verified.write_text("\n".join(lock_cfg["verified"].get(profile, [])) + "\n", encoding="utf-8")
    extras = ",".join([profile, *lock_cfg["extras"]])
    main = compile_([f"-e {ROOT}[{extras}]", torch_pin], python,
                    ["--excludes", str(excludes), "--constraint", str(verified), "--no-emit-package", "torch",
                     "--no-emit-package", "olive-lab"], workdir)
    main = re.sub(r"^-e .*\n", "", main, flags=re.M)
    no_deps = lock_cfg["no-deps"].get(profile, [])
    tail = ""
    if no_deps:
        tail = ("# installed without their declared dependencies (pyproject.toml [tool.olive-lab.lock] no-deps)\n"
                + compile_(no_deps, python, ["--no-deps"], workdir))
    head = (f"# The {profile} profile's environment for Python {python} on Linux x86_64: written by scripts/lock.py "
            f"from pyproject.toml, do not edit.\n"
            f"# Install: pip install --no-deps --require-hashes -r this-file (scripts/setup.sh does).\n"
            f"{DIGEST_PREFIX}{inputs_digest(config)}\n"
            f"# {torch_pin}  installed first, in its own step, from the index that fits the machine (not hashed)\n")
    return head + main + tail


def lock_overlays(config: dict, workdir: Path) -> dict[str, str]:
    out = {}
    for name, pins in overlay_pins().items():
        body = compile_(pins, "3.11", ["--no-deps"], workdir)
        out[f"{name}.txt"] = (f"# The {name} overlay (steps/envs.py), installed with pip --no-deps --target: "
                              f"written by scripts/lock.py, do not edit.\n"
                              f"{DIGEST_PREFIX}{inputs_digest(config)}\n" + body)
    return out


def stale_locks(config: dict) -> list[str]:
    """Locks missing or made from other inputs than pyproject.toml's and steps/envs.py's current ones."""
    want = f"{DIGEST_PREFIX}{inputs_digest(config)}"
    lock_cfg = config["tool"]["olive-lab"]["lock"]
    expected = [lock_name(p, v) for p in lock_cfg["torch"] for v in lock_cfg["pythons"]]
    expected += [f"{name}.txt" for name in overlay_pins()]
    return [f for f in expected if not (LOCKS / f).exists() or want not in (LOCKS / f).read_text(encoding="utf-8")]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="only say whether the locks are up to date")
    args = parser.parse_args()
    config = settings()
    if args.check:
        stale = stale_locks(config)
        for f in stale:
            print(f"locks/{f} is missing or older than pyproject.toml: run `python scripts/lock.py`")
        return 1 if stale else 0
    LOCKS.mkdir(exist_ok=True)
    lock_cfg = config["tool"]["olive-lab"]["lock"]
    with tempfile.TemporaryDirectory() as tmp:
        files = {lock_name(p, v): lock_profile(p, v, config, Path(tmp))
                 for p in lock_cfg["torch"] for v in lock_cfg["pythons"]}
        files.update(lock_overlays(config, Path(tmp)))
    for name, text in files.items():
        (LOCKS / name).write_text(text, encoding="utf-8")
        print(f"locks/{name}: {len(names(text))} packages, {len(text.encode()) / 1024:.0f} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
