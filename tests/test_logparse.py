"""The log parser turns real Olive output into what a user sees: lines, phases, progress with ETA, loss."""

from pathlib import Path

import pytest

from olive_lab.steps.events import LogLine, Loss, Phase, Progress
from olive_lab.steps.logparse import LogParser, diagnose, parse_progress

LOGS = Path(__file__).parent / "fixtures" / "logs"


def parse(text: str, chunk: int = 7) -> list:
    """Feed in small chunks: output arrives from a pipe in arbitrary pieces."""
    parser = LogParser()
    events = []
    for i in range(0, len(text), chunk):
        events += parser.feed(text[i:i + chunk])
    return events + parser.flush()


def test_carriage_return_redraws_become_one_line_and_many_progress_events():
    text = "Loading:  10%|#         | 1/10 [00:01<00:09,  1.00it/s]\rLoading:  50%|#####     | 5/10 [00:05<00:05,  1.00it/s]\rLoading: 100%|##########| 10/10 [00:10<00:00,  1.00it/s]\ndone\n"
    events = parse(text)
    lines = [e.text for e in events if isinstance(e, LogLine)]
    assert lines == ["Loading: 100%|##########| 10/10 [00:10<00:00,  1.00it/s]", "done"]
    progress = [e for e in events if isinstance(e, Progress)]
    assert [(p.current, p.total, p.eta_s) for p in progress] == [(1, 10, 9), (5, 10, 5), (10, 10, 0)]
    assert progress[0].label == "Loading" and progress[1].fraction == 0.5


def test_progress_arrives_before_the_line_ends():
    """A tqdm bar redraws without newline for minutes: progress must not wait for the newline."""
    parser = LogParser()
    events = parser.feed(" 40%|####      | 40/100 [00:10<00:15,  4.00it/s]\r")
    assert events == [Progress(40, 100, "", "it", 15)]


def test_ansi_colours_are_kept_in_styled_and_removed_from_text():
    events = parse("\x1b[31mERROR\x1b[0m something broke\x1b[K\n")
    (line,) = [e for e in events if isinstance(e, LogLine)]
    assert line.text == "ERROR something broke"
    assert line.styled == "\x1b[31mERROR\x1b[0m something broke"


def test_real_finetune_log_gives_phases_losses_and_training_progress():
    events = parse((LOGS / "finetune_tiny.log").read_text(encoding="utf-8"), chunk=512)
    phases = [e.name for e in events if isinstance(e, Phase)]
    assert "loading model" in phases and "running pass f:lora" in phases
    losses = [e for e in events if isinstance(e, Loss)]
    assert [round(l.value, 3) for l in losses] == [6.226, 6.177, 6.115, 6.051, 5.995, 5.952]
    assert losses[-1].epoch == 30
    assert [l.step for l in losses] == [5, 10, 15, 20, 25, 30]
    training = [e for e in events if isinstance(e, Progress) and e.total == 30]
    assert training[-1].current == 30 and training[-1].eta_s == 0


def test_real_optimize_log_names_the_builder_passes():
    events = parse((LOGS / "optimize_tiny.log").read_text(encoding="utf-8"), chunk=1000)
    phases = [e.name for e in events if isinstance(e, Phase)]
    assert "running pass model_builder:modelbuilder" in phases
    assert "running pass extract_adapters:extractadapters" in phases


def test_our_own_progress_lines_carry_bytes():
    assert parse_progress("[olive-lab] progress 1048576 4194304 B model.safetensors") == \
        Progress(1048576, 4194304, "model.safetensors", "B")
    assert parse_progress("[olive-lab] progress 3 ? it files").total is None


def test_tqdm_with_unknown_total_and_unit_suffixes():
    p = parse_progress("Preparing model: 8mod [00:00, 34807.50mod/s, module=model.layers.1]")
    assert p is None  # no total: tqdm shows a counter only; nothing to draw a bar from
    p = parse_progress("model.safetensors:  50%|#####     | 1.2G/2.4G [00:30<00:30, 40.0MB/s]")
    assert p.current == 1.2e9 and p.total == 2.4e9 and p.unit == "MB"


def test_our_scripts_error_line_is_the_reason():
    tail = "downloading...\n[olive-lab] error disk_full: 3.1 GB needed in /w/models, 0.4 GB free: free 2.7 GB\n"
    assert diagnose(tail, 23).reason == "3.1 GB needed in /w/models, 0.4 GB free: free 2.7 GB"


@pytest.mark.parametrize("tail, code, signal_name, expected", [
    ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB", 1, None, "GPU ran out of memory"),
    ("OSError: [Errno 28] No space left on device", 1, None, "disk is full"),
    ("ModuleNotFoundError: No module named 'awq'", 1, None, "package is missing: awq"),
    ("huggingface_hub.errors.GatedRepoError: 401 Client Error", 1, None, "gated"),
    ("ConnectionError: Couldn't reach 'mit-han-lab/pile-val-backup' on the Hub (OfflineModeIsEnabled)", 0, None,
     "could not be reached"),
    ("[INFO] loading...\n", -9, "SIGKILL", "killed (SIGKILL)"),
    ("No output model produced. Please check the log for details.", 0, None, "without producing a model"),
])
def test_failures_are_classified_with_advice(tail, code, signal_name, expected):
    found = diagnose(tail, code, signal_name)
    assert expected in found.reason
    assert found.advice
