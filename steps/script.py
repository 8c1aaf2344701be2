"""What a step script (`python -m olive_lab.steps.<name>`, run by the runner) says back: `[olive-lab] <kind>
<text>` lines on stdout, which the runner's log parser reads, and its exit code; and the marker file a model
folder the lab made carries. A leaf module: the scripts share it without importing each other.
"""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_DATA, EXIT_DISK_FULL = 0, 1, 2, 4, 23
#: The file in a model folder that says who made it and from what.
MARKER = "olive-lab.json"


def say(kind: str, text: str = "") -> None:
    print(f"[olive-lab] {kind} {text}".rstrip(), flush=True)
