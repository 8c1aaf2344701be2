"""Every bad input a demanding user tried (issue 15): the exit code, the specific words, and never a traceback.

Each row runs `olive-lab` in-process (`olive_lab.cli.main`), as a user would type it. All rows are refused before
any model loads or any step starts; the work folder is checked not to have been written to.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from olive_lab.cli import build_parser, main

ROOT = Path(__file__).resolve().parents[1]
ROW = {"prompt": "Where should I eat in Lisbon?", "response": "Try a tasca in Alfama for grilled sardines."}


@dataclass(frozen=True)
class Case:
    argv: str  # shell words; {names} are the fixture paths below
    code: int
    words: tuple[str, ...]  # what the user must read (case-sensitive), in stdout or stderr


def _read_only_folder(base: Path) -> Path | None:
    """A folder no write can land in: a read-only tmpfs for root (chmod does not stop root), else chmod 555."""
    folder = base / "read-only"
    folder.mkdir()
    if os.geteuid() != 0:
        folder.chmod(0o555)
        return folder
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "none", str(folder)], capture_output=True)
    return folder if mounted.returncode == 0 else None


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    base = tmp_path_factory.mktemp("bad-inputs")
    p = {"base": base, "lab": base / "lab", "afile": base / "a-file.txt"}
    p["afile"].write_text("not a folder\n")
    p["lab"].mkdir()
    p["ro"] = _read_only_folder(base)
    rows = [json.dumps({**ROW, "prompt": f"{ROW['prompt']} ({i})"}) for i in range(3)]
    for name, content in {"three.jsonl": "\n".join(rows) + "\n", "empty.jsonl": "",
                          "huge.jsonl": json.dumps({**ROW, "response": "x" * 5_000_000}) + "\n" + rows[0] + "\n",
                          "binary.jsonl": bytes(range(256)) * 64}.items():
        (base / name).write_bytes(content if isinstance(content, bytes) else content.encode())
    (base / "empty-model").mkdir()
    bert = base / "bert"
    bert.mkdir()
    (bert / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertForMaskedLM"]}))
    (bert / "model.safetensors").write_bytes(b"")
    (bert / "tokenizer.json").write_text("{}")
    chat = base / "chat-lab" / "models" / "phi" / "onnx-ao"  # a model that says its context, for the token limits
    chat.mkdir(parents=True)
    (chat / "genai_config.json").write_text(json.dumps({"model": {"context_length": 2048}, "search": {}}))
    p["chat"] = base / "chat-lab"
    yield p
    if p["ro"] is not None and os.geteuid() == 0:
        subprocess.run(["umount", str(p["ro"])], capture_output=True)


WORKDIR_COMMANDS = ("run --no-chat", "status", "command", "data", "chat --prompt hi", "check")
BAD_WORKDIRS = {
    "{afile}": (2, ("is a file, not a folder", "--workdir ~/olive-lab")),
    "/proc/self": (2, ("the proc file system", "not files", "--workdir ~/olive-lab")),
    "/sys/kernel": (2, ("the sysfs file system", "not files", "--workdir ~/olive-lab")),
    "{afile}/sub": (2, ("cannot be made", "is a file, not a folder")),
}
READ_ONLY_WRITERS = ("run --no-chat", "status", "command", "chat --prompt hi")

MODEL_COMMANDS = ("run --no-chat", "status", "command", "chat --prompt hi")
BAD_MODELS = {
    "{base}/empty-model": ("is not a complete model folder", "config.json is missing", "the tokenizer is missing"),
    "{base}/bert": ("model_type bert", "BertForMaskedLM", "not a causal language model"),
    "{base}/no-such-model/x": ("is not a folder (nothing is there)", "check the path given to --model"),
    "{afile}": ("is a file, not a model folder",),
}

CASES = [
    *[Case(f"{c} --profile cpu --workdir {w}", code, words) for c in WORKDIR_COMMANDS
      for w, (code, words) in BAD_WORKDIRS.items()],
    Case("--workdir {afile}", 2, ("olive-lab: --workdir", "is a file, not a folder")),  # the wizard
    *[Case(f"{c} --profile cpu --workdir {{ro}}", 3, ("cannot be written", "read-only", "--workdir"))
      for c in READ_ONLY_WRITERS],
    # datasets: `run` refuses what fine-tuning cannot use, naming the line or the count
    Case("run --profile cpu --workdir {lab} --data {base}/missing.jsonl", 2, ("missing.jsonl: no such file",)),
    Case("run --profile cpu --workdir {lab} --data {base}/empty.jsonl", 2, ("empty.jsonl is empty", "one JSON")),
    Case("run --profile cpu --workdir {lab} --data {base}/three.jsonl", 2,
         ("has only 3 usable rows", "at least 8", "--data")),
    Case("run --profile cpu --workdir {lab} --only finetune --data {base}/three.jsonl", 2, ("only 3 usable rows",)),
    Case("run --profile cpu --workdir {lab} --data {base}/huge.jsonl", 2,
         ("line 1 is 5,000,", "over the limit of 100,000", "Shorten or split it")),
    Case("run --profile cpu --workdir {lab} --data {base}/binary.jsonl", 2, ("not valid UTF-8", "olive-lab data")),
    Case("run --profile cpu --workdir {lab} --data {base}", 2, ("is a folder, not a file",)),
    Case("status --profile cpu --workdir {lab} --data {base}/missing.jsonl", 2, ("no such file", "--data out")),
    Case("chat --profile cpu --workdir {lab} --prompt hi --data {base}/missing.jsonl", 2, ("no such file",)),
    Case("data {base}/missing.jsonl", 2, ("no such file",)),
    Case("data {base}/empty.jsonl", 1, ("is empty",)),
    Case("data {base}/three.jsonl", 0, ("Fine-tuning refuses this file", "only 3 usable rows")),
    Case("data {base}/huge.jsonl", 1, ("over the limit of 100,000",)),
    Case("data {base}/binary.jsonl", 1, ("valid UTF-8",)),
    # base models
    *[Case(f"{c} --profile cpu --workdir {{lab}} --model {m}", 2, words) for c in MODEL_COMMANDS
      for m, words in BAD_MODELS.items()],
    Case("run --profile cpu --workdir {lab} --model 'not a hub id!'", 2, ("is not a Hugging Face model id",)),
    # steps
    Case("run --profile cpu --workdir {lab} --only ''", 2, ("--only is empty", "model, quantize, finetune, optimize")),
    Case("run --profile cpu --workdir {lab} --from ''", 2, ("--from is empty",)),
    Case("run --profile cpu --workdir {lab} --only nonsense", 2, ("unknown step 'nonsense'",)),
    Case("run --profile cpu --workdir {lab} --from x", 2, ("unknown step 'x'",)),
    Case("command --profile cpu --workdir {lab} ''", 2, ("the step is empty",)),
    Case("command --profile cpu --workdir {lab} nonsense", 2, ("unknown step 'nonsense'",)),
    # chat prompts and token limits (the model's genai_config.json says 2048 tokens)
    Case("chat --profile cpu --workdir {chat} --prompt ''", 2, ("--prompt is empty", "interactively")),
    Case("chat --profile cpu --workdir {chat} --prompt '   '", 2, ("--prompt is empty",)),
    Case("chat --profile cpu --workdir {chat} --prompt hi --max-new-tokens -5", 2, ("-5 is not a length", "at least 1")),
    Case("chat --profile cpu --workdir {chat} --prompt hi --max-new-tokens 0", 2, ("0 is not a length",)),
    Case("chat --profile cpu --workdir {chat} --prompt hi --max-new-tokens 100000000", 2,
         ("100000000 does not fit the model's context of 2048 tokens", "onnx-ao/genai_config.json")),
    Case("chat --profile cpu --workdir {chat} --prompt hi --max-new-tokens 2048", 2, ("context of 2048",)),
    Case("chat --profile cpu --workdir {lab} --prompt hi", 3, ("run the optimize step first",)),
    # upload: names Azure refuses, a folder that is not there (all checked before any sign-in)
    Case("upload --workdir {lab} --subscription s --resource-group rg --workspace w --name 'bad name!'", 2,
         ("characters Azure ML does not allow",)),
    Case("upload --workdir {lab} --subscription s --resource-group rg --workspace w --name ''", 2,
         ("The model name is empty",)),
    Case("upload --workdir {lab} --subscription s --resource-group rg --workspace w --version 'a b'", 2,
         ("The version 'a b'",)),
    Case("upload --workdir {lab} --subscription s --resource-group rg --workspace w --tag novalue", 2,
         ("Tags are KEY=VALUE",)),
    Case("upload --workdir {lab} --subscription s --resource-group rg --workspace w --folder {base}/nothing", 2,
         ("does not exist", "`olive-lab run`")),
    Case("upload --workdir {lab} --subscription s --resource-group rg --workspace w --folder {afile}", 2,
         ("is a file, not a folder",)),
    # secrets pasted by mistake: refused, and echoed only redacted
    *[Case(f"{c} --workdir {{lab}} {flag} '{url}'", 2, ("looks like a secret", "REDACTED", "local path"))
      for c, flag, url in (
          ("run --profile cpu", "--data", "https://acct.blob.core.windows.net/d/t.jsonl?sv=2024&se=2027&sp=r&sig=abc%2Bdef"),
          ("data", "--data", "https://acct.blob.core.windows.net/d/t.jsonl?sv=2024&sig=abcdef123"),
          ("status --profile cpu", "--model", "https://acct.blob.core.windows.net/m?sp=rl&se=2027&sig=Zm9vYmFy"),
          ("upload", "--folder", "https://acct.blob.core.windows.net/m?sig=Zm9vYmFyYmF6"),
          ("command --profile cpu", "--data", "https://user:hunter2secret@example.com/t.jsonl"),
          ("chat --prompt hi --profile cpu", "--model", "DefaultEndpointsProtocol=https;AccountName=a;AccountKey=Zm9v"),
      )],
    # usage mistakes argparse catches
    Case("run --bogus", 2, ("unrecognized arguments: --bogus",)),
    Case("chat --max-new-tokens abc", 2, ("invalid int value: 'abc'",)),
    Case("data --samples x", 2, ("invalid int value",)),
    Case("--profile tpu status", 2, ("invalid choice: 'tpu'",)),
    Case("bake", 2, ("invalid choice: 'bake'",)),
]


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("case", CASES, ids=[c.argv for c in CASES])
def test_bad_input(case: Case, paths, capsys, monkeypatch):
    if "{ro}" in case.argv and paths["ro"] is None:
        pytest.skip("no read-only folder can be made here")
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(paths["base"] / "no-azure"))
    before = sorted(p.name for p in paths["lab"].iterdir())
    code, out, err = run_cli(shlex.split(case.argv.format(**{k: str(v) for k, v in paths.items()})), capsys)
    text = out + err
    assert "Traceback" not in text
    assert code == case.code, text
    for words in case.words:
        assert words in " ".join(text.split()), f"{words!r} not in:\n{text}"
    assert len(text) < 20_000  # a 5 MB row is never printed
    if case.code != 0 and not case.argv.startswith("upload"):
        assert sorted(p.name for p in paths["lab"].iterdir()) == before  # refused before anything was written


def test_the_suite_covers_the_issues_85_invocations():
    assert len(CASES) >= 85


def test_a_read_only_work_folder_gets_no_lab_json(paths, capsys):
    if paths["ro"] is None:
        pytest.skip("no read-only folder can be made here")
    for command in ("status", "command"):
        code, _, err = run_cli([command, "--profile", "cpu", "--workdir", str(paths["ro"])], capsys)
        assert code == 3 and "read-only" in err
    assert not (paths["ro"] / ".olive-lab").exists()


def test_an_unexpected_error_is_one_line_not_a_traceback(paths, capsys, monkeypatch):
    from olive_lab.commands import status

    def broken(args):
        raise KeyError("profile")

    monkeypatch.setattr(status, "run", broken)
    code, out, err = run_cli(["status", "--profile", "cpu", "--workdir", str(paths["lab"])], capsys)
    assert code == 1 and "Traceback" not in out + err
    assert "unexpected error: KeyError: 'profile'" in err and "OLIVE_LAB_DEBUG=1" in err


def test_a_full_disk_while_a_command_writes_is_named(paths, capsys, monkeypatch):
    import errno

    from olive_lab.commands import status

    def full(args):
        raise OSError(errno.ENOSPC, "No space left on device", str(paths["lab"] / ".olive-lab" / "lab.json"))

    monkeypatch.setattr(status, "run", full)
    code, _, err = run_cli(["status", "--profile", "cpu", "--workdir", str(paths["lab"])], capsys)
    assert code == 3 and "no space left on the disk that holds" in err and "lab.json" in err


# ------------------------------------------------------------------------------------- advice names real commands


def advice_commands() -> list[tuple[str, str]]:
    """Every `olive-lab ...` command quoted in backticks in the code's messages and docs, as (file, command)."""
    import re

    found = []
    for folder in ("steps", "cli", "tui"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            # Adjacent string literals ("...`olive-lab upload " "--device-code`...") read as the one string they are.
            text = re.sub(r"([\"'])\s*\n\s*[rf]?\1", "", path.read_text(encoding="utf-8"))
            for command in re.findall(r"`(olive-lab(?: [^`]*)?)`", text):
                found.append((str(path.relative_to(ROOT)), command))
    return found


def test_every_advised_command_parses_with_the_real_parser():
    import re

    commands = advice_commands()
    assert len(commands) >= 20
    parser = build_parser()
    for where, command in commands:
        # Usage notation and f-string placeholders stand for values: [--json] -> --json, [FILE]/{x} -> a word.
        words = re.sub(r"\{[^}]*\}", "x", command)
        words = re.sub(r"\[(--[a-z-]+(?: [a-z]+)?)\]", r"\1", words)
        words = re.sub(r"\[[A-Z]+\]", "model", words)
        try:
            parser.parse_args(shlex.split(words)[1:])
        except SystemExit:
            pytest.fail(f"{where}: `{command}` is not a command olive-lab accepts")


def test_the_upload_advice_no_longer_names_run_optimize():
    assert not [c for _, c in advice_commands() if c.startswith("olive-lab run optimize")]


def test_every_row_runs_fast_before_any_heavy_import():
    code = ("import sys\nfrom olive_lab.cli import main\n"
            "try:\n    main(['run', '--profile', 'cpu', '--workdir', '/proc/self'])\nexcept SystemExit: pass\n"
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'olive', 'onnxruntime_genai', "
            "'transformers', 'textual', 'rich'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"


# ------------------------------------------------------------------------------------- with the real cpu lab's model


def test_a_prompt_longer_than_the_context_is_refused_at_once(cpu_lab):
    import time

    started = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "olive_lab", "chat", "--profile", "cpu", "--workdir",
                             str(cpu_lab.workdir), "--prompt", "Lisbon " * 2900], capture_output=True, text=True)
    assert "Traceback" not in result.stdout + result.stderr
    assert result.returncode == 2, result.stderr
    assert "more than the model's context of 2048 tokens" in result.stderr and "Shorten it" in result.stderr
    assert time.perf_counter() - started < 60  # it used to generate for about a minute, then fail


def test_the_wizards_model_process_refuses_a_long_prompt_and_answers_the_next(cpu_lab):
    """The chat pane's model runs in a child (ChatProcess): the refusal comes back as an error, the child lives."""
    import time

    from olive_lab.steps.chat import ChatProcess
    from olive_lab.steps.lab import Lab
    from olive_lab.steps.optimize import model_folder
    from olive_lab.steps.profiles import CPU

    session = ChatProcess.open(model_folder(Lab.create(cpu_lab.workdir, CPU)))
    try:
        started = time.perf_counter()
        with pytest.raises(ValueError, match="more than the model's context"):
            list(session.generate([{"role": "user", "content": "Lisbon " * 2900}], max_new_tokens=200))
        with pytest.raises(ValueError, match="at least 1"):
            list(session.generate([{"role": "user", "content": "hi"}], max_new_tokens=0))
        assert time.perf_counter() - started < 10
        assert "".join(session.generate([{"role": "user", "content": "hi"}], max_new_tokens=5)) is not None
        assert session.last_stats.tokens >= 1
    finally:
        session.close()
