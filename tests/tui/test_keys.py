"""Keys and typing (issue 15, items 3 and 10): one-letter shortcuts never act while the user is plainly typing, the
upload form opens with the cursor in its first empty field, and a chat prompt too long for the model is refused at
once."""

from __future__ import annotations

import pytest
from textual.widgets import Input

from conftest import app_for, loaded_chat, drawn, ready, screen_text, wait_for

FIELDS = ("subscription", "resource_group", "workspace", "name", "version", "description")


def values(app) -> dict[str, str]:
    return {key: app.query_one(f"#up-{key}", Input).value for key in FIELDS}


async def open_upload(app, pilot):
    await ready(pilot, app)
    app.wizard.show_step("upload")
    pane = app.wizard.pane("upload")
    await wait_for(pilot, lambda: pane.prefilled)
    await pilot.pause()
    return pane


async def test_the_upload_form_opens_with_the_cursor_in_the_first_empty_field(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_upload(app, pilot)
        assert app.focused is app.query_one("#up-subscription", Input)  # nothing known about Azure here
        await pilot.press(*"rg lab")
        assert app.wizard.current_pane.step == "upload"
        assert values(app)["subscription"] == "rg lab"  # the text landed where the cursor was


async def test_letters_typed_outside_the_fields_of_the_form_do_nothing(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_upload(app, pilot)
        before = values(app)
        app.wizard.steps.focus()  # the focus is outside the inputs, the form still on screen
        await pilot.pause()
        await pilot.press(*"rg lab", "n", "x", "c", "v", "q")
        await pilot.pause()
        assert app.wizard.current_pane.step == "upload", "b went back a step"
        assert app.wizard.follower.handle is None, "r started a run"
        assert app.is_running, "q quit the wizard"
        assert values(app) == before
        await pilot.press("f3")  # the F-keys still work there
        await pilot.pause()
        assert app.wizard.current_pane.step == "chat"


async def test_letters_still_act_where_nothing_can_be_typed(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("data")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert app.wizard.current_pane.step == "model"
        await pilot.press("b")
        await pilot.pause()
        assert app.wizard.current_pane.step == "data"


@pytest.mark.slow
async def test_a_prompt_too_long_for_the_model_is_refused_at_once_and_the_chat_goes_on(lab_copy):
    """Issue 15: a 20,000-character prompt froze the wizard for about a minute, then showed a raw error."""
    import time

    from olive_lab.tui.chat_pane import Bubble

    app = app_for(lab_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await loaded_chat(pilot, app)
        started = time.perf_counter()
        pane.send("Lisbon " * 2900)
        await wait_for(pilot, lambda: pane.replies == 1, 60)
        assert time.perf_counter() - started < 10
        assert "more than the model's context of 2048 tokens" in pane.query(Bubble).last().stats
        assert pane.messages == []  # the refused message is not sent again with the next one
        pane.send("What food should I try in Kyoto?")
        await wait_for(pilot, lambda: pane.replies == 2, 60)
        assert pane.last_stats.tokens > 0
        assert [m["role"] for m in pane.messages] == ["user", "assistant"]


async def test_the_footer_follows_what_the_pane_can_do_by_itself(fresh_lab, monkeypatch):
    """A pane's key state is reactive (bindings=True): the footer changes with it, nobody refreshes it by hand."""
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        pane = await open_upload(app, pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "F9 upload" in footer and "F8 cancel" not in footer
        pane.uploading = True
        await drawn(pilot)
        footer = screen_text(app).splitlines()[-1]
        assert "F8 cancel" in footer and "F9 upload" not in footer
        pane.uploading = False
        await drawn(pilot)
        assert "F9 upload" in screen_text(app).splitlines()[-1]
