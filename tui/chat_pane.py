"""Chat with the optimized model in onnxruntime-genai: streamed replies, the LoRA adapter on or off or both, stats.

Compare mode (F6) answers each prompt twice, on its own, with the adapter off and then on, streamed side by side.

The model runs in its own process (`ChatProcess`), started by a thread worker. Each reply is read from that
process by a thread worker that appends text pieces to a `ReplyBuffer` and posts a message at most `UI_RATE`
times a second (and never while the last one is unread), so a fast model is not slowed by the UI and a slow one
still shows every token as it comes.

In this process, onnxruntime-genai would hold the GIL while it computes and spin its threads on every core: each
redraw would stall it several times the redraw's cost. In a child it never waits for the UI, which still shares
the cores with it; so a batch of pieces costs as little as it can: only the reply's changed lines are wrapped
and repainted (`Bubble`), the screen is laid out again only when the reply needs more lines, the history stays at
the bottom by anchoring rather than a scroll per batch, the messages do not bubble up the DOM, the input's cursor
does not blink, and generation starts only once the question is on screen. The tokens/s and time to first token
shown are measured inside the model process's generation loop (`ChatSession.generate`), not by the UI.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from typing import Callable

from rich._wrap import divide_line
from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import Reactive, var
from textual.strip import Strip
from textual.visual import Visual
from textual.widgets import Input, Label, Static, Switch

from . import core
from .base import StepPane
from .outcome import Outcome
from olive_lab.steps.units import fmt_chat_stats

from .util import rel

#: Batches of pieces shown per second, at most: a few tokens at a time for a model at 35 tokens/s. Interleaved
#: in one run on bench/tui_chat.py's mid-size model (2 cores), with the model in this process: no redraw 33.2
#: tokens/s, 5 a second 31.8, 10 a second 29.3; with the model in its own process: 30.9, 30.9 and 31.8.
UI_RATE = 10.0
#: A streaming reply's bubble grows this many lines at a time. Each growth lays the whole screen out again (6 ms
#: of the UI thread on 2 cores, taken from the model's cores), and a reply at 35 tokens/s needs a new line every second
#: or so: growing 4 at a time saves three layouts in four, at the cost of up to 3 blank lines under the text
#: until the reply is done.
GROW_LINES = 4
_BLANK_RUNS = re.compile(r"\n{3,}")
# What a model may emit that a terminal must not get: control characters (ESC would start an escape sequence).
_UNPRINTABLE = {c: "\ufffd" for c in (*range(32), 127, *range(0x80, 0xA0)) if c not in (9, 10, 13)}
_UNPRINTABLE.update({9: "    ", 13: None})
_LAST_WORD = re.compile(r"\S+\s*$")  # where the last word starts (rich's words are `\s*\S+\s*`)
MAX_NEW_TOKENS = 200


class ReplyBuffer:
    """Text pieces from the generating thread, taken by the UI thread.

    Posts are counted from the question: a reply that is complete within 1 / UI_RATE s (the cpu profile's tiny
    model answers in tens of milliseconds) is drawn once, when it is done, and costs the model nothing; a real
    model's first token comes after a longer prefill and is shown at once.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._lock = threading.Lock()
        self._pieces: list[str] = []
        self._clock = clock
        self.posted = False
        self.last_post = clock()

    def add(self, piece: str) -> bool:
        """Append; True when the caller should post a message now."""
        with self._lock:
            self._pieces.append(piece)
            if self.posted:
                return False
            now = self._clock()
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
    """One message. A reply grows as its pieces arrive at about the same cost per batch however long it is.

    While a reply streams, the lines before the one where its last word starts are final: text only ever comes at
    the end, and greedy wrapping (rich's `divide_line`, which Textual uses) decides each break from the words
    before it and the one word after it. Those lines are kept as drawn; only the rest is wrapped and drawn again.
    A batch that fits in the bubble's lines repaints the changed lines only; one that needs more grows the bubble by
    `GROW_LINES` and re-lays out the screen. When the reply is done it becomes an ordinary Static (text selection
    and all) of its exact height.
    """

    # A bubble never scrolls: its virtual size, which changes whenever it grows, needs neither a second layout
    # pass nor a second repaint (the layout that resized it drew it). Widget's own reactive asks for both,
    # doubling the cost of every new line.
    virtual_size = Reactive(Size(0, 0), layout=False, repaint=False)

    def __init__(self, role: str, text: str = "", tag: str = "", streaming: bool = False) -> None:
        super().__init__("", classes=f"chat-msg chat-{'user' if role == 'user' else 'bot'}", markup=False)
        self.role = role
        self.text = text
        self.tag = tag
        self.stats = ""
        self.streaming = streaming
        self._shown: Content | None = None
        self._rendered = ""  # the plain text the ordinary (Static) way last drew
        # Streaming: the final lines, then the lines from `_tail_at` (an offset in the plain text, head included)
        # on, the plain text they show and the width they were drawn at.
        self._done_lines: list[Strip] = []
        self._tail_lines: list[Strip] = []
        self._tail_at = 0
        self._drawn = ""
        self._width = 0

    @property
    def head(self) -> str:
        return "you: " if self.role == "user" else f"model{f' ({self.tag})' if self.tag else ''}: "

    def shown_text(self) -> str:
        text = self.text.translate(_UNPRINTABLE)
        if self.role == "user":
            return text
        # Runs of blank lines (a tiny random model loves them) are shown as one.
        return _BLANK_RUNS.sub("\n\n", text).strip("\n") or "…"

    def render(self) -> Content:
        if self._shown is None:
            stats = (f"\n{self.stats}", "dim") if self.stats else ""
            self._shown = Content.assemble((self.head, "bold"), self.shown_text(), stats)
        self._rendered = self._shown.plain
        return self._shown

    def add(self, piece: str) -> None:
        self.text += piece
        self._shown = None
        if self.streaming:
            self._stream_refresh()
        else:
            self.refresh(layout=True)

    def finish(self) -> None:
        """The reply is complete (its `stats` set): draw it the ordinary way from now on."""
        self.streaming = False
        self._done_lines, self._tail_lines, self._drawn = [], [], ""
        self._shown = None
        self.refresh(layout=True)

    # --- streaming ----------------------------------------------------------------------------------------------

    def _stream_refresh(self) -> None:
        width = self.size.width
        styles = self.styles
        if not width or (styles.text_wrap, styles.text_overflow, styles.line_pad) != ("wrap", "fold", 0):
            self.refresh(layout=True)  # not laid out yet (the first layout draws it), or wrapped otherwise
            return
        head = self.head
        plain = head + self.shown_text()
        if not self._tail_lines and plain == self._rendered:
            return  # still what the ordinary way drew (say, "…" and a blank line)
        if plain == self._drawn and width == self._width:
            return  # nothing new to see (say, one more blank line)
        if width != self._width or not self._tail_lines or not plain.startswith(self._drawn):
            self._width, self._done_lines, self._tail_at = width, [], 0  # start over (first text, a resize)
        tail_at = self._tail_at
        tail = plain[tail_at:]
        if tail_at < len(head):
            content = Content.assemble((head[tail_at:], "bold"), plain[len(head):])
        else:
            content = Content(tail)
        lines = Visual.to_strips(self, content, width, None, self.visual_style, apply_selection=False)
        # The last paragraph's line starts, by the wrapping Textual does; the last word's line and those after
        # it may still change, the lines before it are final.
        start = tail.rfind("\n") + 1
        paragraph = tail[start:]
        line_starts = [0, *divide_line(paragraph, width, fold=True)]
        if len(lines) < len(line_starts):  # not the wrapping expected: never draw wrong, draw the ordinary way
            self._done_lines, self._tail_lines = [], []
            self.refresh(layout=True)
            return
        word = _LAST_WORD.search(paragraph)
        word_at = word.start() if word and paragraph[:word.start()].strip() else 0
        keep = max(i for i, at in enumerate(line_starts) if at <= word_at)
        while keep and not (paragraph[line_starts[keep] - 1].isspace()
                            and not paragraph[line_starts[keep]].isspace()):
            keep -= 1  # that line starts inside a folded long word: wrapping from there would split it otherwise
        final = len(lines) - len(line_starts) + keep
        first_redrawn = len(self._done_lines)
        self._done_lines.extend(lines[:final])
        self._tail_lines = lines[final:]
        self._tail_at = tail_at + start + line_starts[keep]
        self._drawn = plain
        line_count = len(self._done_lines) + len(self._tail_lines)
        if self._streamed_height() != self.size.height:
            self.refresh(layout=True)
        else:
            self.refresh(Region(0, first_redrawn, width, line_count - first_redrawn))

    def _streamed(self, width: int) -> bool:
        return self.streaming and bool(self._tail_lines) and width == self._width

    def _streamed_height(self) -> int:
        lines = len(self._done_lines) + len(self._tail_lines)
        return -(-lines // GROW_LINES) * GROW_LINES

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        if self._streamed(width):
            return self._streamed_height()
        return super().get_content_height(container, viewport, width)

    def render_line(self, y: int) -> Strip:
        if self._streamed(self.size.width):
            done = self._done_lines
            if y < len(done):
                return done[y]
            if y - len(done) < len(self._tail_lines):
                return self._tail_lines[y - len(done)]
            return Strip.blank(self._width, self.visual_style.rich_style)
        return super().render_line(y)


class ChatPane(StepPane):
    step = "chat"

    @dataclass
    class Loaded(Message):
        session: object  # steps.chat.ChatProcess
        seconds: float
        folder: str

    @dataclass
    class LoadFailed(Message):
        error: str

    @dataclass
    class Chunk(Message, bubble=False):
        buffer: ReplyBuffer

    @dataclass
    class ReplyDone(Message, bubble=False):
        buffer: ReplyBuffer
        stats: object  # steps.chat.ReplyStats
        error: str = ""

    #: What F6, F7, F8 and F9 can do follows these: the footer refreshes by itself when one changes.
    session = var(None, bindings=True)
    model_loading = var(False, bindings=True)
    compare = var(False, bindings=True)  # F6: each prompt answered on its own twice, adapter off then on

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.load_error = ""
        self.generating = False
        self.stop_event: threading.Event | None = None
        self.messages: list[dict] = []
        self.use_adapter = True
        self.last_stats = None
        self._reply: Bubble | None = None
        self._buffer: ReplyBuffer | None = None
        self._blink = True
        self.replies = 0
        self._legs: list[tuple[Bubble, bool]] = []
        self._turn_messages: list[dict] = []
        self._turn_compare = False

    def compose(self):
        yield self.title_widget("Chat with the model")
        yield Static("The optimized model is not loaded yet.", id="chat-status", markup=False)
        yield VerticalScroll(id="chat-log")
        with Horizontal(id="chat-controls"):
            yield Input(placeholder="Ask the travel assistant… (Enter sends)", id="chat-input")
            with Horizontal(id="chat-adapter-row"):
                yield Label(" adapter ", id="chat-adapter-label")
                yield Switch(value=True, id="chat-adapter", animate=False)

    def on_mount(self) -> None:
        self._log = self.query_one("#chat-log", VerticalScroll)
        # Anchored: the log stays at its end as a reply grows, in the same layout pass (no scroll per batch).
        # Scrolling up releases the anchor; scrolling back to the end or sending a message restores it.
        self._log.anchor()

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

    @work(thread=True, exclusive=True, group="chat-load", exit_on_error=False)
    def _load(self, lab) -> None:
        started = time.perf_counter()
        try:
            chat = core.module("chat")
            folder = core.module("optimize").model_folder(lab)
            session = chat.ChatProcess.open(folder)
        except Exception as exc:  # noqa: BLE001 - shown on screen
            self.post_message(self.LoadFailed(f"{type(exc).__name__}: {exc}"))
            return
        try:
            chat.write_app(lab)  # the lab's app.py beside the model, to run without the wizard
        except Exception as exc:  # noqa: BLE001 - the chat works without it
            self.log.warning(f"app.py not written: {exc}")
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

    @on(LoadFailed)
    def _load_failed(self, message: LoadFailed) -> None:
        self.model_loading = False
        self.load_error = message.error
        self._status(Text.assemble(("✗ The model did not load: ", "bold red"), message.error,
                                   ("\nF9 tries again.", "dim")))

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
        elif self.compare:
            text.append("OFF and ON side by side", style="bold green")
            text.append(" (compare, F6 ends; each prompt on its own)", style="dim")
        else:
            text.append("ON" if self.use_adapter else "OFF", style="bold green" if self.use_adapter else "bold")
            text.append(" (F7; F6 compares)", style="dim")
        if self.last_stats is not None:
            text.append("\n")
            text.append(fmt_chat_stats(self.last_stats), style="cyan")
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
            self.notify("The model is not loaded yet.", severity="warning")
            return
        event.input.value = ""
        self.send(prompt)

    def send(self, prompt: str) -> None:
        log = self._log
        if self.compare:
            # One prompt without the conversation before it, so the two answers differ by the adapter alone.
            replies = [Bubble("assistant", tag="adapter off", streaming=True),
                       Bubble("assistant", tag="adapter on", streaming=True)]
            mounted = log.mount_all([Bubble("user", prompt), Horizontal(*replies, classes="chat-compare")])
            self._legs = list(zip(replies, (False, True)))
            self._turn_messages = [{"role": "user", "content": prompt}]
        else:
            self.messages.append({"role": "user", "content": prompt})
            reply = Bubble("assistant", tag="adapter on" if self.use_adapter else "adapter off", streaming=True)
            mounted = log.mount_all([Bubble("user", prompt), reply])
            self._legs = [(reply, self.use_adapter)]
            self._turn_messages = list(self.messages)
        log.anchor()  # a new question brings the end of the conversation back into view
        self._turn_compare = self.compare
        self.stop_event = threading.Event()
        self.generating = True
        # A steady cursor while the reply streams: a blink is a repaint twice a second, taken from the model.
        field = self.query_one("#chat-input", Input)
        self._blink, field.cursor_blink = field.cursor_blink, False
        self._show_status()
        self.call_next(self._start, mounted)

    async def _start(self, mounted) -> None:
        # Generate once the new bubbles are mounted and laid out: that layout is the dearest frame of a reply,
        # and on a small machine the UI's work during generation takes cores from the model.
        await mounted
        self.call_after_refresh(self._next_leg)

    def _next_leg(self) -> None:
        """Stream the next pending answer of this turn. Compare mode's two answers come one after the other: on
        the same cores at once, each would run at half speed and its tokens/s would say nothing."""
        self._reply, use_adapter = self._legs.pop(0)
        self._buffer = ReplyBuffer()
        self._generate(self.session, self._turn_messages, use_adapter, self.stop_event, self._buffer)

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
            self._reply.add(text)

    @on(ReplyDone)
    def _done(self, message: ReplyDone) -> None:
        if message.buffer is not self._buffer or self._reply is None:
            return
        reply = self._reply
        reply.text += message.buffer.take()
        if message.error:
            reply.stats = f"✗ {message.error}"
        elif message.stats is not None:
            reply.stats = fmt_chat_stats(message.stats)
        reply.finish()
        self.last_stats = message.stats
        if self._legs and not message.error and not self.stop_event.is_set():
            self._next_leg()
            return
        for unanswered, _ in self._legs:  # stopped (or failed) before its turn
            unanswered.stats = "not answered: stopped" if not message.error else "not answered"
            unanswered.finish()
        self._legs = []
        if not self._turn_compare:  # a compare turn is not part of the conversation
            if message.error and not reply.text:
                self.messages.pop()  # refused unanswered (too long for the context): it leaves the conversation
            else:
                self.messages.append({"role": "assistant", "content": reply.text})
        self.generating = False
        self.reply_shown_at = time.perf_counter()
        self.replies += 1
        self.query_one("#chat-input", Input).cursor_blink = self._blink
        self._show_status()
        self.row_changed()

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
        if self.session is not None:
            self.session.close()

    def clear_history(self) -> None:
        self.messages.clear()
        self.query_one("#chat-log", VerticalScroll).remove_children()

    # --- keys ---------------------------------------------------------------------------------------------------

    def set_compare(self, on_: bool) -> None:
        """Compare mode on or off (not while a reply streams: its other half would be lost)."""
        if self.generating or (on_ and not (self.session is not None and self.session.has_adapter)):
            return
        self.compare = on_
        self._show_status()

    def can(self, action: str):
        if action == "compare":
            if self.session is None:
                return False
            return True if self.session.has_adapter else None  # steady while a reply streams (see "stop")
        if action == "adapter":
            if self.compare:
                return None
            return True if (self.session is None or self.session.has_adapter) else None
        if action == "stop":
            # Always shown once the model is loaded: changing the footer while a reply streams costs the reply.
            return True if self.session is not None else False
        if action == "load":
            return (None if self.model_loading else True) if self.session is None else False
        return False

    def do(self, action: str) -> None:
        if action == "compare":
            self.set_compare(not self.compare)
        elif action == "adapter":
            self.set_adapter(not self.use_adapter)
        elif action == "stop" and self.stop_event is not None:
            self.stop_event.set()
        elif action == "load":
            self.load()

    def focus_first(self) -> None:
        self.query_one("#chat-input", Input).focus()

    @property
    def row(self) -> Outcome | None:
        if self.generating or self.model_loading:
            return Outcome("running")
        if self.load_error:
            return Outcome("failed")
        if self.session is not None:
            return Outcome("done", note=f"{self.replies} msg" if self.replies else "ready")
        return None
