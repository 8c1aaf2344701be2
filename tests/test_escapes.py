"""Nothing hostile reaches the terminal (issue 15, item 5): escape sequences in a dataset, a log or a model reply
are shown, never executed. Colour codes (SGR) in Olive's logs are the one kind kept."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys

import pytest

from olive_lab.steps.safe_text import SGR_RE, clip, keep_sgr, visible

#: What a hostile row tried (issue 15): rename the tmux pane, clear the screen, write the clipboard, reset the
#: terminal, an 8-bit CSI, and a right-to-left override that reorders what is shown.
HOSTILE = {
    "title": "\x1b]0;PWNED\x07",
    "clear": "\x1b[2J\x1b[H",
    "clipboard": "\x1b]52;c;cm0gLXJmIH4=\x07",
    "reset": "\x1bc",
    "csi8": "\x9b2J",
    "bidi": "abc\u202edcba",
    "st-terminated": "\x1b]8;;https://evil.example\x1b\\link\x1b]8;;\x1b\\",
}


def assert_only_colours(output: str) -> None:
    """Every ESC in `output` starts a colour code; no BEL, no C1 control, no bidi override is left."""
    rest = SGR_RE.sub("", output)
    assert "\x1b" not in rest, repr(rest[max(0, rest.find("\x1b") - 40):rest.find("\x1b") + 40])
    assert not re.search("[\x07\x80-\x9f\u202a-\u202e\u2066-\u2069]", rest)


@pytest.mark.parametrize("name", HOSTILE)
def test_visible_shows_every_sequence_and_loses_nothing(name):
    shown = visible(f"before {HOSTILE[name]} after")
    assert_only_colours(shown)
    assert shown.startswith("before ") and shown.endswith(" after")
    if "PWNED" in HOSTILE[name]:
        assert "␛]0;PWNED␇" in shown


def test_keep_sgr_keeps_colours_and_shows_the_rest():
    line = "\x1b[31mred\x1b[0m \x1b]0;PWNED\x07 \x1b[2J\x1b[1;32mgreen\x1b[m"
    kept = keep_sgr(line)
    assert kept == "\x1b[31mred\x1b[0m ␛]0;PWNED␇ ␛[2J\x1b[1;32mgreen\x1b[m"
    assert_only_colours(kept)
    assert keep_sgr("tab\tand\nline") == "tab\tand\nline"


def test_clip_says_how_much_was_left_out():
    assert clip("x" * 10, 10) == "x" * 10
    assert clip("x" * 5_000_000, 100) == "x" * 100 + "… (4,999,900 more characters)"


@pytest.fixture
def hostile_dataset(tmp_path):
    rows = [{"prompt": f"Question {name} {text} about Lisbon?", "response": f"An answer {text} with {name}."}
            for name, text in HOSTILE.items()]
    rows += [{"prompt": f"Plain question {i}?", "response": "A plain answer. " * 10} for i in range(8)]
    path = tmp_path / "hostile.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_the_data_command_prints_no_escape_but_colours(hostile_dataset):
    """As on a colour terminal (Rich emits its own SGR codes), with every hostile row among the samples."""
    env = {**os.environ, "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "COLUMNS": "200"}
    result = subprocess.run([sys.executable, "-m", "olive_lab", "data", str(hostile_dataset), "-n", "20", "--all"],
                            capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    assert "\x1b[" in result.stdout  # colours are there: the test looks at a real coloured output
    assert_only_colours(result.stdout + result.stderr)
    assert "␛]0;PWNED␇" in result.stdout and "␛]52;c;" in result.stdout and "<U+009B>2J" in result.stdout


def test_the_data_commands_json_escapes_control_characters(hostile_dataset):
    result = subprocess.run([sys.executable, "-m", "olive_lab", "data", str(hostile_dataset), "--json", "-n", "20"],
                            capture_output=True, text=True)
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "\\u001b]0;PWNED\\u0007" in result.stdout  # the data itself is untouched, written as JSON escapes


def test_log_lines_keep_their_colours_and_lose_their_power():
    from olive_lab.steps.logparse import LogParser

    parser = LogParser()
    events = parser.feed("\x1b[32mINFO\x1b[0m step 1 \x1b]0;PWNED\x07\x1bc\x9b2J done\n")
    [line] = [e for e in events if type(e).__name__ == "LogLine"]
    assert "\x1b[32m" in line.styled
    assert_only_colours(line.styled)
    assert_only_colours(line.text)
    assert "PWNED" in line.text and "done" in line.text


def test_the_headless_follower_prints_a_hostile_log_line_safely():
    """`olive-lab run --verbose` prints each log line; the terminal gets its colour, nothing else."""
    from rich.console import Console

    from olive_lab.follow import show
    from olive_lab.steps.events import Finished
    from olive_lab.steps.logparse import LogParser

    events = LogParser().feed("\x1b[31mred\x1b[0m \x1b]0;PWNED\x07 \x1b]52;c;aGk=\x07 \x1b[2J \x1bc\n")
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=200)
    show(console, "finetune", [*events, Finished(duration_s=1.0)], verbose=True)
    assert "\x1b[31m" in out.getvalue() and "PWNED" in out.getvalue()
    # Rich's Live display draws with cursor codes of its own; only what the log line brought is checked here.
    printed = [line for line in out.getvalue().splitlines() if "PWNED" in line]
    assert printed and all("\x1b]" not in line and "\x1bc" not in line and "\x1b[2J" not in line for line in printed)


async def test_the_log_view_renders_colours_and_shows_the_rest():
    from textual.app import App

    from olive_lab.tui.logview import LogView

    class One(App):
        def compose(self):
            yield LogView(id="log")

    app = One()
    async with app.run_test(size=(120, 10)) as pilot:
        view = app.query_one(LogView)
        view.write_lines(["\x1b[31mred\x1b[0m \x1b]0;PWNED\x07 \x1b[2J \x1b]52;c;aGk=\x07 \x1bc \x9b2J\tend"])
        await pilot.pause()
        segments = list(view.render_line(0))
        text = "".join(s.text for s in segments)
        assert not any(c in text for c in "\x1b\x07\x9b")
        assert "␛]0;PWNED␇" in text and "␛[2J" in text and "␛c" in text and "<U+009B>" in text
        red = [s for s in segments if s.text == "red"]
        assert red and red[0].style.color is not None and red[0].style.color.number == 1  # ANSI red
