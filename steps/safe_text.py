"""Text from datasets, logs and model output, made safe to show on a terminal.

A dataset row or a model reply can hold escape sequences that a terminal would execute: `ESC ] 0;title BEL`
renames the window, `ESC [2J` clears the screen, `ESC ] 52;c;...` writes the clipboard, `ESC c` resets the
terminal. Rich and Textual strip only BEL, BS, VT, FF and CR, so everything here is made *visible* instead:
C0 controls become their Unicode "control pictures" (ESC -> ␛), C1 controls and the bidirectional overrides
that reorder text on screen become `<U+009B>`-style tags. The text stays readable and nothing is lost.

`keep_sgr` is for log lines, whose colour codes (SGR: `ESC [ ... m`) are worth keeping: those stay, every other
sequence is made visible.
"""

from __future__ import annotations

import re

#: Kept as they are: tab and line feed lay out text and execute nothing.
_KEPT = {"\t", "\n"}

_PICTURES = {code: chr(0x2400 + code) for code in range(0x20) if chr(code) not in _KEPT}
_PICTURES[0x7F] = "\u2421"  # DEL
_PICTURES.update({code: f"<U+{code:04X}>" for code in range(0x80, 0xA0)})  # C1: 0x9B is CSI on some terminals
_PICTURES.update({code: f"<U+{code:04X}>" for code in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))})

_UNSAFE_RE = re.compile("[" + "".join(re.escape(chr(c)) for c in _PICTURES) + "]")
#: A colour/attribute sequence (Select Graphic Rendition): ESC [ digits ; ... m.
SGR_RE = re.compile(r"\x1b\[[0-9;:]*m")


def visible(text: str) -> str:
    """`text` with every control character that a terminal could act on shown as a visible stand-in."""
    if not _UNSAFE_RE.search(text):
        return text
    return text.translate(_PICTURES)


def keep_sgr(text: str) -> str:
    """`text` with colour codes kept and every other control character or escape sequence made visible."""
    if "\x1b" not in text:
        return visible(text)
    parts, start = [], 0
    for match in SGR_RE.finditer(text):
        parts.append(visible(text[start:match.start()]))
        parts.append(match.group())
        start = match.end()
    parts.append(visible(text[start:]))
    return "".join(parts)


def clip(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, saying how many were left out (a 5 MB row is not printed)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit:,} more characters)"
