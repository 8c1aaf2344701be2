"""Reading the lock files in locks/ (written by scripts/lock.py): which exact, hashed packages a profile installs.

A lock is a pip requirements file: one entry per package (`name==version \\` then `--hash=sha256:...` lines and
`# via` comments). The torch version is the `# torch==X` line at the top: torch is installed in its own step
(see scripts/setup.sh), so it has no hashed entry.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

_ENTRY = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+)")


@dataclass(frozen=True)
class Entry:
    name: str  # canonical
    version: str
    text: str  # the entry as written, hashes included

    @property
    def pin(self) -> str:
        return f"{self.name}=={self.version}"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locks_dir() -> Path:
    """locks/ of the source tree this package runs from (olive-lab is installed editable by setup)."""
    return Path(__file__).resolve().parents[1] / "locks"


def python_tag() -> str:
    return f"{sys.version_info[0]}.{sys.version_info[1]}"


def lock_path(profile: str, python: str | None = None, folder: Path | None = None) -> Path:
    return (folder or locks_dir()) / f"{profile}-py{python or python_tag()}.txt"


def read(path: Path) -> tuple[str, list[Entry]]:
    """(the header comment lines, the entries) of the lock at `path`."""
    text = path.read_text(encoding="utf-8")
    header, entries, current = [], [], None
    for line in text.splitlines(keepends=True):
        match = _ENTRY.match(line)
        if match:
            current = [canonical(match.group(1)), match.group(2), [line]]
            entries.append(current)
        elif current is not None:
            current[2].append(line)
        else:
            header.append(line)
    return "".join(header), [Entry(n, v, "".join(t)) for n, v, t in entries]


def torch_version(path: Path) -> str | None:
    match = re.search(r"^# torch==(\S+)", path.read_text(encoding="utf-8"), flags=re.M)
    return match.group(1) if match else None


def write(path: Path, header: str, entries: list[Entry]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(header + "".join(e.text for e in entries), encoding="utf-8")
    return path


def with_extra_hash(entry: Entry, sha256: str) -> Entry:
    """`entry` also accepting the file with `sha256` (a wheel built here from the locked, hashed sdist)."""
    first, _, rest = entry.text.partition("\n")
    return Entry(entry.name, entry.version, f"{first}\n    --hash=sha256:{sha256} \\\n{rest}")
