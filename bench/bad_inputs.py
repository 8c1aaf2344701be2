"""The bad-input table of tests/test_bad_inputs.py, run as a user would (one `olive-lab` process per row), against
this checkout or an older one: how many rows give a traceback, the right exit code, the specific words.

    python bench/bad_inputs.py                      # this checkout
    python bench/bad_inputs.py --tree OLD --label before
OLD is a folder holding an older `olive_lab` package laid out as installed (olive_lab/, olive_lab/steps,
olive_lab/tui, olive_lab/data). On an older tree the `run` rows that would start real work are skipped.
"""

from __future__ import annotations

import argparse
import json
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


class _Temp:
    def __init__(self, base: Path):
        self.base, self.count = base, 0

    def mktemp(self, name: str) -> Path:
        self.count += 1
        path = self.base / f"{name}{self.count}"
        path.mkdir(parents=True)
        return path


def measure(tree: str | None, label: str) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    import test_bad_inputs as table

    code = "import sys\nfrom olive_lab.cli import main\nsys.exit(main(sys.argv[1:]))"
    if tree:
        code = f"import sys\nsys.path.insert(0, {tree!r})\n" + code
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        fixture = table.paths.__wrapped__(_Temp(Path(tmp)))
        paths = next(fixture)
        for case in table.CASES:
            if "{ro}" in case.argv and paths["ro"] is None:
                continue
            if tree and case.argv.startswith("run") and ("{lab}" in case.argv or "{chat}" in case.argv):
                rows.append({"argv": case.argv, "skipped": "would start a real run"})
                continue
            argv = shlex.split(case.argv.format(**{k: str(v) for k, v in paths.items()}))
            started = time.perf_counter()
            try:
                done = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True,
                                      errors="replace", timeout=120, cwd=tmp)
                out, rc = done.stdout + done.stderr, done.returncode
            except subprocess.TimeoutExpired:
                out, rc = "", None
            words = " ".join(out.split())
            rows.append({"argv": case.argv, "rc": rc, "want": case.code, "traceback": "Traceback" in out,
                         "words": all(w in words for w in case.words), "bytes": len(out),
                         "s": round(time.perf_counter() - started, 2)})
        next(fixture, None)
    ran = [r for r in rows if "skipped" not in r]
    return {"label": label, "machine": platform.node(), "date": time.strftime("%Y-%m-%d"), "rows": len(rows),
            "ran": len(ran), "tracebacks": sum(r["traceback"] for r in ran),
            "timeouts_120s": sum(r["rc"] is None for r in ran),
            "right_exit_code": sum(r["rc"] == r["want"] for r in ran),
            "specific_words": sum(r["words"] for r in ran), "slowest_s": max(r["s"] for r in ran), "detail": rows}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", help="an older olive_lab package tree to measure instead")
    parser.add_argument("--label", default="this checkout")
    args = parser.parse_args()
    result = measure(args.tree, args.label)
    print(json.dumps({k: v for k, v in result.items() if k != "detail"}, indent=1))
    out = ROOT / "bench" / "results" / f"bad_inputs_{result['date']}_{args.label.replace(' ', '-')}.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
