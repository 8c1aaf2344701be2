"""Turn a step's raw output (Olive, the HF trainer, tqdm, our own scripts) into events, and failures into advice.

The parser is fed arbitrary chunks as they arrive. A bare `\\r` means "this line is being redrawn" (tqdm): only
the last version of such a line becomes a `LogLine`, but every redraw is parsed for progress.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass

from .events import Event, LogLine, Loss, Phase, Progress
from .safe_text import keep_sgr, visible

ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")
# Colour codes survive in LogLine.styled; cursor movement and the like are dropped everywhere.
NON_SGR_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-ln-~]|\x1b[@-Z\\-_]")

# tqdm: "Label:  45%|####5     | 45/100 [00:10<00:12,  4.50it/s]" (label and rate optional, total may be "?")
TQDM_RE = re.compile(
    r"(?:(?P<label>[^|\r\n]*?):\s*)?(?:(?P<pct>\d+)%\|[^|]*\|\s*)?(?P<cur>\d+(?:\.\d+)?)(?P<cur_sfx>[kMGT]?)"
    r"/(?P<tot>\d+(?:\.\d+)?|\?)(?P<tot_sfx>[kMGT]?)\s*\[(?P<elapsed>[\d:]+)(?:<(?P<remaining>[\d:?]+))?"
    r"(?:,\s*(?P<rate>[^\]]*))?\]"
)
OLIVE_RECORD_RE = re.compile(r"^\[[^\]]+\] \[(?P<level>[A-Z]+)\] \[[^\]]+\] (?P<msg>.*)$")
OUR_PROGRESS_RE = re.compile(r"^\[olive-lab\] progress (?P<cur>[\d.]+) (?P<tot>[\d.]+|\?) (?P<unit>\S+) ?(?P<label>.*)$")
OUR_PHASE_RE = re.compile(r"^\[olive-lab\] phase (?P<name>.+)$")
TRAINER_DICT_RE = re.compile(r"^\{.*'loss': .*\}$")

#: Olive log messages that start a phase worth naming on screen.
OLIVE_PHASES = (
    (re.compile(r"Running pass (?P<p>\S+)"), "running pass {p}"),
    (re.compile(r"Loading HuggingFace model"), "loading model"),
    (re.compile(r"Saving output model|Saved output model|Model is saved at"), "saving output"),
    (re.compile(r"Run history for"), "finishing"),
)
SUFFIX = {"": 1, "k": 1e3, "M": 1e6, "G": 1e9, "T": 1e12}


def strip_ansi(text: str) -> str:
    return ANSI_RE.sub("", text)


def _seconds(clock: str | None) -> float | None:
    """tqdm's "MM:SS" or "H:MM:SS" as seconds; None for "?"."""
    if not clock or "?" in clock:
        return None
    total = 0.0
    for part in clock.split(":"):
        total = total * 60 + float(part)
    return total


def parse_progress(text: str) -> Progress | None:
    """A progress event from one (redrawn) line, or None."""
    if m := OUR_PROGRESS_RE.match(text):
        total = None if m["tot"] == "?" else float(m["tot"])
        return Progress(float(m["cur"]), total, m["label"].strip(), m["unit"])
    m = None
    for m in TQDM_RE.finditer(text):
        pass  # the last bar on the line is the current one
    if m is None:
        return None
    current = float(m["cur"]) * SUFFIX[m["cur_sfx"]]
    total = None if m["tot"] == "?" else float(m["tot"]) * SUFFIX[m["tot_sfx"]]
    rate = (m["rate"] or "").strip()
    unit = re.sub(r"^[\d.?]+\s*", "", rate).split("/")[0] if "/" in rate else "it"
    label = (m["label"] or "").strip()
    return Progress(current, total, label, unit or "it", _seconds(m["remaining"]))


def _number(value) -> float | None:
    """The trainer prints its numbers either bare or quoted ('6.226'), depending on the transformers version."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def parse_loss(text: str) -> Loss | None:
    """The HF trainer's `{'loss': 6.63, ..., 'epoch': 0.5}` lines."""
    text = text.strip()
    if not TRAINER_DICT_RE.match(text):
        return None
    try:
        record = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None
    loss = _number(record.get("loss")) if isinstance(record, dict) else None
    if loss is None:
        return None
    step = _number(record.get("step"))
    return Loss(loss, int(step) if step is not None else None, _number(record.get("epoch")))


def parse_phase(text: str) -> Phase | None:
    if m := OUR_PHASE_RE.match(text):
        return Phase(m["name"].strip())
    message = m["msg"] if (m := OLIVE_RECORD_RE.match(text)) else text
    for pattern, name in OLIVE_PHASES:
        if hit := pattern.search(message):
            return Phase(name.format(**hit.groupdict()))
    return None


class LogParser:
    """Incremental: `feed(chunk)` returns the events completed by that chunk; `flush()` ends the stream."""

    def __init__(self) -> None:
        self._buffer = ""  # output since the last newline, \r redraws included
        self._parsed = 0  # how many \r-ended segments of the buffer were already parsed for progress
        self._last_progress: Progress | None = None

    def feed(self, chunk: str) -> list[Event]:
        events: list[Event] = []
        *lines, self._buffer = (self._buffer + chunk).split("\n")
        for line in lines:
            self._finish_line(line, events)
        segments = self._buffer.split("\r")
        for segment in segments[self._parsed:-1]:
            self._progress(segment, events)
        self._parsed = len(segments) - 1
        return events

    def flush(self) -> list[Event]:
        events: list[Event] = []
        if self._buffer:
            self._finish_line(self._buffer, events)
            self._buffer = ""
        return events

    def _progress(self, raw: str, events: list[Event]) -> None:
        if "/" not in raw:
            return
        progress = parse_progress(strip_ansi(raw))
        if progress and progress != self._last_progress:
            self._last_progress = progress
            events.append(progress)

    def _finish_line(self, line: str, events: list[Event]) -> None:
        """A newline ended `line`: parse the redraws not seen yet, then emit what the terminal would show."""
        segments = line.split("\r")
        for segment in segments[self._parsed:]:
            self._progress(segment, events)
        self._parsed = 0
        raw = next((s for s in reversed(segments) if s.strip()), "")
        text = strip_ansi(raw)
        if not text.strip():
            return
        if event := parse_phase(text) or parse_loss(text):
            if isinstance(event, Loss) and event.step is None and self._last_progress is not None:
                # The trainer prints its loss right after its step bar: that bar's count is the step.
                event = Loss(event.value, int(self._last_progress.current), event.epoch)
            events.append(event)
        # What a log holds reaches terminals: colours stay, any other control character is made visible.
        events.append(LogLine(visible(text), keep_sgr(NON_SGR_RE.sub("", raw))))


@dataclass(frozen=True)
class Diagnosis:
    reason: str
    advice: str


#: Known failures, most specific first: (pattern in the log, reason, advice).
FAILURE_PATTERNS: tuple[tuple[re.Pattern[str], str, str], ...] = tuple(
    (re.compile(p, re.IGNORECASE | re.MULTILINE), r, a)
    for p, r, a in (
        (r"CUDA out of memory|torch\.OutOfMemoryError|CUBLAS_STATUS_ALLOC_FAILED",
         "The GPU ran out of memory.",
         "Lower --max_seq_len or --per_device_train_batch_size, close other GPU programs (nvidia-smi), "
         "or use --method qlora."),
        (r"No space left on device|\[Errno 28\]|error disk_full",
         "The disk is full.",
         "Free disk space in the work folder (the Olive cache .olive-cache can be deleted), then retry."),
        (r"\[olive-lab\] error gated|GatedRepoError|gated repo|401 Client Error|403 Client Error.*huggingface",
         "The model is gated on the Hugging Face hub and this machine has no access.",
         "Accept the licence on the model's page, create a token and set HF_TOKEN, then retry."),
        (r"\[olive-lab\] error missing|RepositoryNotFoundError|404 Client Error.*huggingface",
         "The model id was not found on the Hugging Face hub.",
         "Check the id (e.g. microsoft/Phi-3.5-mini-instruct), or pass --model with a local folder."),
        (r"\[olive-lab\] error unreachable|OfflineModeIsEnabled|Couldn't reach '.*' on the Hub|"
         r"Max retries exceeded with url: .*huggingface|Name or service not known|Temporary failure in name resolution",
         "The Hugging Face hub could not be reached (this machine is offline, or the step needs data from the hub).",
         "Pass --model with a local model folder, or run on a machine that can reach the hub."),
        (r"ModuleNotFoundError: No module named '(?P<module>[^'.]+)",
         "A Python package is missing: {module}.",
         "Install the profile's stack: pip install -e '.[cpu]' (or '.[gpu]'); `olive-lab check` lists what is missing."),
        (r"Please use GPU to run AWQ quantization",
         "AWQ needs a CUDA GPU and none is usable here.",
         "Use the cpu profile (RTN int4 stands in for AWQ) or run on a machine with an NVIDIA GPU."),
        (r"Target module .* is not supported",
         "peft cannot put LoRA layers on this quantized model.",
         "Fine-tune the float base model (the profiles do) and quantize in the optimize step."),
    )
)


OUR_ERROR_RE = re.compile(r"^\[olive-lab\] error (?P<kind>[\w-]+): (?P<message>.+)$", re.MULTILINE)


def diagnose(log_tail: str, exit_code: int | None, signal_name: str | None = None) -> Diagnosis:
    """Why a step failed, from the end of its log and how the process ended."""
    text = strip_ansi(log_tail)
    ours = list(OUR_ERROR_RE.finditer(text))
    if ours:  # our own scripts say exactly what went wrong, with the fix in the message
        return Diagnosis(ours[-1]["message"].strip(), "Fix what the message says, then run the step again.")
    for pattern, reason, advice in FAILURE_PATTERNS:
        if m := pattern.search(text):
            return Diagnosis(reason.format(**{k: v or "?" for k, v in m.groupdict().items()}), advice)
    if signal_name == "SIGKILL":
        return Diagnosis("The process was killed (SIGKILL), most often by the kernel because memory ran out.",
                         "Close other programs or add a swap file; at full size the optimize step needs ~33 GiB RAM.")
    if signal_name:
        return Diagnosis(f"The process ended on signal {signal_name}.", "Retry; see the log for what it was doing.")
    if "No output model produced" in text:
        return Diagnosis("Olive finished without producing a model (it reports this with exit code 0).",
                         "Look for the first error in the log above; the pass that failed is named there.")
    last_error = next((line for line in reversed(text.splitlines())
                       if re.search(r"error|exception", line, re.IGNORECASE)), "")
    reason = f"The command failed (exit code {exit_code})." if exit_code else "The command ended without its outputs."
    if last_error:
        reason += f" Last error: {last_error.strip()[:300]}"
    return Diagnosis(reason, "See the full log; fix the cause and retry the step.")
