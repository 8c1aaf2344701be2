"""Model and environment folders appear whole or not at all (steps/folders.py, used by tiny_model, smollm2, hub
and envs)."""

import pytest

from olive_lab.steps.folders import build_folder, replace_folder


def make_old(out):
    out.mkdir()
    (out / "old.txt").write_text("old")


def test_a_finished_build_replaces_the_old_folder_whole(tmp_path):
    out = tmp_path / "model"
    make_old(out)

    def build(tmp):
        (tmp / "model.onnx").write_text("new")
        return {"parameters": 1}

    assert build_folder(out, build) == {"parameters": 1}
    assert sorted(p.name for p in out.iterdir()) == ["model.onnx"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]  # no tmp-<pid> or old-<pid> left beside it


def test_a_failed_build_leaves_the_old_folder_and_no_half_built_one(tmp_path):
    out = tmp_path / "model"
    make_old(out)

    def build(tmp):
        (tmp / "model.onnx").write_text("half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        build_folder(out, build)
    assert (out / "old.txt").read_text() == "old" and not (out / "model.onnx").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_replace_folder_puts_a_folder_where_there_was_none(tmp_path):
    new = tmp_path / "model.partial"
    new.mkdir()
    (new / "config.json").write_text("{}")
    replace_folder(new, tmp_path / "model")
    assert (tmp_path / "model" / "config.json").read_text() == "{}" and not new.exists()
