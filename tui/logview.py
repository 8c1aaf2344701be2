"""A bounded, colour-keeping log view: only the last `max_lines` lines live in memory (the full log is on disk).

Lines are stored as strings (ANSI colour codes kept) and turned into styled strips only when they are on screen
(any other escape sequence or control character made visible, never sent to the terminal),
so ingest costs about a microsecond a line and a million lines take no more memory than `max_lines` do.
Bare `\\r` redraws (tqdm) collapse to their last version.
"""

from __future__ import annotations

from collections import deque
from typing import Iterable

from rich.cells import cell_len
from rich.text import Text
from textual.cache import LRUCache
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from olive_lab.steps.safe_text import keep_sgr

from olive_lab.steps.logparse import strip_ansi

from .util import collapse_cr

class LogView(ScrollView, can_focus=True):
    """Follows the end while scrolled to the bottom; scrolling up pauses following (End resumes)."""

    BINDINGS = [
        ("end", "follow", "follow"),
    ]

    def __init__(self, max_lines: int = 5000, *, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.max_lines = max_lines
        self._lines: deque[str] = deque(maxlen=max_lines)
        self._first = 0  # absolute number of the first kept line (lines before it were dropped)
        self._total = 0  # lines ever written
        self._width = 0
        self._cache: LRUCache[tuple[int, int], Strip] = LRUCache(512)
        self.follow = True

    # --- writing ------------------------------------------------------------------------------------------------

    @property
    def line_count(self) -> int:
        """Lines ever written (not only the kept ones)."""
        return self._total

    @property
    def lines(self) -> list[str]:
        """The kept lines, styled (ANSI) as written."""
        return list(self._lines)

    def plain_lines(self) -> list[str]:
        return [strip_ansi(line) for line in self._lines]

    def clear(self) -> None:
        self._lines.clear()
        self._first = self._total = self._width = 0
        self._cache.clear()
        self.follow = True
        self.virtual_size = Size(0, 0)
        self.scroll_to(0, 0, animate=False)
        self.refresh()

    def skip_lines(self, count: int) -> None:
        """Count lines that arrived but were older than the view's bound already (as if written, then pruned)."""
        if count > 0:
            self._total += count
            self._first = max(self._first, self._total - len(self._lines))
            self._cache.clear()

    def write_lines(self, lines: Iterable[str], widths: Iterable[int] | None = None) -> None:
        """Append lines (styled, may hold ANSI SGR codes); `widths` are their printable widths when known."""
        kept = self._lines
        maxlen = self.max_lines
        width = self._width
        added = 0
        if widths is None:
            for line in lines:
                if "\r" in line:
                    line = collapse_cr(line)
                kept.append(line)
                added += 1
                w = len(line) if line.isascii() and "\x1b" not in line else _plain_width(line)
                if w > width:
                    width = w
        else:
            for line, w in zip(lines, widths):
                if "\r" in line:
                    line = collapse_cr(line)
                kept.append(line)
                added += 1
                if w > width:
                    width = w
        if not added:
            return
        self._total += added
        dropped = max(0, self._total - maxlen) - self._first
        if dropped > 0:
            self._first += dropped
            self._cache.clear()
        self._width = width
        self._update_size()

    def write_line(self, line: str) -> None:
        self.write_lines((line,))

    def _update_size(self) -> None:
        self.virtual_size = Size(self._width, len(self._lines))
        if self.follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    # --- following ----------------------------------------------------------------------------------------------

    def action_follow(self) -> None:
        self.follow = True
        self.scroll_end(animate=False)

    def on_resize(self) -> None:
        if self.follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)

    def on_show(self) -> None:
        if self.follow:
            self.call_after_refresh(self.scroll_end, animate=False, x_axis=False)

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        # Following means "at the bottom": scrolling up pauses it, End or scrolling back down resumes it.
        # (Appending lines never moves scroll_y by itself, so only a real scroll lands here.)
        self.follow = new >= self.max_scroll_y - 0.5

    # --- rendering ----------------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        index = scroll_y + y
        style = self.rich_style
        if index >= len(self._lines):
            return Strip.blank(width, style)
        key = (self._first + index, id(style))
        strip = self._cache.get(key)
        if strip is None:
            # Colours stay; titles, screen clears, clipboard writes are shown, not sent; tabs become spaces.
            line = keep_sgr(self._lines[index]).replace("\t", "    ")
            text = Text.from_ansi(line, no_wrap=True) if "\x1b" in line else Text(line, no_wrap=True)
            text.stylize_before(style)
            strip = Strip(text.render(self.app.console), text.cell_len)
            self._cache[key] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, index)


def _plain_width(line: str) -> int:
    if "\x1b" in line:
        line = strip_ansi(line)
    return cell_len(line)
