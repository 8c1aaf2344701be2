"""Upload the optimized model to an Azure ML workspace (Azure AI Foundry project) and register it.

The form is pre-filled from what the environment knows (`steps.upload.resolve_target`: flags, environment
variables, config.json, the compute instance, `az` defaults) and validated as the user types with Azure's
naming rules (`steps.upload.validate_request`). Sign-in tries the Azure CLI first; if that fails, the device
code and its address are shown here, inside the app (textual-serve has no terminal to print them to).
"""

from __future__ import annotations

import os
import threading
import time
from dataclasses import dataclass

from rich.text import Text
from textual import on, work
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.reactive import var
from textual.widgets import Input, Label, Static

from . import core
from .base import StepPane
from .outcome import Outcome
from .progress import ProgressRow
from olive_lab.steps.units import fmt_bytes


def home_as_tilde(text: str) -> str:
    """Paths under the home folder written with ~, as the header writes the work folder."""
    home = os.path.expanduser("~").rstrip("/")
    return text.replace(home + "/", "~/") if home else text

#: form field -> (label, UploadRequest attribute, words that name it in validate_request's messages)
FIELDS = (
    ("subscription", "subscription", "subscription_id", ("subscription",)),
    ("resource_group", "resource group", "resource_group", ("resource group",)),
    ("workspace", "workspace", "workspace", ("workspace",)),
    ("name", "model name", "name", ("model name",)),
    ("version", "version", "version", ("version",)),
    ("description", "description", "description", ("description",)),
)


class UploadPane(StepPane):
    step = "upload"

    @dataclass
    class Prefilled(Message):
        target: object  # steps.upload's target (subscription, group, workspace), None when unknown
        folder_problems: list[str]
        error: str = ""

    @dataclass
    class DeviceCode(Message):
        url: str
        code: str
        expires_on: object  # a datetime, or None

    @dataclass
    class Status(Message):
        text: str

    @dataclass
    class Progress(Message):
        done: int
        total: int
        name: str

    @dataclass
    class Finished(Message):
        result: object = None  # steps.upload's result, None when it failed
        error: str = ""
        advice: str = ""
        cancelled: bool = False

    #: What F9 and F8 can do follows these: the footer refreshes by itself when one changes.
    missing = var("", bindings=True)  # why steps.upload cannot be used here ("" when it can)
    problems = var(list, bindings=True)
    folder_problems = var(list, bindings=True)
    uploading = var(False, bindings=True)

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.cancel_event: threading.Event | None = None
        self.result = None
        self.error = ""
        self.cancelled = False  # the last upload was stopped with F8
        self.prefilled = False

    def compose(self):
        yield self.title_widget("Upload to Azure AI")
        with VerticalScroll(id="upload-form"):
            yield Static("Registers models/phi/onnx-ao as a model asset in your Azure ML workspace, like "
                         "`az ml model create` in the written lab.", classes="explain", markup=False)
            for key, label, _, _ in FIELDS:
                with Horizontal(classes="field-row"):
                    yield Label(label, classes="field-label")
                    placeholder = "empty: the next free version" if key == "version" else ""
                    yield Input(id=f"up-{key}", placeholder=placeholder, compact=True)
                yield Static("", id=f"up-{key}-source", classes="field-source", markup=False)
            yield Static("", id="upload-problems", classes="problems", markup=False)
            yield Static("", id="upload-login", markup=False)
            yield ProgressRow(id="upload-progress-row", bar_id="upload-progress", show_eta=True)
            yield Static("", id="upload-status", markup=False)

    def on_mount(self) -> None:
        self.query_one("#upload-login").display = False
        self.query_one("#upload-progress-row", ProgressRow).clear()
        self.missing = core.available("upload")
        if self.missing:
            self._status(Text.assemble(("The upload step is not available: ", "bold yellow"), self.missing))

    def set_lab(self, lab) -> None:
        super().set_lab(lab)
        if not self.missing and not self.prefilled:
            self._prefill(lab)

    # --- pre-filling and validating -----------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="upload-prefill", exit_on_error=False)
    def _prefill(self, lab) -> None:
        try:
            up = core.module("upload")
            target = up.resolve_target({}, start=lab.workspace.root)
            folder_problems = up.check_model_folder(lab.onnx_dir)
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.Prefilled(None, [], f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(self.Prefilled(target, folder_problems))

    @on(Prefilled)
    def _prefilled(self, message: Prefilled) -> None:
        self.prefilled = True
        if message.error:
            self._status(Text.assemble(("Could not read the Azure settings: ", "yellow"), message.error))
        target = message.target
        up = core.module("upload")
        values = {"name": up.DEFAULT_NAME, "description": up.DEFAULT_DESCRIPTION, "version": ""}
        if target is not None:
            for key, attr in (("subscription", "subscription_id"), ("resource_group", "resource_group"),
                              ("workspace", "workspace")):
                resolved = getattr(target, attr)
                values[key] = resolved.value or ""
                source = self.query_one(f"#up-{key}-source", Static)
                source.update(Text(f"from {resolved.describe()}", style="dim") if resolved.value else "")
        for key, value in values.items():
            inp = self.query_one(f"#up-{key}", Input)
            if not inp.value:
                inp.value = value
        self.folder_problems = list(message.folder_problems)
        self.validate()
        if self.display and all(self.query_one(f"#up-{key}", Input).value == v for key, v in values.items()):
            self.focus_first()  # filled in after the pane opened, nothing typed yet: the cursor goes to what is empty

    def request(self):
        up = core.module("upload")
        v = {key: self.query_one(f"#up-{key}", Input).value.strip() for key, *_ in FIELDS}
        folder = self.lab.onnx_dir if self.lab is not None else None
        tags = {}
        try:
            tags = up.lab_tags(self.lab.workspace, profile=self.lab.profile.name, base_model=self.lab.base_model)
        except Exception:  # noqa: BLE001 - tags are a nicety
            pass
        return up.UploadRequest(subscription_id=v["subscription"] or None, resource_group=v["resource_group"] or None,
                                workspace=v["workspace"] or None, name=v["name"], version=v["version"] or None,
                                folder=folder, description=v["description"] or up.DEFAULT_DESCRIPTION, tags=tags)

    @on(Input.Changed)
    def _changed(self, event: Input.Changed) -> None:
        if self.prefilled:
            self.validate()

    def validate(self) -> list[str]:
        if self.missing:
            return [self.missing]
        up = core.module("upload")
        problems = up.validate_request(self.request())
        self.problems = problems
        for key, _, _, words in FIELDS:
            bad = any(any(f"The {w}" in p for w in words) for p in problems)
            self.query_one(f"#up-{key}", Input).set_class(bad, "-invalid")
        text = Text()
        for p in problems + self.folder_problems:
            text.append("✗ ", style="bold red")
            text.append(home_as_tilde(p) + "\n")
        if not problems and not self.folder_problems:
            text.append("✓ Ready to upload: F9 starts (sign-in first if needed).", style="green")
        self.query_one("#upload-problems", Static).update(text)
        return problems

    # --- uploading ----------------------------------------------------------------------------------------------

    def can(self, action: str):
        if action == "upload":
            if self.uploading:
                return False
            if self.missing or self.problems or self.folder_problems or self.lab is None:
                return None
            return True
        if action == "cancel":
            return (None if self.cancel_event and self.cancel_event.is_set() else True) if self.uploading else False
        return False

    def do(self, action: str) -> None:
        if action == "upload":
            self.start()
        elif action == "cancel" and self.cancel_event is not None:
            self.cancel_event.set()
            self._status(Text("Cancelling after the current block…", style="yellow"))

    def start(self) -> None:
        if self.missing:
            self.notify(self.missing, title="The upload cannot run", severity="warning")
            return
        if self.validate() or self.folder_problems:
            self.notify("Fix the fields marked above first.", severity="warning")
            return
        self.uploading = True
        self.result = None
        self.error = ""
        self.cancel_event = threading.Event()
        self.query_one("#upload-progress-row", ProgressRow).show(None, 0)
        self._status(Text("Signing in to Azure…", style="yellow"))
        self._upload(self.request(), self.cancel_event)

    @work(thread=True, exclusive=True, group="upload", exit_on_error=False)
    def _upload(self, req, cancel: threading.Event) -> None:
        up = core.module("upload")
        started_at = time.time()
        lock = threading.Lock()
        last = [0.0]

        def on_code(url: str, code: str, expires_on) -> None:
            self.post_message(self.DeviceCode(url, code, expires_on))

        def on_progress(done: int, total: int, name: str) -> None:
            with lock:
                now = time.monotonic()
                if now - last[0] < 0.1 and done < total:
                    return
                last[0] = now
            self.post_message(self.Progress(done, total, name))

        credential = None
        try:
            up.quiet_azure_logging()
            credential = up.make_credential(on_code)
            up.check_credential(credential)
            self.post_message(self.Status(f"Signed in with {getattr(credential, 'source', 'Azure')}; uploading…"))
            result = up.upload(req, credential, on_progress, cancel,
                               on_status=lambda text: self.post_message(self.Status(text)))
        except Exception as exc:  # noqa: BLE001 - shown on screen, recorded on disk
            error = exc if isinstance(exc, up.AzureStepError) else up.UploadError(
                f"The upload failed: {up.scrub(f'{type(exc).__name__}: {exc}')[:600]}")
            try:
                up.record_upload(self.lab.workspace, req, error=error, started_at=started_at)
            except Exception:  # noqa: BLE001
                pass
            self.post_message(self.Finished(None, getattr(error, "message", str(error)),
                                            getattr(error, "advice", ""), isinstance(error, up.UploadCancelled)))
            return
        finally:
            if credential is not None:
                try:
                    credential.close()
                except Exception:  # noqa: BLE001
                    pass
        try:
            up.record_upload(self.lab.workspace, req, result=result, started_at=started_at)
        except Exception:  # noqa: BLE001
            pass
        self.post_message(self.Finished(result))

    @on(DeviceCode)
    def _device_code(self, message: DeviceCode) -> None:
        box = self.query_one("#upload-login", Static)
        when = f" before {message.expires_on:%H:%M}" if message.expires_on else ""
        box.update(Text.assemble(("Sign in to Azure: ", "bold"), "open ", (message.url, "bold underline"),
                                 " in a browser and enter the code ", (message.code, "bold reverse"), when,
                                 ("\nThe upload goes on by itself once you have signed in.", "dim")))
        box.display = True
        self.post_message(self.CopyRequested(message.code))

    @on(Status)
    def _status_message(self, message: Status) -> None:
        if self.uploading:
            self._status(Text(message.text, style="dim"))

    @on(Progress)
    def _progress(self, message: Progress) -> None:
        self.query_one("#upload-login").display = False
        self.query_one("#upload-progress-row", ProgressRow).show(message.total or None, message.done)
        self._status(Text(f"{fmt_bytes(message.done)} of {fmt_bytes(message.total)} · {message.name}"
                          " · F8 cancels", style="dim"))

    @on(Finished)
    def _finished(self, message: Finished) -> None:
        self.uploading = False
        self.query_one("#upload-login").display = False
        self.query_one("#upload-progress-row", ProgressRow).clear()
        if message.result is not None:
            r = message.result
            self.result = r
            head = "Already registered (nothing sent): " if r.already_registered else "Registered "
            sent = "" if r.already_registered else f" · {fmt_bytes(r.uploaded_bytes)} sent in {r.seconds:.1f} s"
            self._status(Text.assemble(("✓ ", "bold green"), head, (r.reference, "bold"), (sent, "dim"),
                                       f"\nasset id {r.asset_id}\nstudio {r.studio_url}"))
        else:
            self.error = message.error
            self.cancelled = message.cancelled
            self._status(Text.assemble(("✗ ", "bold red"), message.error or "The upload failed.",
                                       ("\n" + message.advice if message.advice else "", "")))
        self.row_changed()

    def _status(self, text) -> None:
        self.query_one("#upload-status", Static).update(text)

    def on_show_pane(self) -> None:
        self.focus_first()

    def focus_first(self) -> None:
        """The cursor in the first empty field (the first field when all are filled), ready to type."""
        fields = [self.query_one(f"#up-{key}", Input) for key, *_ in FIELDS]
        next((f for f in fields if not f.value), fields[0]).focus()

    @property
    def row(self) -> Outcome | None:
        if self.uploading:
            return Outcome("running")
        if self.result is not None:
            return Outcome("done", note="sent")
        if self.error:
            return Outcome("cancelled" if self.cancelled else "failed")
        return None
