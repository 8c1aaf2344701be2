"""Chat with the optimized model in onnxruntime-genai: streamed replies, the LoRA adapter on or off, stop, stats.

The model loads in a thread worker; each reply is generated in a thread worker that appends text pieces to a
`ReplyBuffer` and posts a message at most `UI_RATE` times a second (and never while the last one is unread),
so a fast model is not slowed by the UI and a slow one still shows every token as it comes.
"""

from __future__ import annotations

import re
import threading
import time

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Label, Static, Switch

from . import core
from .base import StepPane
from .util import rel

UI_RATE = 20.0
_BLANK_RUNS = re.compile(r"\n{3,}")
MAX_NEW_TOKENS = 200


class ReplyBuffer:
    """Text pieces from the generating thread, taken by the UI thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pieces: list[str] = []
        self.posted = False
        self.last_post = 0.0

    def add(self, piece: str) -> bool:
        """Append; True when the caller should post a message now."""
        with self._lock:
            self._pieces.append(piece)
            if self.posted:
                return False
            now = time.monotonic()
            if now - self.last_post < 1.0 / UI_RATE:
                return False
            self.posted = True
            self.last_post = now
            return True

    def take(self) -> str:
        with self._lock:
            text = "".join(self._pieces)
            self._pieces.clear()
            self.posted = False
        return text


class Bubble(Static):
    """One message; a reply grows as its pieces arrive."""

    def __init__(self, role: str, text: str = "", tag: str = "") -> None:
        super().__init__("", classes=f"chat-msg chat-{'user' if role == 'user' else 'bot'}", markup=False)
        self.role = role
        self.text = text
        self.tag = tag
        self.stats = ""
        self._refresh_text()

    def add(self, piece: str) -> None:
        self.text += piece
        self._refresh_text()

    def set_stats(self, stats: str) -> None:
        self.stats = stats
        self._refresh_text()

    def _refresh_text(self) -> None:
        out = Text()
        if self.role == "user":
            out.append("you: ", style="bold")
        else:
            out.append(f"model{f' ({self.tag})' if self.tag else ''}: ", style="bold")
        # Runs of blank lines (a tiny random model loves them) are shown as one.
        shown = _BLANK_RUNS.sub("\n\n", self.text).strip("\n") if self.role != "user" else self.text
        out.append(shown or ("…" if self.role != "user" else ""))
        if self.stats:
            out.append(f"\n{self.stats}", style="dim")
        self.update(out)


class ChatPane(StepPane):
    step = "chat"

    class Loaded(Message):
        def __init__(self, session, seconds: float, folder: str) -> None:
            super().__init__()
            self.session, self.seconds, self.folder = session, seconds, folder

    class LoadFailed(Message):
        def __init__(self, error: str) -> None:
            super().__init__()
            self.error = error

    class Chunk(Message):
        def __init__(self, buffer: ReplyBuffer) -> None:
            super().__init__()
            self.buffer = buffer

    class ReplyDone(Message):
        def __init__(self, buffer: ReplyBuffer, stats, error: str = "") -> None:
            super().__init__()
            self.buffer, self.stats, self.error = buffer, stats, error

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.session = None
        self.model_loading = False
        self.load_error = ""
        self.generating = False
        self.stop_event: threading.Event | None = None
        self.messages: list[dict] = []
        self.use_adapter = True
        self.last_stats = None
        self._reply: Bubble | None = None
        self._buffer: ReplyBuffer | None = None
        self.replies = 0

    def compose(self):
        yield self.title_widget("Chat with the model")
        yield Static("The optimized model is not loaded yet.", id="chat-status", markup=False)
        yield VerticalScroll(id="chat-log")
        with Horizontal(id="chat-controls"):
            yield Input(placeholder="Ask the travel assistant… (Enter sends)", id="chat-input")
            with Horizontal(id="chat-adapter-row"):
                yield Label(" adapter ", id="chat-adapter-label")
                yield Switch(value=True, id="chat-adapter", animate=False)

    # --- loading ------------------------------------------------------------------------------------------------

    def on_show_pane(self) -> None:
        if self.session is None and not self.model_loading:
            self.load()

    def load(self) -> None:
        if self.lab is None or self.model_loading:
            return
        blocked = getattr(self.plan, "blocked", "") if self.plan is not None else ""
        if blocked:
            self._status(Text.assemble(("Not possible yet: ", "bold yellow"), blocked))
            return
        self.model_loading = True
        self.load_error = ""
        self._status(Text("Loading the model in onnxruntime-genai…", style="yellow"))
        self._load(self.lab)
        self.app.update_keys()

    @work(thread=True, exclusive=True, group="chat-load", exit_on_error=False)
    def _load(self, lab) -> None:
        started = time.perf_counter()
        try:
            chat = core.module("chat")
            folder = core.module("optimize").model_folder(lab)
            session = chat.ChatSession.open(folder)
        except Exception as exc:  # noqa: BLE001 - shown on screen
            self.post_message(self.LoadFailed(f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Loaded(session, time.perf_counter() - started, str(folder)))

    @on(Loaded)
    def _loaded(self, message: Loaded) -> None:
        self.model_loading = False
        self.session = message.session
        if not self.session.has_adapter:
            self.use_adapter = False
            switch = self.query_one("#chat-adapter", Switch)
            switch.value = False
            switch.disabled = True
        self.folder = message.folder
        self._show_status(loaded_in=message.seconds)
        self.query_one("#chat-input", Input).focus()
        self.app.update_keys()

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self.model_loading = False
        self.load_error = message.error
        self._status(Text.assemble(("✗ The model did not load: ", "bold red"), message.error,
                                   ("\nF9 tries again.", "dim")))
        self.app.update_keys()

    def _show_status(self, loaded_in: float | None = None) -> None:
        text = Text()
        root = self.lab.workspace.root if self.lab else None
        text.append("Model ", style="dim")
        text.append(rel(getattr(self, "folder", ""), root))
        if loaded_in is not None:
            self.loaded_in = loaded_in
        if getattr(self, "loaded_in", None) is not None:
            text.append(f" (loaded in {self.loaded_in:.1f} s)", style="dim")
        text.append(" · adapter ")
        if self.session is not None and not self.session.has_adapter:
            text.append("none in this model", style="yellow")
        else:
            text.append("ON" if self.use_adapter else "OFF", style="bold green" if self.use_adapter else "bold")
            text.append(" (F7)", style="dim")
        if self.last_stats is not None:
            text.append("\n")
            text.append(stats_line(self.last_stats), style="cyan")
        if self.generating:
            text.append(" · F8 stops", style="dim")
        self._status(text)

    def _status(self, text) -> None:
        self.query_one("#chat-status", Static).update(text)

    # --- talking ------------------------------------------------------------------------------------------------

    @on(Input.Submitted, "#chat-input")
    def _submitted(self, event: Input.Submitted) -> None:
        prompt = event.value.strip()
        if not prompt or self.generating:
            return
        if self.session is None:
            self.app.notify("The model is not loaded yet.", severity="warning")
            return
        event.input.value = ""
        self.send(prompt)

    def send(self, prompt: str) -> None:
        log = self.query_one("#chat-log", VerticalScroll)
        self.messages.append({"role": "user", "content": prompt})
        log.mount(Bubble("user", prompt))
        tag = "adapter on" if self.use_adapter else "adapter off"
        self._reply = Bubble("assistant", tag=tag)
        log.mount(self._reply)
        log.scroll_end(animate=False)
        self._buffer = ReplyBuffer()
        self.stop_event = threading.Event()
        self.generating = True
        self._show_status()
        # Start generating once the new bubbles are laid out, so the first tokens do not race the UI for the GIL.
        self.call_after_refresh(self._generate, self.session, list(self.messages), self.use_adapter,
                                self.stop_event, self._buffer)

    @work(thread=True, exclusive=True, group="chat", exit_on_error=False)
    def _generate(self, session, messages, use_adapter: bool, stop: threading.Event, buffer: ReplyBuffer) -> None:
        error = ""
        try:
            for piece in session.generate(messages, use_adapter=use_adapter, max_new_tokens=MAX_NEW_TOKENS,
                                          stop=stop):
                if buffer.add(piece):
                    self.post_message(self.Chunk(buffer))
        except Exception as exc:  # noqa: BLE001
            error = f"{type(exc).__name__}: {exc}"
        self.post_message(self.ReplyDone(buffer, session.last_stats, error))

    @on(Chunk)
    def _chunk(self, message: Chunk) -> None:
        if message.buffer is not self._buffer or self._reply is None:
            return
        text = message.buffer.take()
        if text:
            log = self.query_one("#chat-log", VerticalScroll)
            at_bottom = log.scroll_y >= log.max_scroll_y - 2
            self._reply.add(text)
            if at_bottom:
                log.scroll_end(animate=False)

    @on(ReplyDone)
    def _done(self, message: ReplyDone) -> None:
        if message.buffer is not self._buffer or self._reply is None:
            return
        rest = message.buffer.take()
        reply = self._reply
        if rest:
            reply.add(rest)
        self.messages.append({"role": "assistant", "content": reply.text})
        self.generating = False
        self.reply_shown_at = time.perf_counter()
        self.replies += 1
        self.last_stats = message.stats
        if message.error:
            reply.set_stats(f"✗ {message.error}")
        elif message.stats is not None:
            reply.set_stats(stats_line(message.stats))
        self._show_status()
        log = self.query_one("#chat-log", VerticalScroll)
        if log.scroll_y >= log.max_scroll_y - 4:
            log.scroll_end(animate=False)
        self.app.update_keys()
        self.app.show_rows()

    def set_adapter(self, on_: bool) -> None:
        if self.session is not None and not self.session.has_adapter:
            on_ = False
        self.use_adapter = on_
        switch = self.query_one("#chat-adapter", Switch)
        if switch.value != on_:
            switch.value = on_
        self._show_status()

    @on(Switch.Changed, "#chat-adapter")
    def _switched(self, event: Switch.Changed) -> None:
        if event.value != self.use_adapter:
            self.set_adapter(event.value)

    def on_unmount(self) -> None:
        if self.stop_event is not None:  # the wizard is closing: do not hold its exit for a long reply
            self.stop_event.set()

    def clear_history(self) -> None:
        self.messages.clear()
        self.query_one("#chat-log", VerticalScroll).remove_children()

    # --- keys ---------------------------------------------------------------------------------------------------

    def can(self, action: str):
        if action == "adapter":
            return True if (self.session is None or self.session.has_adapter) else None
        if action == "stop":
            # Always shown once the model is loaded: changing the footer while a reply streams costs the reply.
            return True if self.session is not None else False
        if action == "load":
            return (None if self.model_loading else True) if self.session is None else False
        return False

    def do(self, action: str) -> None:
        if action == "adapter":
            self.set_adapter(not self.use_adapter)
        elif action == "stop" and self.stop_event is not None:
            self.stop_event.set()
        elif action == "load":
            self.load()

    def focus_first(self) -> None:
        self.query_one("#chat-input", Input).focus()

    @property
    def row_status(self):
        if self.generating or self.model_loading:
            return "running", ""
        if self.load_error:
            return "failed", ""
        if self.session is not None:
            return "done", f"{self.replies} msg" if self.replies else "ready"
        return None


def stats_line(stats) -> str:
    parts = []
    if stats.ttft_s is not None:
        parts.append(f"first token {stats.ttft_s * 1000:.0f} ms")
    if stats.tokens_per_s:
        parts.append(f"{stats.tokens_per_s:.1f} tokens/s")
    parts.append(f"{stats.tokens} tokens")
    if stats.stopped:
        parts.append("stopped")
    return " · ".join(parts)
