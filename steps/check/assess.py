"""The machine check's assessment, pure: the probes' data and a profile in, findings out.

`assess` says, finding by finding (FINDING_KEYS), what the machine means for one profile; `choose_profile` picks
the profile. Tests feed both made-up machines.
"""

from __future__ import annotations

from pathlib import Path

from ..findings import BLOCKING, OK, WARNING, Finding, worst
from ..profiles import PROFILES, Profile
from .advice import genai_lib_fix, pip_extra, torch_cuda_tag, torch_install_fix
from .facts import GIB, PACKAGES, ProbeData, last_line, missing_shared_library, version_tuple

#: Stable ids of the findings, in the order they are shown.
FINDING_KEYS = ("gpu", "driver", "cuda", "bf16", "torch", "ortgenai", "python", "packages", "flow", "disk", "ram",
                "azure")

#: The lab asks for an NVIDIA A10 (8.6) or A100 (8.0); newer GPUs (L4 8.9, H100 9.0, ...) pass.
MIN_COMPUTE_CAPABILITY = (8, 0)
#: AutoAWQ's kernels need Turing (7.5) or newer; below that the gpu profile cannot quantize.
AWQ_MIN_COMPUTE_CAPABILITY = (7, 5)
MIN_DRIVER_CUDA = (12, 0)
#: VRAM classes as sold ("16 GB", "24 GB"; GpuInfo.vram_at_least allows for NVML's lower figure).
MIN_VRAM_GB = 16
RECOMMENDED_VRAM_GB = 24
LORA_PEAK_GIB = 16.4  # gpu-pipeline.md: LoRA at the lab's batch (8 x 1024 tokens) on an H100
QLORA_PEAK_GIB = 13.6
PYTHON_MIN = (3, 11)
#: The Pythons locks/ has a lock for (pyproject.toml [tool.olive-lab.lock] pythons); the GPU runs were on 3.12.3.
PYTHONS_LOCKED = ((3, 11), (3, 12))
#: What a whole lab writes at its peak, measured: gpu 27 GB on the H100 (models, Olive's cache, the ONNX build;
#: shared/docs/findings-2026-12.md), cpu well under the profile's 0.2 GB. Falls back to the profile's figure.
LAB_PEAK_GIB = {"gpu": 27e9 / 1024**3}
REQUIRED_PACKAGES = ("olive-ai", "onnxruntime-genai", "onnxruntime", "transformers", "peft", "torch")


def gpu_usable(data: ProbeData) -> tuple[bool, str]:
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


def choose_profile(data: ProbeData) -> tuple[str, str]:
    """("gpu" or "cpu", the one sentence a user reads about why)."""
    usable, reason = gpu_usable(data)
    return ("gpu" if usable else "cpu"), reason


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
                               torch_install_fix(data, profile)))
        elif need:
            out.append(Finding("cuda", "CUDA", WARNING, f"{side}: no GPU for torch to use.",
                               "See the GPU line."))
        else:
            out.append(Finding("cuda", "CUDA", OK, f"{side}: the cpu profile does not use CUDA."))
    elif not t.cuda:
        out.append(Finding("cuda", "CUDA", bad,
                           f"{side}: this torch cannot use the {gpu.name}.", torch_install_fix(data, profile)))
    elif nv.cuda_driver and version_tuple(t.cuda)[:1] > nv.cuda_driver[:1]:
        out.append(Finding("cuda", "CUDA", bad,
                           f"{side}: torch is built for a newer CUDA than the driver supports.",
                           f"Update the NVIDIA driver, or install a torch built for CUDA {nv.cuda_driver[0]}: "
                           f"`pip install torch --index-url https://download.pytorch.org/whl/"
                           f"{torch_cuda_tag(nv.cuda_driver)}`."))
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
                       torch_install_fix(data, profile) + f" Then run {pip_extra(data, profile)}.")
    return Finding("torch", "torch", BLOCKING, f"torch is installed but does not import: {t.error}",
                   "Reinstall torch: " + torch_install_fix(data, profile))


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
                       f"Run {pip_extra(data, profile)}.")
    lib = g.missing_lib or missing_shared_library(g.error)
    if lib:
        return Finding("ortgenai", "onnxruntime-genai", BLOCKING,
                       f"onnxruntime-genai does not import: {lib} is missing ({last_line(g.error)[:200]}).",
                       genai_lib_fix(lib, g.missing_lib_folder if lib == g.missing_lib else None))
    return Finding("ortgenai", "onnxruntime-genai", BLOCKING,
                   f"onnxruntime-genai does not import: {last_line(g.error)[:300]}",
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
        fix = f"Run {pip_extra(data, profile)}."
        if "torch" in missing:
            fix = torch_install_fix(data, profile) + f" Then run {pip_extra(data, profile)}."
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
    severity = worst(p[0] for p in problems)
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
