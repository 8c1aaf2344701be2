"""Small modal screens: yes/no confirmation and the key help."""

from __future__ import annotations

from rich.text import Text
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class Confirm(ModalScreen[bool]):
    """Ask once; y/Enter on Yes confirms, n/Escape declines."""

    BINDINGS = [
        Binding("y", "answer(True)", "yes"),
        Binding("n,escape", "answer(False)", "no"),
    ]

    def __init__(self, question: str, detail: str = "", yes: str = "Yes", no: str = "No") -> None:
        super().__init__(classes="confirm-screen")
        self.question, self.detail, self.yes, self.no = question, detail, yes, no

    def compose(self):
        with Vertical(id="confirm", classes="dialog"):
            yield Static(Text(self.question, style="bold"), id="confirm-question")
            if self.detail:
                yield Static(self.detail, id="confirm-detail", markup=False)
            with Horizontal(classes="buttons"):
                yield Button(f"{self.yes} (y)", id="confirm-yes", variant="error")
                yield Button(f"{self.no} (n)", id="confirm-no", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#confirm-no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm-yes")

    def action_answer(self, value: bool) -> None:
        self.dismiss(value)


HELP = """\
Olive Lab walks through the lab one step at a time. The list on the left is always there:
  · pending   ▶ running (elapsed)   ✓ done (duration)   ✗ failed   ■ cancelled   ! warning

Keys (chosen to pass through VS Code's terminal and plain SSH):
  F2          command palette (go to a step, run the whole lab, theme, quit)
  F3 / b      previous step        F4 / n      next step
  ↑ ↓         move in the step list (the pane follows); Enter or Tab moves into the pane
  Escape      back to the step list
  F9 / r      run the step (and the earlier ones still to do) / retry / re-check / upload
  F8 / x      cancel the running step (asks first) · in chat: stop the reply
  F7 / c      copy the step's Olive command · in chat: adapter on/off
  F6          in chat: compare, the adapter off and on side by side for each prompt
  v           a step's About / Run views          [ ]   previous / next page of samples
  End         follow the end of the log again      F10 / q / ctrl+q   quit
The one-letter keys work where nothing can be typed: in the chat and upload panes, use the F-keys.
Runs go on when the wizard closes or the terminal goes away: open the wizard again in the same
work folder and it re-attaches to the running step, with its whole log.
The mouse works too: click a step, a tab, a button; scroll the log."""


class Help(ModalScreen[None]):
    BINDINGS = [Binding("escape,q,f1,question_mark", "close", "close")]

    def compose(self):
        with VerticalScroll(id="help", classes="dialog"):
            yield Static(HELP, markup=False)
            yield Button("Close (Esc)", id="help-close", variant="primary")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
