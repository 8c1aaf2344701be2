"""Keys (issue 15, item 10): one-letter shortcuts never act while the user is plainly typing, and the upload form
opens with the cursor in its first empty field."""

from __future__ import annotations

from textual.widgets import Input

from conftest import app_for, ready, wait_for

FIELDS = ("subscription", "resource_group", "workspace", "name", "version", "description")


def values(app) -> dict[str, str]:
    return {key: app.query_one(f"#up-{key}", Input).value for key in FIELDS}


async def open_upload(app, pilot):
    await ready(pilot, app)
    app.show_step("upload")
    pane = app.pane("upload")
    await wait_for(pilot, lambda: pane.prefilled)
    await pilot.pause()
    return pane


async def test_the_upload_form_opens_with_the_cursor_in_the_first_empty_field(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_upload(app, pilot)
        assert app.focused is app.query_one("#up-subscription", Input)  # nothing known about Azure here
        await pilot.press(*"rg lab")
        assert app.current_pane.step == "upload"
        assert values(app)["subscription"] == "rg lab"  # the text landed where the cursor was


async def test_letters_typed_outside_the_fields_of_the_form_do_nothing(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await open_upload(app, pilot)
        before = values(app)
        app.steps.focus()  # the focus is outside the inputs, the form still on screen
        await pilot.pause()
        await pilot.press(*"rg lab", "n", "x", "c", "v", "q")
        await pilot.pause()
        assert app.current_pane.step == "upload", "b went back a step"
        assert app.handle is None, "r started a run"
        assert app.is_running, "q quit the wizard"
        assert values(app) == before
        await pilot.press("f3")  # the F-keys still work there
        await pilot.pause()
        assert app.current_pane.step == "chat"


async def test_letters_still_act_where_nothing_can_be_typed(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        app.show_step("data")
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert app.current_pane.step == "model"
        await pilot.press("b")
        await pilot.pause()
        assert app.current_pane.step == "data"
