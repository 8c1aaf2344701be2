"""State you can trust: a step is done only when its record matches its inputs now; broken files never crash.

The corruption suite breaks every state and settings file of a finished cpu lab in each way a disk, an editor or
another program breaks files (truncated, empty, binary, another JSON type, wrong field types) and asserts what a
user gets: no traceback from `status`, `run` or the wizard's state reading, the broken file named and set aside,
and no stale output (a step whose inputs changed is redone even though its record was lost).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from olive_lab.cli import main
from olive_lab.steps import pipeline
from olive_lab.steps.workspace import take_notices

from conftest import olive_lab

RUNNABLE = ("model", "quantize", "finetune", "optimize")
BINARY = b"\x00\xff\xfe\x1b]0;x\x07\x80"
#: Per file: JSON of the right syntax and the wrong shape (what another program or a hand edit leaves).
WRONG_TYPES = {
    "state": [[], {"status": 5}, {"status": "done", "fingerprint": 42}, {"status": "done", "outputs": "x"},
              {"status": "finished"}, {"status": "done", "found_by_hand": "yes"}, {"step": "other"}],
    "lab.json": [[], {"profile": "tpu"}, {"model": 42}, {"data": ["a"]}, "cpu"],
    "made": [[], {"fingerprint": 1, "outputs": "x"}, {"outputs": None}],
    "run.json": [[], {"steps": "model"}, {"status": []}, {"pid": "x"}, {"current": 5}, {"token": True}],
}


@pytest.fixture
def done_lab(cpu_lab, tmp_path) -> Path:
    """A private copy of the session's finished cpu lab (times kept: its fingerprints still match)."""
    dest = tmp_path / "lab"
    shutil.copytree(cpu_lab.workdir, dest, symlinks=True, ignore=shutil.ignore_patterns(".olive-cache"))
    return dest


def _files(workdir: Path) -> dict[str, Path]:
    meta = workdir / ".olive-lab"
    files = {"lab.json": meta / "lab.json"}
    for step in RUNNABLE:
        files[f"state/{step}"] = meta / "state" / f"{step}.json"
        files[f"made/{step}"] = meta / "made" / f"{step}.json"
    return files


def _kind(name: str) -> str:
    return name.split("/")[0] if "/" in name else name


def _corruptions(name: str, original: bytes) -> list[tuple[str, bytes]]:
    cases = [("truncated", original[: len(original) // 2]), ("empty", b""), ("binary", BINARY)]
    cases += [(f"wrong types {json.dumps(v)}", json.dumps(v).encode()) for v in WRONG_TYPES[_kind(name)]]
    return cases


def _all_cases() -> list[tuple[str, str]]:
    names = ["lab.json"] + [f"{k}/{s}" for k in ("state", "made") for s in RUNNABLE]
    sample = b'{"step": "x", "status": "done"}'
    return [(n, c) for n in names for c, _ in _corruptions(n, sample)]


def _touch_inputs(lab, step: str) -> None:
    """Change the step's inputs as a rebuilt earlier step does: new times on its files (or, for the model step,
    another dataset: its input lives outside the work folder)."""
    if step == "model":
        other = lab.workspace.root / "other.jsonl"
        other.write_text(lab.dataset.read_text(encoding="utf-8") * 2, encoding="utf-8")
        pipeline.load_lab(lab.workspace.root, "cpu", data=str(other))
        return
    for item in pipeline.plan(lab, step).inputs:
        if not item.is_relative_to(lab.workspace.root):
            continue  # the bundled dataset is shared by every test
        for f in [item] if item.is_file() else [p for p in item.rglob("*") if p.is_file()]:
            os.utime(f, ns=(f.stat().st_atime_ns, f.stat().st_mtime_ns + 10**9))


@pytest.mark.parametrize(("name", "case"), _all_cases())
def test_a_broken_file_is_named_set_aside_and_never_leaves_a_stale_output(done_lab, name, case, capsys):
    from olive_lab.tui import core

    path = _files(done_lab)[name]
    corrupt = dict(_corruptions(name, path.read_bytes()))[case]
    path.write_bytes(corrupt)
    step = name.split("/")[-1]
    if _kind(name) == "made":  # what made the outputs matters only once their state is lost too
        (done_lab / ".olive-lab" / "state" / f"{step}.json").unlink()
    take_notices()

    assert main(["status", "--profile", "cpu", "--model", "tiny", "--workdir", str(done_lab)]) == 0  # no traceback, nothing failed
    lab = core.load_lab(done_lab, "cpu", "tiny")  # the wizard's way in (a lost lab.json forgets the model)
    assert set(core.status(lab)) >= set(RUNNABLE)
    decisions = {s: pipeline.decide(lab, s) for s in RUNNABLE}
    shown = " ".join((capsys.readouterr().out + "\n".join(take_notices())).split())

    assert not path.exists() or path.read_bytes() != corrupt, "the broken file is still in use"
    aside = list(path.parent.glob(f"{path.name}.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == corrupt, "the broken file must be kept for a person"
    assert f"{path.name} was unreadable" in shown, f"the broken file is not named:\n{shown}"
    if _kind(name) == "made":
        assert decisions.pop(step).run, "outputs of unknown origin and no state: redone, never taken as done"
    assert not any(d.run for d in decisions.values()), decisions  # the rest: nothing redone needlessly
    untouched = "optimize" if step == "quantize" else "quantize"  # `run` with nothing to do: it must not crash
    assert main(["run", "--profile", "cpu", "--model", "tiny", "--workdir", str(done_lab), "--only", untouched, "--no-chat"]) == 0

    if _kind(name) == "state":
        _touch_inputs(lab, step)
        lab = pipeline.load_lab(done_lab, "cpu", "tiny")
        assert pipeline.decide(lab, step).run, f"{step}'s inputs changed but its old output counts as done"


RUN_SAMPLE = b'{"token": "t", "pid": 1, "steps": ["quantize"], "current": "quantize", "status": {}, "reasons": {}}'


@pytest.mark.parametrize("case", [c for c, _ in _corruptions("run.json", RUN_SAMPLE)])
def test_a_broken_run_file_during_a_run_is_named_and_never_crashes(done_lab, case, capsys):
    """run.json is read only while a run holds the lock: status, a second run and the wizard read it then."""
    from olive_lab.steps.runstate import take_lock
    from olive_lab.tui import core

    path = done_lab / ".olive-lab" / "run.json"
    corrupt = dict(_corruptions("run.json", RUN_SAMPLE))[case]
    path.write_bytes(corrupt)
    take_notices()
    lock = take_lock(pipeline.load_lab(done_lab, "cpu").workspace)  # a run is starting
    try:
        assert main(["status", "--profile", "cpu", "--model", "tiny", "--workdir", str(done_lab)]) == 0
        assert main(["run", "--profile", "cpu", "--workdir", str(done_lab), "--no-chat"]) == 3
        handle = core.attach(core.load_lab(done_lab, "cpu"))
        assert handle is not None and handle.current_step() is None
    finally:
        os.close(lock)
    shown = " ".join((capsys.readouterr().out + "\n".join(take_notices())).split())
    assert "A run is already active in this work folder" in shown
    assert "run.json was unreadable" in shown, shown
    aside = list(path.parent.glob("run.json.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes() == corrupt


def test_the_issue_case_an_emptied_state_and_new_inputs_rebuild_optimize(done_lab):
    """`: > optimize.json`, then inputs change: the old ONNX model must not be kept as done (issue 15, item 1)."""
    (done_lab / ".olive-lab" / "state" / "optimize.json").write_bytes(b"")
    lab = pipeline.load_lab(done_lab, "cpu")
    old_model = (lab.onnx_dir / "model.onnx").stat().st_mtime_ns
    _touch_inputs(lab, "optimize")
    result = olive_lab("run", "--workdir", str(done_lab), "--only", "optimize", "--no-chat")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "optimize.json was unreadable: it is empty" in " ".join(result.stdout.split())
    assert "✓ optimize" in result.stdout
    assert (lab.onnx_dir / "model.onnx").stat().st_mtime_ns != old_model


def test_outputs_made_by_hand_are_redone_when_their_inputs_change(cpu_lab, tmp_path):
    shutil.copytree(cpu_lab.workdir / "models", tmp_path / "models")
    lab = pipeline.load_lab(tmp_path, "cpu")
    assert pipeline.decide(lab, "optimize").reason == "outputs found (made earlier by hand)"
    pipeline.record_found_outputs(lab, "optimize")
    assert pipeline.decide(lab, "optimize").reason == "outputs found (made earlier by hand), inputs unchanged"
    _touch_inputs(lab, "optimize")
    assert pipeline.decide(lab, "optimize") == pipeline.Decision(True, "inputs changed since the last run")


def test_outputs_replaced_by_hand_after_the_runner_made_them_count_as_made_by_hand(done_lab):
    (done_lab / ".olive-lab" / "state" / "optimize.json").unlink()
    lab = pipeline.load_lab(done_lab, "cpu")
    extra = lab.onnx_dir / "genai_config.json"
    extra.write_text(extra.read_text())  # a person's copy: new time, same inputs
    assert pipeline.decide(lab, "optimize").reason == "outputs found (made earlier by hand)"


def test_moving_the_work_folder_reruns_nothing(done_lab, tmp_path):
    moved = tmp_path / "elsewhere" / "lab"
    moved.parent.mkdir()
    shutil.move(done_lab, moved)
    lab = pipeline.load_lab(moved)
    decisions = {step: pipeline.decide(lab, step) for step in RUNNABLE}
    assert not any(d.run for d in decisions.values()), decisions


def test_a_dataset_inside_the_work_folder_is_remembered_relative_to_it(tmp_path):
    lab_dir = tmp_path / "lab"
    (lab_dir / "data").mkdir(parents=True)
    (lab_dir / "data" / "mine.jsonl").write_text('{"prompt": "a", "response": "b"}\n')
    pipeline.load_lab(lab_dir, "cpu", data=str(lab_dir / "data" / "mine.jsonl"))
    assert json.loads((lab_dir / ".olive-lab" / "lab.json").read_text())["data"] == "data/mine.jsonl"
    shutil.move(lab_dir, tmp_path / "moved")
    assert pipeline.load_lab(tmp_path / "moved").dataset == tmp_path / "moved" / "data" / "mine.jsonl"
