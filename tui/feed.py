"""Carry events from a blocking iterator (a step's follow()) to a pane, in batches the UI thread can keep up with.

A daemon thread drains the iterator into a `Feed` (log lines bounded like the view, so a burst never grows
memory); a Textual thread worker waits on the feed and posts one message per batch, at most `max_rate` a second,
and only when the pane has taken the previous batch. The UI thread never waits and never sees more than one
pending batch per pane.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable, Iterable

from olive_lab.steps.events import Failed, Finished, Loss, LogLine, Phase, Progress

END = (Finished, Failed)


@dataclass
class Batch:
    lines: list = field(default_factory=list)  # LogLine
    dropped: int = 0  # lines that never reached the view (older than its bound)
    phase: Phase | None = None
    progress: Progress | None = None
    losses: list = field(default_factory=list)
    end: Finished | Failed | None = None
    note: str = ""  # e.g. why a step was skipped


class Feed:
    def __init__(self, step: str, max_lines: int = 5000) -> None:
        self.step = step
        self._lock = threading.Lock()
        self._lines: deque = deque(maxlen=max_lines)
        self._dropped = 0
        self._phase = None
        self._progress = None
        self._losses: list = []
        self._end = None
        self.note = ""
        self.ready = threading.Event()  # set when something is waiting to be taken
        self.posted = False  # a message is on its way to the pane and not yet taken
        self.closed = threading.Event()  # the iterator ended (or failed)
        self.error: str = ""
        self.failed = False  # the step ended with Failed (kept after take)

    def put(self, event) -> None:
        with self._lock:
            if isinstance(event, LogLine):
                if len(self._lines) == self._lines.maxlen:
                    self._dropped += 1
                self._lines.append(event)
            elif isinstance(event, Progress):
                self._progress = event
            elif isinstance(event, Phase):
                self._phase = event
            elif isinstance(event, Loss):
                self._losses.append(event)
            elif isinstance(event, END):
                self._end = event
                self.failed = isinstance(event, Failed)
        self.ready.set()

    def put_many(self, events: Iterable) -> None:
        for event in events:
            self.put(event)

    def take(self) -> Batch:
        """Everything since the last take (called on the UI thread)."""
        with self._lock:
            batch = Batch(list(self._lines), self._dropped, self._phase, self._progress, self._losses, self._end,
                          self.note)
            self._lines.clear()
            self._dropped = 0
            self._phase = self._progress = None
            self._losses = []
            self._end = None
            self.ready.clear()
            self.posted = False
        return batch

    @property
    def pending(self) -> bool:
        with self._lock:
            return bool(self._lines or self._phase or self._progress or self._losses or self._end)


def pump(iterator, feed: Feed, on_end: Callable[[], None] | None = None) -> threading.Thread:
    """Drain `iterator` into `feed` on a daemon thread (it may block for minutes; a daemon never holds up exit)."""

    def run() -> None:
        try:
            for event in iterator:
                feed.put(event)
                if isinstance(event, END):
                    break
        except Exception as exc:  # noqa: BLE001 - becomes a Failed on screen
            feed.error = f"{type(exc).__name__}: {exc}"
            feed.put(Failed(f"Following the step's log failed: {feed.error}"))
        finally:
            if on_end:
                try:
                    on_end()
                except Exception:  # noqa: BLE001
                    pass
            feed.closed.set()
            feed.ready.set()

    thread = threading.Thread(target=run, name=f"follow-{feed.step}", daemon=True)
    thread.start()
    return thread


def deliver(feed: Feed, post: Callable[[], None], cancelled: Callable[[], bool], max_rate: float = 60.0) -> bool:
    """Post batches until the feed is closed and taken. Returns False when cancelled. Runs in a thread worker."""
    interval = 1.0 / max_rate
    last = 0.0
    while True:
        if cancelled():
            return False
        feed.ready.wait(0.1)
        if cancelled():
            return False
        if feed.posted:
            time.sleep(interval / 4)  # the pane has not taken the last batch yet: let it catch up
            continue
        if feed.pending:
            wait = last + interval - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            feed.posted = True
            last = time.monotonic()
            post()
            continue
        if feed.closed.is_set():
            return True
