"""The probes that must not run in the front end's process: importing torch or onnxruntime-genai.

`probes` runs this file in a fresh interpreter (`python -P child.py torch`), so a broken CUDA install cannot
crash the front end and the front end never pays torch's import. It prints one line, MARKER followed by the
facts as JSON, and imports nothing from the project (it runs by path, outside the package). Importing it runs no
probe: tests call the functions directly.
"""

from __future__ import annotations

import json
import sys
import warnings

MARKER = "@@olive-lab-check@@"


def torch_facts() -> dict:
    """torch's version, the CUDA it was built for, and whether (and with what warning) it finds a GPU."""
    try:
        import torch
    except BaseException as exc:
        return {"installed": not isinstance(exc, ModuleNotFoundError) or getattr(exc, "name", "") != "torch",
                "error": f"{type(exc).__name__}: {exc}"}
    out = {"installed": True, "version": torch.__version__, "cuda": torch.version.cuda}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            out["cuda_available"] = bool(torch.cuda.is_available())
            out["device_count"] = torch.cuda.device_count() if out["cuda_available"] else 0
        except BaseException as exc:
            out["cuda_available"] = False
            out["error"] = f"torch.cuda: {type(exc).__name__}: {exc}"
    out["warning"] = " ".join(str(w.message) for w in caught)[:500]
    return out


def genai_facts() -> dict:
    """Whether onnxruntime-genai imports (the error when not), and onnxruntime's version and providers."""
    out: dict = {}
    try:
        import onnxruntime_genai as og

        out["imported"] = True
        out["version"] = getattr(og, "__version__", None)
    except BaseException as exc:
        out["imported"] = False
        out["error"] = f"{type(exc).__name__}: {exc}"
    try:
        import onnxruntime as ort

        out["ort_version"] = ort.__version__
        out["ort_providers"] = list(ort.get_available_providers())
    except BaseException as exc:
        out["ort_error"] = f"{type(exc).__name__}: {exc}"
    return out


PROBES = {"torch": torch_facts, "genai": genai_facts}


def main(argv: list[str]) -> int:
    """Print the facts of the probe `argv[0]` names, after MARKER (whatever the imports printed comes before)."""
    print(MARKER + json.dumps(PROBES[argv[0]]()), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
