"""Pilot tests of every pane against the real step objects on the cpu profile (no mocks of Olive)."""

from __future__ import annotations

import re

import pytest
from textual.widgets import ProgressBar

from conftest import app_for, loaded_chat, pane_words, ready, screen_text, settled, wait_for


# --- the shell ---------------------------------------------------------------------------------------------------

async def test_shell_shows_steps_header_and_vscode_safe_keys(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        text = screen_text(app)
        first = text.splitlines()[0]
        assert "profile cpu" in first and "GPU none" in first and str(fresh_lab.name) in first
        for label in ("check", "data", "base model", "quantize", "finetune", "optimize", "chat", "upload"):
            assert label in text
        footer = text.splitlines()[-1]
        assert "F2 commands" in footer and "F10 quit" in footer and "F4 next" in footer
        assert "^p" not in footer.lower() and "ctrl+p" not in footer.lower()
        # The palette is on F2 (ctrl+p is VS Code's Quick Open).
        assert app.COMMAND_PALETTE_BINDING == "f2"
        await pilot.press("f2")
        await pilot.pause()
        from textual.command import CommandPalette

        assert isinstance(app.screen, CommandPalette)
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, CommandPalette)


async def test_next_back_and_arrows_move_between_panes(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        assert app.wizard.current_pane.step == "check"
        await pilot.press("f4", "f4", "f4")  # pressed quickly: none may be lost
        await settled(pilot)
        assert app.wizard.current_pane.step == "quantize"
        await pilot.press("f3")
        await settled(pilot)
        assert app.wizard.current_pane.step == "model"
        await pilot.press("down")
        await settled(pilot)
        assert app.wizard.current_pane.step == "quantize"
        await pilot.click("#row-upload")
        await settled(pilot)
        assert app.wizard.current_pane.step == "upload"


async def test_help_lists_the_keys(fresh_lab):
    app = app_for(fresh_lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("question_mark")
        await pilot.pause()
        from olive_lab.tui.modals import Help

        assert isinstance(app.screen, Help)
        text = screen_text(app)
        assert "command palette" in text and "F9 / r" in text
        assert "re-attaches" in str(app.screen.query_one("#help Static").render())
        await pilot.press("escape")
        await pilot.pause()
        assert not isinstance(app.screen, Help)


# --- check ---------------------------------------------------------------------------------------------------------

async def test_check_pane_runs_the_real_check(fresh_lab):
    from olive_lab.steps.check import run_checks

    expected = run_checks(str(fresh_lab), "cpu")
    app = app_for(fresh_lab, run_check=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        pane = app.wizard.pane("check")
        await wait_for(pilot, lambda: pane.report is not None, 120)
        table = app.query_one("#findings")
        assert table.row_count == len(expected.findings)
        text = screen_text(app)
        assert "Profile: cpu" in text
        assert check_summary(expected) in text
        # Re-check with F9: the pane says it is checking, then shows a fresh report.
        first = pane.report
        await pilot.press("f9")
        assert "Checking this machine…" in screen_text(app)
        await wait_for(pilot, lambda: pane.report is not first and not pane.checking, 120)
        assert check_summary(pane.report) in screen_text(app)
        assert app.wizard.steps.row("check").state.status == check_row_status(expected)


def check_summary(report) -> str:
    """The first words of the check pane's summary line for `report`, as the user reads them."""
    blocking, warnings = len(report.blocking), len(report.warnings)
    if blocking:
        return f"✗ {blocking} blocking for the cpu profile"
    if warnings:
        return f"! {warnings} warning(s); nothing blocks the cpu profile"
    return "✓ Ready for the cpu profile"


def check_row_status(report) -> str:
    return "failed" if report.blocking else "warning" if report.warnings else "done"


async def test_check_pane_shows_the_fix_of_the_selected_finding(fresh_lab):
    from olive_lab.steps.check import run_checks

    report = run_checks(str(fresh_lab), "cpu")
    app = app_for(fresh_lab, check_report=report)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await wait_for(pilot, lambda: app.wizard.pane("check").report is not None)
        table = app.query_one("#findings")
        table.focus()
        for i, finding in enumerate(report.findings[:4]):
            table.move_cursor(row=i)
            await pilot.pause()
            detail = str(app.query_one("#check-detail").render())
            assert finding.title in detail
            if finding.fix:
                assert "Fix:" in detail


# --- data ----------------------------------------------------------------------------------------------------------

async def test_data_pane_stats_pages_and_template(fresh_lab):
    from olive_lab.steps.data import inspect_dataset
    from olive_lab.steps.profiles import LAB_TEXT_TEMPLATE

    report = inspect_dataset(fresh_lab / "data" / "data_sample_travel.jsonl", LAB_TEXT_TEMPLATE)
    app = app_for(fresh_lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("f4")
        pane = app.wizard.pane("data")
        await wait_for(pilot, lambda: pane.report is not None)
        text = screen_text(app)
        assert "usable for fine-tuning" in text
        assert f"{report.stats.rows} rows" in text
        assert "page 1/" in text
        samples = app.query_one("#samples")
        assert samples.row_count == min(50, len(report.rows))
        # The cpu profile's SmolLM2 is trained on its own chat template; the split is shown.
        template = str(app.query_one("#template").render())
        assert "<|im_start|>user" in template and report.rows[0].prompt in template.replace("\n", " ")
        assert "Split: 269 of 299 rows train" in " ".join(text.split())
        assert (fresh_lab / "data" / "heldout.jsonl").is_file()
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert pane.page_index == 1
        assert "page 2/" in screen_text(app)
        # Moving in the sample list renders that sample.
        samples.focus()
        await pilot.press("down")
        await pilot.pause()
        assert report.rows[51].prompt[:20] in str(app.query_one("#template").render()).replace("\n", " ")


async def test_data_pane_lists_problems_by_line(fresh_lab):
    bad = fresh_lab / "data" / "bad.jsonl"
    bad.write_text('{"prompt": "Where?", "response": "Here."}\n'
                   'not json at all\n'
                   '{"prompt": "Only a prompt"}\n', encoding="utf-8")
    app = app_for(fresh_lab, data=str(bad))
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        await pilot.press("f4")
        pane = app.wizard.pane("data")
        await wait_for(pilot, lambda: pane.report is not None)
        problems = app.query_one("#problems")
        lines = {p.line for p in pane.report.problems}
        assert {2, 3} <= lines
        assert problems.row_count == len(pane.report.problems)
        assert "not usable" in screen_text(app)
        assert app.wizard.steps.row("data").state.status == "failed"


# --- steps that run: the plan ---------------------------------------------------------------------------------------

async def test_step_pane_explains_and_copies_the_exact_command(fresh_lab):
    from olive_lab.steps import pipeline

    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("quantize")
        await settled(pilot)
        lab = pipeline.load_lab(fresh_lab, "cpu")
        plan = pipeline.plan(lab, "quantize")
        command = plan.command_line(lab.workspace)
        text = screen_text(app)
        assert plan.explain in pane_words(app)
        assert command.split()[0] in text and command.split()[-1] in text
        assert "Inputs:" in text and "Outputs:" in text and "Expected:" in text
        assert "Needs first:" in text  # the base model is not there yet
        await pilot.press("f7")
        await pilot.pause()
        assert app.clipboard == command


# --- steps that run: a real run --------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_running_the_model_step_live(fresh_lab):
    app = app_for(fresh_lab, model="tiny")  # seconds; SmolLM2's conversion runs once in the real_cpu_lab fixture
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("model")
        await settled(pilot)
        await pilot.press("f9")
        pane = app.wizard.pane("model")
        await wait_for(pilot, lambda: pane.run_status == "running", 30)
        assert app.wizard.steps.row("model").state.status == "running"
        assert app.wizard.follower.handle is not None
        await wait_for(pilot, lambda: pane.run_status in ("done", "failed"), 180)
        assert pane.run_status == "done", screen_text(app)
        log_file = (fresh_lab / "logs" / "model.log").read_text(encoding="utf-8", errors="replace")
        assert pane.log_view.line_count >= len([l for l in log_file.splitlines() if l.strip()]) - 1
        app.query_one("#model-tabs").active = "model-run"
        await settled(pilot)
        view = pane.log_view
        assert view.follow and view.scroll_y == view.max_scroll_y, "the live log follows its end"
        await wait_for(pilot, lambda: app.wizard.follower.handle is None, 30)
        assert app.wizard.steps.row("model").state.status == "done"
        assert "✓ base model" in screen_text(app)


@pytest.mark.slow
async def test_finished_steps_show_their_log_loss_curve_and_outcome(lab_copy):
    app = app_for(lab_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("finetune")
        pane = app.wizard.pane("finetune")
        await wait_for(pilot, lambda: pane.run_status == "done", 30)
        assert len(pane.losses) >= 2, "the trainer's loss reports make the curve"
        assert app.query_one("#finetune-loss").data == pane.losses
        raw = (lab_copy / "logs" / "finetune.log").read_text(encoding="utf-8", errors="replace")
        assert "Model is saved" in raw
        assert any("Model is saved" in line for line in pane.log_view.plain_lines()[-5:])
        for step in ("model", "quantize", "finetune", "optimize"):
            assert app.wizard.steps.row(step).state.status == "done"


@pytest.mark.slow
async def test_cancel_asks_first_then_stops_and_retry_is_offered(lab_copy):
    app = app_for(lab_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("finetune")
        pane = app.wizard.pane("finetune")
        await wait_for(pilot, lambda: pane.can("rerun") is True, 30)
        await pilot.press("f9")  # run again (forced)
        await wait_for(pilot, lambda: pane.run_status == "running" and pane.log_view.line_count > 0, 60)
        # The trainer's progress shows as a bar with its count beside it.
        await wait_for(pilot, lambda: bool(app.query("#finetune-progress"))
                       and re.search(r"\d+/\d+ it", screen_text(app)) is not None, 120)
        await pilot.press("f8")
        await settled(pilot)
        from olive_lab.tui.modals import Confirm

        assert isinstance(app.screen, Confirm)
        await pilot.press("n")  # keep running
        await settled(pilot)
        assert pane.run_status == "running"
        await pilot.press("f8")
        await settled(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: pane.run_status in ("cancelled", "failed", "done"), 60)
        assert pane.run_status == "cancelled"
        assert "cancelled" in screen_text(app)
        await wait_for(pilot, lambda: app.wizard.follower.handle is None, 30)
        assert pane.can("retry") is True
        assert "F9 retry" in screen_text(app).splitlines()[-1]
        # Nothing is in progress: no bar is left, and nothing on screen animates (an idle wizard stays idle).
        await wait_for(pilot, lambda: not app.query(ProgressBar), 5)
        assert [w for w in app.query("*") if w.auto_refresh] == []


@pytest.mark.slow
async def test_reattach_replays_the_whole_log_and_follows_to_the_end(lab_copy):
    from olive_lab.steps import pipeline, runner

    lab = pipeline.load_lab(lab_copy, "cpu")
    handle = runner.start(lab, ["finetune"], force=True)
    try:
        # Let it write a good part of its log before the wizard opens: read it as a follower does, 20 lines in.
        from olive_lab.steps.events import LogLine

        written = (event for event in handle.follow("finetune") if isinstance(event, LogLine))
        assert len([line for _, line in zip(range(20), written)]) == 20, "finetune wrote 20 lines"
        written.close()
        app = app_for(lab_copy)
        async with app.run_test(size=(80, 24)) as pilot:
            await ready(pilot, app)
            pane = app.wizard.pane("finetune")
            await wait_for(pilot, lambda: pane.run_status == "running", 30)
            assert app.wizard.current_pane.step == "finetune", "the wizard shows the running step"
            assert pane.log_view.line_count > 0
            await wait_for(pilot, lambda: pane.log_view.line_count > 30, 120)
            await settled(pilot)
            view = pane.log_view
            assert view.follow and view.max_scroll_y > 0 and view.scroll_y == view.max_scroll_y, \
                "the re-attached log shows its newest lines"
            await wait_for(pilot, lambda: pane.run_status in ("done", "failed", "cancelled"), 600)
            assert pane.run_status == "done", screen_text(app)
            expected = [l for l in runner.follow_log(lab.workspace, "finetune", 0.1, lambda: False)
                        if type(l).__name__ == "LogLine"]
            assert pane.log_view.line_count == len(expected)
            assert pane.log_view.plain_lines()[-1] == expected[-1].text
    finally:
        if handle.alive():
            handle.cancel(grace_s=2)


# --- chat ------------------------------------------------------------------------------------------------------------

@pytest.mark.slow
async def test_chat_streams_with_adapter_on_and_off(lab_copy):
    app = app_for(lab_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await loaded_chat(pilot, app)
        assert pane.session.has_adapter and pane.use_adapter
        await pilot.press(*"What food should I try in Kyoto?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.replies == 1, 60)
        first = pane.last_stats
        assert first.tokens > 0 and first.ttft_s is not None
        assert "tokens/s" in screen_text(app) and "adapter on" in screen_text(app)
        await pilot.press("f7")
        await pilot.pause()
        assert pane.use_adapter is False
        await pilot.press(*"What food should I try in Kyoto?")
        await pilot.press("enter")
        await wait_for(pilot, lambda: pane.replies == 2, 60)
        assert "adapter off" in screen_text(app)
        # The history is kept for the session and sent with each question.
        assert [m["role"] for m in pane.messages] == ["user", "assistant", "user", "assistant"]
        with_adapter, without = pane.messages[1]["content"], pane.messages[3]["content"]
        assert with_adapter != without


@pytest.mark.slow
async def test_chat_stop_ends_the_reply_early(lab_copy, monkeypatch):
    import olive_lab.tui.chat_pane as chat_pane

    monkeypatch.setattr(chat_pane, "MAX_NEW_TOKENS", 1500)
    app = app_for(lab_copy)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = await loaded_chat(pilot, app)
        pane.send("Tell me everything about Lisbon.")
        await pilot.press("f8")
        await wait_for(pilot, lambda: pane.replies == 1, 60)
        assert pane.last_stats.stopped and pane.last_stats.tokens < 1500


async def test_a_conversation_that_outgrows_the_chat_log_keeps_its_wrapping(fresh_lab):
    from olive_lab.tui.chat_pane import Bubble

    app = app_for(fresh_lab)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("chat")
        await pilot.pause()
        log = app.query_one("#chat-log")
        width = log.scrollable_content_region.width
        first = Bubble("assistant", "Lisbon's trams climb hills that the old town was built on " * 3)
        await log.mount(first)
        await pilot.pause()
        lines = first.size.height
        await log.mount_all([Bubble("user", f"question {n}") for n in range(30)])
        await pilot.pause()
        # A scrollbar appears; its room was kept, so no message is narrowed, re-wrapped and laid out again.
        assert log.max_scroll_y > 0
        assert log.scrollable_content_region.width == width and first.size.height == lines


# --- upload ----------------------------------------------------------------------------------------------------------

async def test_upload_form_validates_as_you_type(fresh_lab, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    monkeypatch.setenv("OLIVE_LAB_RESOURCE_GROUP", "rg-lab")
    monkeypatch.setenv("OLIVE_LAB_WORKSPACE", "ws-lab")
    app = app_for(fresh_lab)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("upload")
        pane = app.wizard.pane("upload")
        await wait_for(pilot, lambda: pane.prefilled)
        assert app.query_one("#up-resource_group").value == "rg-lab"
        assert app.query_one("#up-workspace").value == "ws-lab"
        assert "environment" in str(app.query_one("#up-workspace-source").render())
        assert pane.problems == []
        # No optimized model yet: the folder problem keeps the button greyed, and says why.
        assert pane.folder_problems and pane.can("upload") is None
        name = app.query_one("#up-name")
        name.focus()
        name.value = ""
        await pilot.press(*"bad name!")
        await pilot.pause()
        assert pane.problems == ["The model name 'bad name!' has characters Azure ML does not allow in model names: "
                                 "' ' '!'. Use letters, digits, '-' and '_' only, e.g. 'bad-name' (--name)."]
        assert name.has_class("-invalid")
        assert f"✗ {pane.problems[0]}" in pane_words(app)
        name.value = "ft-for-travel"
        await pilot.pause()
        assert not name.has_class("-invalid") and pane.problems == []
        ws = app.query_one("#up-workspace")
        ws.value = "x"
        await pilot.pause()
        assert ws.has_class("-invalid")


@pytest.mark.slow
async def test_upload_is_ready_once_the_model_exists(lab_copy, monkeypatch):
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", "00000000-0000-0000-0000-000000000000")
    monkeypatch.setenv("OLIVE_LAB_RESOURCE_GROUP", "rg-lab")
    monkeypatch.setenv("OLIVE_LAB_WORKSPACE", "ws-lab")
    app = app_for(lab_copy)
    async with app.run_test(size=(100, 40)) as pilot:
        await ready(pilot, app)
        app.wizard.show_step("upload")
        pane = app.wizard.pane("upload")
        await wait_for(pilot, lambda: pane.prefilled)
        await settled(pilot)
        assert pane.folder_problems == [] and pane.can("upload") is True
        assert "F9 upload" in screen_text(app).splitlines()[-1]
        assert "Ready to upload" in screen_text(app)
