"""The chat pane's streaming reply: what it draws while it grows is what the finished reply draws.

The pane redraws only the changed lines of a streaming reply (tui/chat_pane.py `Bubble`); these tests hold that
picture, at every step, to the one the ordinary Static rendering gives for the same text, with the things that
break incremental wrapping (words longer than the line, runs of spaces and blank lines, wide characters, tabs,
control characters). No model is needed: the widget is fed text as the generating thread would.
"""

from __future__ import annotations

import random

import pytest
from textual.app import App
from textual.containers import VerticalScroll

from olive_lab.tui import chat_pane
from olive_lab.tui.chat_pane import Bubble, ReplyBuffer

VOCAB = ["Kyoto", "ramen", "the", "a", "of", "temple,", "supercalifragilisticexpialidocious", "日本語", "é", " ",
         "  ", "\n", "\n\n", "\n\n\n\n", "\t", "\x1b[31m", "\x07", "end.", "x",
         "https://example.com/a/very/long/path/that/never/fits/on/one/line"]


class LogApp(App):
    CSS = ".chat-msg { height: auto; margin: 0 0 1 0; }"

    def compose(self):
        yield VerticalScroll(id="log")


def drawn(bubble: Bubble) -> list[str]:
    return [bubble.render_line(y).text for y in range(bubble.size.height)]


def assert_looks_finished(live: Bubble, reference: Bubble) -> None:
    """The streaming bubble shows the finished one's lines, then at most the blank lines it grew ahead by."""
    got, want = drawn(live), drawn(reference)
    assert got[:len(want)] == want, live.text
    ahead = got[len(want):]
    assert len(ahead) < chat_pane.GROW_LINES and not "".join(ahead).strip(), live.text


@pytest.mark.parametrize("width", [14, 33, 80])
async def test_a_streaming_reply_looks_like_the_finished_one_at_every_step(width):
    rnd = random.Random(width)
    async with LogApp().run_test(size=(width, 300)) as pilot:
        log = pilot.app.query_one("#log")
        for _ in range(12):
            await log.remove_children()
            live = Bubble("assistant", tag="adapter on", streaming=True)
            reference = Bubble("assistant", tag="adapter on")
            await log.mount_all([live, reference])
            await pilot.pause()
            pieces = [(" " if rnd.random() < 0.7 else "") + rnd.choice(VOCAB) for _ in range(rnd.randint(20, 150))]
            compared = 0
            while pieces:
                n = rnd.randint(1, 5)
                batch, pieces = pieces[:n], pieces[n:]
                live.add("".join(batch))
                if rnd.random() < 0.3 or not pieces:
                    reference.text = live.text
                    reference.finish()
                    await pilot.pause()
                    await pilot.pause()
                    assert_looks_finished(live, reference)
                    compared += 1
            assert compared and live._streamed(live.size.width)  # the incremental path was the one compared
            live.stats = "first token 12 ms · 30.0 tokens/s · 200 tokens"
            live.finish()
            await pilot.pause()
            assert "tokens/s" in " ".join(drawn(live)) and not live.streaming  # drawn the ordinary way, stats below


@pytest.mark.parametrize("width", [18, 37])
async def test_long_words_and_space_runs_streamed_a_character_at_a_time(width):
    # A word longer than the line is folded, and the spaces after it can spill onto a line of their own: the
    # lines of such a word are never final while it may still grow.
    text = ("model says " + "supercalifragilisticexpialidocious" * 2 + " " * 11 + "ramen" +
            "supercalifragilisticexpialidocious" + " é  x\n   " + "日本語" * 9 + " end.")
    async with LogApp().run_test(size=(width, 80)) as pilot:
        live = Bubble("assistant", streaming=True)
        reference = Bubble("assistant")
        await pilot.app.query_one("#log").mount_all([live, reference])
        await pilot.pause()
        for char in text:
            live.add(char)
            reference.text = live.text
            reference.finish()
            await pilot.pause()
            assert_looks_finished(live, reference)


async def test_control_characters_from_the_model_never_reach_the_terminal():
    async with LogApp().run_test(size=(60, 10)) as pilot:
        reply = Bubble("assistant", tag="adapter off", streaming=True)
        await pilot.app.query_one("#log").mount(reply)
        await pilot.pause()
        reply.add("red \x1b[31malert\x07 tab\tend\r\n")
        await pilot.pause()
        text = "\n".join(drawn(reply))
        assert "\x1b" not in text and "\x07" not in text and "\r" not in text
        assert "red �[31malert� tab    end" in text
        assert reply.text == "red \x1b[31malert\x07 tab\tend\r\n"  # the history keeps what the model said


def test_the_generating_thread_posts_at_most_ui_rate_times_a_second():
    now = [0.0]
    buffer = ReplyBuffer(clock=lambda: now[0])
    posts = 0
    for _ in range(550):  # a token a millisecond for 0.55 s
        now[0] += 0.001
        if buffer.add("x"):
            posts += 1
            buffer.take()  # the UI reads it at once
    assert posts == int(0.55 * chat_pane.UI_RATE)
    # Counted from the question: a reply done within 1 / UI_RATE s is drawn once, at the end (by ReplyDone).
    now[0] = 10.0
    quick = ReplyBuffer(clock=lambda: now[0])
    assert not any(quick.add(piece) for piece in "a quick reply")
    # Nothing more is posted while a message is unread, however long it waits.
    now[0] += 1.5 / chat_pane.UI_RATE
    assert quick.add("!") is True
    now[0] += 1.5 / chat_pane.UI_RATE
    assert quick.add("?") is False
    assert quick.take() == "a quick reply!?"
