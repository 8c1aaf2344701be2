"""Compare mode in the chat pane (F6): one prompt, answered with the adapter off and on, side by side, streamed.

Real onnxruntime-genai on the tiny lab's model (a private copy of the session's lab).
"""

from __future__ import annotations

import pytest

from conftest import app_for, loaded_chat, screen_text, wait_for

PROMPT = "What food should I try in Kyoto?"


@pytest.mark.slow
async def test_compare_answers_one_prompt_with_the_adapter_off_and_on_side_by_side(lab_copy):
    from olive_lab.tui.chat_pane import Bubble, ChatPane

    finished = []
    app = app_for(lab_copy)
    async with app.run_test(size=(100, 30), message_hook=lambda m: finished.append(m)
                            if isinstance(m, ChatPane.ReplyDone) else None) as pilot:
        pane = await loaded_chat(pilot, app)
        assert pane.session.has_adapter
        await pilot.press("f6")
        assert pane.compare
        assert "OFF and ON side by side" in screen_text(app)
        await pilot.press(*PROMPT, "enter")
        await wait_for(pilot, lambda: pane.replies == 1, 60)
        rows = app.query(".chat-compare")
        assert len(rows) == 1
        off, on = rows.first().query(Bubble)
        assert (off.tag, on.tag) == ("adapter off", "adapter on")
        assert off.text and on.text and off.text != on.text
        assert not off.streaming and not on.streaming and "tokens" in off.stats and "tokens" in on.stats
        # Each answer streamed from its own generation, one after the other.
        assert len(finished) == 2 and finished[0].buffer is not finished[1].buffer
        assert off.region.y == on.region.y and off.region.x < on.region.x, "side by side"
        assert pane.messages == [], "a compare turn stands alone: it is not sent with later questions"
        await pilot.press("f6")
        assert not pane.compare
        await pilot.press(*PROMPT, "enter")
        await wait_for(pilot, lambda: pane.replies == 2, 60)
        assert [m["role"] for m in pane.messages] == ["user", "assistant"]
        assert len(app.query(".chat-compare")) == 1


@pytest.mark.slow
async def test_stop_in_compare_mode_leaves_the_second_answer_unasked(lab_copy, monkeypatch):
    import olive_lab.tui.chat_pane as chat_pane

    monkeypatch.setattr(chat_pane, "MAX_NEW_TOKENS", 1500)
    app = app_for(lab_copy)
    async with app.run_test(size=(100, 30)) as pilot:
        pane = await loaded_chat(pilot, app)
        assert pane.session.has_adapter
        pane.set_compare(True)
        pane.send("Tell me everything about Lisbon.")
        await pilot.press("f8")
        await wait_for(pilot, lambda: pane.replies == 1, 60)
        off, on = app.query(".chat-compare").first().query(chat_pane.Bubble)
        assert "stopped" in off.stats
        assert on.stats == "not answered: stopped" and not on.streaming
