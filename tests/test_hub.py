"""The hub download step, run for real as a subprocess against a loopback stand-in of the hub (tests/hubstub.py).

The stub serves a tiny Phi-3 model built once per session with the real tiny-model script.
"""

from __future__ import annotations

import errno
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hubstub import HubStub, closed_port, folder_files, write_travel_jsonl
from olive_lab.steps import hub
from olive_lab.steps.model_files import check_model_folder

TOKEN = "hf_StubSecretToken0123456789abcdefXYZ"
REPO = "olive-lab/tiny-phi3"
GATED = "olive-lab/tiny-phi3-gated"
#: Files the download must leave out (see hub.skipped): not needed for a transformers model.
EXTRAS = {"onnx/model.onnx": b"onnx" * 100, "original/consolidated.00.pth": b"pth" * 100,
          "model-q4.gguf": b"gguf" * 100, "pytorch_model.bin": b"bin" * 100, ".gitattributes": b"*.bin filter=lfs\n"}
README = {"README.md": b"# tiny phi-3\n"}  # kept: small files other than the skipped kinds come along


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, bytes]:
    """A tiny model folder made by `python -m olive_lab.steps.tiny_model`, as the bytes a hub repo would hold."""
    root = tmp_path_factory.mktemp("tinyrepo")
    data = write_travel_jsonl(root / "data.jsonl")
    out = root / "model"
    subprocess.run([sys.executable, "-m", "olive_lab.steps.tiny_model", "--out", str(out), "--data", str(data)],
                   check=True, capture_output=True, timeout=300)
    files = folder_files(out)
    files.pop("olive-lab.json")  # our own marker: a hub repo would not have it
    return files


@pytest.fixture
def stub(tiny_files):
    s = HubStub(tokens={TOKEN})
    s.add_repo(REPO, {**tiny_files, **EXTRAS, **README})
    s.add_repo(GATED, tiny_files, gated=True)
    with s:
        yield s


def env_for(endpoint: str, token: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")}
    env.update(HF_ENDPOINT=endpoint, HF_TOKEN_PATH=os.devnull + ".none", NO_PROXY="127.0.0.1,localhost",
               no_proxy="127.0.0.1,localhost", PYTHONUNBUFFERED="1",
               HF_HUB_OFFLINE="1")  # the runner sets it for every step: the download must not care
    if token:
        env["HF_TOKEN"] = token
    return env


def download(endpoint: str, repo: str, out: Path, *extra: str, token: str | None = None, timeout: float = 120):
    argv = [*hub.download_argv(repo, out), *extra]
    t0 = time.monotonic()
    proc = subprocess.run(argv, env=env_for(endpoint, token), capture_output=True, text=True, timeout=timeout)
    proc.seconds = time.monotonic() - t0
    return proc


def progress_lines(text: str) -> list[tuple[int, int, str]]:
    pattern = r"^\[olive-lab\] progress (\d+) (\d+) B (.+)$"
    return [(int(m[1]), int(m[2]), m[3]) for m in re.finditer(pattern, text, re.M)]


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


# --------------------------------------------------------------------------------------------------- success


def test_full_download_matches_bytes_and_skips_extras(stub, tiny_files, tmp_path):
    out = tmp_path / "models" / "base" / "tiny"
    proc = download(stub.endpoint, REPO, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = {k: v for k, v in folder_files(out).items() if k != "olive-lab.json"}
    assert got == {**tiny_files, **README}  # byte for byte; none of EXTRAS
    assert not (tmp_path / "models" / "base" / "tiny.partial").exists()
    assert check_model_folder(out) == []
    marker = json.loads((out / "olive-lab.json").read_text())
    assert marker["repo"] == REPO and marker["commit"] == stub.repos[REPO].commit
    assert marker["files"]["model.safetensors"]["sha256"] == hashlib.sha256(tiny_files["model.safetensors"]).hexdigest()
    assert sorted(marker["skipped"]) == sorted(EXTRAS)
    assert "[olive-lab] phase downloading" in proc.stdout and "[olive-lab] phase done" in proc.stdout
    # files come from the commit the listing named, not a moving branch
    assert all(stub.repos[REPO].commit in r.path for r in stub.log if "/resolve/" in r.path)


def test_progress_lines_have_the_right_totals(stub, tiny_files, tmp_path):
    stub.delay_s = 0.03  # ~30 pieces of 64 KiB: the transfer lasts ~1 s, long enough to see the rate limit
    proc = download(stub.endpoint, REPO, tmp_path / "m")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = progress_lines(proc.stdout)
    total = sum(len(v) for v in {**tiny_files, **README}.values())
    assert lines and all(t == total for _, t, _ in lines)
    done = [d for d, _, _ in lines]
    assert done == sorted(done) and done[-1] == total
    # one line at the end of every file, with the running total
    for name in tiny_files:
        assert any(label == name for _, _, label in lines), name
    # rate: at most ~4 per second plus one per file end
    per_file_ends = len(tiny_files) + len(README)
    assert len(lines) <= 4 * proc.seconds + per_file_ends + 2, (len(lines), proc.seconds)
    big = [d for d, _, label in lines if label == "model.safetensors"]
    assert len(big) >= 3  # intermediate lines while the big file streams


def test_resume_within_one_run_after_a_cut(stub, tiny_files, tmp_path):
    stub.cut_once.add("model.safetensors")
    out = tmp_path / "m"
    proc = download(stub.endpoint, REPO, out)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "model.safetensors").read_bytes() == tiny_files["model.safetensors"]
    first, second = stub.file_requests("model.safetensors")
    assert "Range" not in first.headers and first.sent < len(tiny_files["model.safetensors"])
    assert second.headers["Range"] == f"bytes={second.start}-" and second.start > 0 and second.status == 206
    assert second.sent == len(tiny_files["model.safetensors"]) - second.start  # not again from zero
    assert "resuming" in proc.stdout


def test_interrupted_run_keeps_the_part_and_the_next_run_resumes(stub, tiny_files, tmp_path):
    size = len(tiny_files["model.safetensors"])
    stub.cut_once.add("model.safetensors")
    out = tmp_path / "models" / "base" / "tiny"
    first = download(stub.endpoint, REPO, out, "--retries", "0")
    assert first.returncode == hub.EXIT_CODES["interrupted"], first.stdout + first.stderr
    assert last_line(first.stdout).startswith("[olive-lab] error interrupted:")
    assert "run again to resume" in last_line(first.stdout)
    assert not out.exists()  # never half a model under the final name
    part = out.parent / "tiny.partial" / "model.safetensors.part"
    kept = part.stat().st_size
    assert 0 < kept < size

    second = download(stub.endpoint, REPO, out)
    assert second.returncode == 0, second.stdout + second.stderr
    assert (out / "model.safetensors").read_bytes() == tiny_files["model.safetensors"]
    again = stub.file_requests("model.safetensors")[-1]
    assert again.headers.get("Range") == f"bytes={kept}-" and again.start == kept
    assert again.sent == size - kept
    # the small files finished in the first run are not fetched again
    assert len(stub.file_requests("config.json")) == 1
    assert not (out.parent / "tiny.partial").exists()


def test_second_run_finds_the_model_and_downloads_nothing(stub, tmp_path):
    out = tmp_path / "m"
    assert download(stub.endpoint, REPO, out).returncode == 0
    n = len(stub.log)
    proc = download(stub.endpoint, REPO, out)
    assert proc.returncode == 0 and "nothing to download" in proc.stdout
    assert len(stub.log) == n


def test_damaged_file_is_caught_by_its_hash(stub, tmp_path):
    stub.corrupt.add("model.safetensors")
    out = tmp_path / "m"
    proc = download(stub.endpoint, REPO, out)
    assert proc.returncode == hub.EXIT_CODES["integrity"], proc.stdout + proc.stderr
    assert last_line(proc.stdout).startswith("[olive-lab] error integrity: model.safetensors arrived damaged (sha256")
    assert not out.exists() and not (tmp_path / "m.partial" / "model.safetensors.part").exists()


# --------------------------------------------------------------------------------------------------- errors


def test_gated_without_token_gives_the_licence_advice(stub, tmp_path):
    proc = download(stub.endpoint, GATED, tmp_path / "g")
    assert proc.returncode == hub.EXIT_CODES["gated"], proc.stdout + proc.stderr
    line = last_line(proc.stdout)
    assert line.startswith("[olive-lab] error gated:")
    assert "accept the licence on the model page" in line.lower() and "HF_TOKEN" in line
    assert f"{stub.endpoint}/{GATED}" in line
    assert not (tmp_path / "g").exists() and not (tmp_path / "g.partial").exists()


def test_gated_with_token_succeeds_and_never_shows_the_token(stub, tiny_files, tmp_path):
    out = tmp_path / "g"
    proc = download(stub.endpoint, GATED, out, token=TOKEN)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (out / "model.safetensors").read_bytes() == tiny_files["model.safetensors"]
    assert any(r.headers.get("Authorization") == f"Bearer {TOKEN}" for r in stub.log if "/resolve/" in r.path)
    assert "with the token from HF_TOKEN" in proc.stdout
    assert TOKEN not in proc.stdout + proc.stderr
    assert TOKEN not in (out / "olive-lab.json").read_text()


def test_refused_token_is_gated_and_not_shown(stub, tmp_path):
    bad = "hf_WrongToken_9876543210zyxwvu"
    proc = download(stub.endpoint, GATED, tmp_path / "g", token=bad)
    assert proc.returncode == hub.EXIT_CODES["gated"]
    assert "refused the token from HF_TOKEN" in last_line(proc.stdout)
    assert bad not in proc.stdout + proc.stderr


def test_missing_repo_says_check_the_id(stub, tmp_path):
    proc = download(stub.endpoint, "olive-lab/no-such-model", tmp_path / "x")
    assert proc.returncode == hub.EXIT_CODES["missing"], proc.stdout + proc.stderr
    line = last_line(proc.stdout)
    assert line.startswith("[olive-lab] error missing:") and "not found" in line and "check the id" in line
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_missing_revision_says_check_the_revision(stub, tmp_path):
    proc = download(stub.endpoint, REPO, tmp_path / "x", "--revision", "v9")
    assert proc.returncode == hub.EXIT_CODES["missing"]
    assert "revision 'v9'" in last_line(proc.stdout) and "check the revision" in last_line(proc.stdout)


def test_invalid_id_is_refused_without_network(tmp_path):
    proc = download(f"http://127.0.0.1:{closed_port()}", "../etc/passwd", tmp_path / "x")
    assert proc.returncode == hub.EXIT_CODES["missing"]
    assert "is not a Hugging Face model id" in last_line(proc.stdout)


def test_unreachable_hub_says_use_a_local_folder(tmp_path):
    proc = download(f"http://127.0.0.1:{closed_port()}", REPO, tmp_path / "x", token=TOKEN)
    assert proc.returncode == hub.EXIT_CODES["unreachable"], proc.stdout + proc.stderr
    line = last_line(proc.stdout)
    assert line.startswith("[olive-lab] error unreachable:") and "cannot reach" in line
    assert "pass --model with a local folder" in line.lower() and "connection refused" in line
    assert TOKEN not in proc.stdout + proc.stderr
    assert proc.seconds < 20


# --------------------------------------------------------------------------------------------------- in-process units


def run_inprocess(stub, out: Path, **kw) -> tuple[hub.HubError | None, str]:
    buf = io.StringIO()
    dl = hub.Downloader(REPO, out, endpoint=stub.endpoint, stream=buf, **kw)
    try:
        dl.run()
    except hub.HubError as err:
        return err, buf.getvalue()
    return None, buf.getvalue()


def test_not_enough_space_is_refused_before_downloading(stub, tmp_path, monkeypatch):
    real = shutil.disk_usage
    monkeypatch.setattr(hub.shutil, "disk_usage", lambda p: real(p)._replace(free=50 * 1024 * 1024))
    err, _ = run_inprocess(stub, tmp_path / "m")
    assert err is not None and err.kind == "disk_full" and err.exit_code == 23
    assert re.search(r"free \d+(\.\d)? GB", err.message) and "disk full" in err.message
    assert not [r for r in stub.log if r.file]  # no bytes were fetched


def test_disk_full_while_writing_is_classified(stub, tmp_path, monkeypatch):
    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(hub.Downloader, "_transfer", full)
    err, _ = run_inprocess(stub, tmp_path / "m")
    assert err is not None and err.kind == "disk_full" and "free" in err.message


def test_skip_rule():
    names = ["config.json", "model.safetensors", "pytorch_model.bin", "onnx/model.onnx", "original/x.pth",
             "m.gguf", "tokenizer.model", "sub/onnx/y.onnx_data", ".gitattributes", "olive-lab.json"]
    kept = [n for n in names if not hub.skipped(n, names)]
    assert kept == ["config.json", "model.safetensors", "tokenizer.model"]
    assert not hub.skipped("pytorch_model.bin", ["config.json", "pytorch_model.bin"])  # only weights there


def test_urls_and_tokens_are_never_printed_raw(monkeypatch):
    assert hub.safe_url("https://user:pw@hub.example:8443/a/b?sig=secret") == "https://hub.example:8443/a/b"
    buf = io.StringIO()
    dl = hub.Downloader(REPO, Path("/tmp/x"), endpoint="http://h", token=TOKEN, stream=buf)
    dl.emit(f"oops {TOKEN} in a message")
    assert TOKEN not in buf.getvalue() and "***" in buf.getvalue()


def test_all_downloads_every_file(stub, tiny_files, tmp_path):
    out = tmp_path / "m"
    proc = download(stub.endpoint, REPO, out, "--all")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = {k: v for k, v in folder_files(out).items() if k != "olive-lab.json"}
    assert got == {**tiny_files, **EXTRAS, **README}


def test_two_downloads_into_one_folder_do_not_mix(stub, tmp_path):
    import fcntl

    out = tmp_path / "m"
    partial = tmp_path / "m.partial"
    partial.mkdir()
    with open(partial / hub.LOCK, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)  # as a running download holds it
        err, _ = run_inprocess(stub, out)
    assert err is not None and err.kind == "busy" and "another download" in err.message
