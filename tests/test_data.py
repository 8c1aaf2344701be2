"""The `data` step (olive_lab.steps.data), the shipped travel dataset and `olive-lab data`."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from olive_lab.cli import main
from olive_lab.steps import data as d
from olive_lab.steps.lab import bundled_dataset
from olive_lab.steps.profiles import LAB_TEXT_TEMPLATE

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "data" / "data_sample_travel.jsonl"


def row(prompt="Where should I eat in Lisbon?", response="Try a tasca in Alfama for grilled sardines.", **extra) -> str:
    return json.dumps({"prompt": prompt, "response": response, **extra}, ensure_ascii=False)


def write(tmp_path, content: str | bytes, name="set.jsonl") -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def real(report) -> list[d.Finding]:
    """The problems, less the 'too small to fill one sequence' warning every tiny test file gets."""
    return [p for p in report.problems if p.key != d.TOO_SMALL]


def kinds(report) -> list[tuple[int | None, str, str]]:
    return [(p.line, p.key, p.severity) for p in real(report)]


# ------------------------------------------------------------------------------------------ the shipped dataset


def test_shipped_dataset_is_big_varied_and_clean():
    assert SHIPPED.is_file()
    assert bundled_dataset().resolve() == SHIPPED.resolve()
    report = d.inspect_dataset(SHIPPED)
    assert report.ok, report.problems[:3]
    assert report.problems == []  # not even a warning: no duplicate rows or prompts, nothing too long
    s = report.stats
    assert s.rows == s.valid_rows >= 220
    assert s.distinct_prompts == s.rows
    assert s.blank_lines == 0
    assert s.non_ascii_rows > 0  # some accented place names
    assert 4 <= s.prompt_words.min and s.prompt_words.max <= 16
    assert s.sample_tokens.max < 1024


def test_shipped_dataset_format_matches_the_lab():
    raw = SHIPPED.read_bytes()
    assert not raw.startswith(b"\xef\xbb\xbf") and b"\r" not in raw and raw.endswith(b"\n")
    lines = raw.decode("utf-8").splitlines()
    for number, line in enumerate(lines, 1):
        obj = json.loads(line)
        assert set(obj) == {"prompt", "response"}, number
        assert all(isinstance(v, str) and v.strip() == v and v for v in obj.values()), number
        assert obj["prompt"].endswith("?"), number
    # placeholders of the lab's template are fields of every row
    assert d.template_fields(LAB_TEXT_TEMPLATE) == ["prompt", "response"]
    # many places and many kinds of question
    text = raw.decode("utf-8")
    for place in ("Lisbon", "Tokyo", "Cape Town", "Buenos Aires", "Sydney", "Marrakech", "Mexico City", "Antarctica"):
        assert place in text
    for topic in ("visa", "pack", "wheelchair", "famil", "nightlife", "festival", "museum", "safe", "day trip"):
        assert topic in text.lower()


# ------------------------------------------------------------------------------------------ tolerated input


def test_bom_crlf_blank_lines_and_no_trailing_newline_are_fine(tmp_path):
    content = ("\ufeff" + row("A?", "One.") + "\r\n\r\n   \r\n" + row("B?", "Two.") + "\r\n\n" + row("C?", "Three."))
    report = d.inspect_dataset(write(tmp_path, content))
    assert real(report) == []
    assert report.ok
    assert [(r.line, r.prompt, r.response) for r in report.rows] == [(1, "A?", "One."), (4, "B?", "Two."),
                                                                     (6, "C?", "Three.")]
    assert report.stats.rows == 3 and report.stats.blank_lines == 3


def test_line_numbers_after_blank_lines_and_crlf(tmp_path):
    content = row("A?") + "\r\n\r\n\r\n" + '{"prompt": "B?", "response": }\r\n' + row("C?") + "\r\n"
    report = d.inspect_dataset(write(tmp_path, content))
    assert kinds(report) == [(4, d.BAD_JSON, d.ERROR)]
    assert [r.line for r in report.rows] == [1, 5]


# ------------------------------------------------------------------------------------------ each problem kind


def test_invalid_utf8_is_reported_by_line_and_other_rows_are_kept(tmp_path):
    latin1 = b'{"prompt": "Caf\xe9?", "response": "Yes."}\n'
    content = (row("A?") + "\n").encode() + latin1 + (row("C?") + "\n").encode()
    report = d.inspect_dataset(write(tmp_path, content))
    [p] = real(report)
    assert (p.line, p.key, p.severity) == (2, d.INVALID_UTF8, d.ERROR)
    assert "0xE9" in p.detail and "UTF-8" in p.detail and "re-save" in p.detail
    assert p.column == 16
    assert [r.line for r in report.rows] == [1, 3]
    assert not report.ok


def test_bad_json_gives_the_column_and_a_fix(tmp_path):
    report = d.inspect_dataset(write(tmp_path, row() + "\n" + "{'prompt': 'A?', 'response': 'B'}\n"))
    [p] = real(report)
    assert (p.line, p.key, p.severity, p.column) == (2, d.BAD_JSON, d.ERROR, 2)
    assert "line 2, column 2" in p.detail and "double quotes" in p.detail


def test_bad_json_hints_for_pretty_printed_and_array_files(tmp_path):
    pretty = '{\n  "prompt": "A?",\n  "response": "B"\n}\n'
    report = d.inspect_dataset(write(tmp_path, pretty))
    assert {p.key for p in real(report)} == {d.BAD_JSON}
    assert "several lines" in report.problems[0].detail
    array = "[" + row() + ",\n" + row("B?") + "]\n"
    report = d.inspect_dataset(write(tmp_path, array, "array.jsonl"))
    assert "JSON array" in report.problems[0].detail
    one_line = "[" + row() + ", " + row("B?") + "]\n"
    [p] = d.inspect_dataset(write(tmp_path, one_line, "one.jsonl")).problems
    assert p.key == d.NOT_OBJECT and "array of rows" in p.detail


def test_trailing_comma_and_extra_data(tmp_path):
    report = d.inspect_dataset(write(tmp_path, '{"prompt": "A?", "response": "B",}\n' + row() + " " + row("X?") + "\n"))
    assert [(p.line, p.key) for p in report.problems] == [(1, d.BAD_JSON), (2, d.BAD_JSON)]
    assert "trailing comma" in report.problems[0].detail
    assert "more than one JSON value" in report.problems[1].detail


@pytest.mark.parametrize("line,what", [('"just text"', "a string"), ("[1, 2]", "a list"), ("42", "a number"),
                                       ("null", "null")])
def test_not_an_object(tmp_path, line, what):
    report = d.inspect_dataset(write(tmp_path, row() + "\n" + line + "\n"))
    [p] = real(report)
    assert (p.line, p.key, p.severity) == (2, d.NOT_OBJECT, d.ERROR)
    assert f"is {what}, not a JSON object" in p.detail


def test_missing_field_names_it_and_the_fields_present(tmp_path):
    content = row() + "\n" + json.dumps({"prompt": "A?", "answer": "B"}) + "\n" + json.dumps({"text": "x"}) + "\n"
    report = d.inspect_dataset(write(tmp_path, content))
    assert kinds(report) == [(2, d.MISSING_FIELD, d.ERROR), (3, d.MISSING_FIELD, d.ERROR),
                             (3, d.MISSING_FIELD, d.ERROR)]
    first = report.problems[0].detail
    assert "'response'" in first and "'prompt', 'answer'" in first and "None" in first
    assert ["'prompt' field" in p.detail for p in report.problems[1:]] == [True, False]
    assert "'response' field" in report.problems[2].detail and "it has 'text'" in report.problems[2].detail
    assert [r.line for r in report.rows] == [1]


@pytest.mark.parametrize("value,word", [(5, "a number"), (None, "null"), (["a"], "a list"), ({"a": 1}, "an object"),
                                        (True, "true/false")])
def test_non_string_values(tmp_path, value, word):
    report = d.inspect_dataset(write(tmp_path, row() + "\n" + json.dumps({"prompt": "A?", "response": value}) + "\n"))
    [p] = real(report)
    assert (p.line, p.key, p.severity) == (2, d.NOT_STRING, d.ERROR)
    assert f"'response' is {word}" in p.detail and "quotes" in p.detail


def test_empty_and_whitespace_text(tmp_path):
    content = row() + "\n" + row("", "Fine.") + "\n" + row("A?", "  \t ") + "\n"
    report = d.inspect_dataset(write(tmp_path, content))
    assert kinds(report) == [(2, d.EMPTY_TEXT, d.ERROR), (3, d.EMPTY_TEXT, d.ERROR)]
    assert "'prompt' is empty" in report.problems[0].detail
    assert "'response' is only whitespace" in report.problems[1].detail
    assert len(report.rows) == 1


def test_duplicates_are_warnings_that_cite_the_first_line_and_rows_are_kept(tmp_path):
    content = "\n".join([row("A?", "One."), row("B?", "Two."), row("A?", "One."), row("A?", "Other."),
                         row(" B? ", "Three.")]) + "\n"
    report = d.inspect_dataset(write(tmp_path, content))
    assert report.ok
    assert kinds(report) == [(3, d.DUPLICATE_ROW, d.WARNING), (4, d.DUPLICATE_PROMPT, d.WARNING),
                             (5, d.DUPLICATE_PROMPT, d.WARNING)]
    assert [p.ref for p in real(report)] == [1, 1, 2]
    assert "repeats line 1" in real(report)[0].detail
    assert "also appears on line 1" in real(report)[1].detail
    assert len(report.rows) == 5  # nothing dropped: training uses duplicates too
    assert report.stats.distinct_prompts == 2
    assert (report.stats.duplicate_rows, report.stats.duplicate_prompts) == (1, 2)


def test_too_long_rows_with_the_estimate_and_with_a_tokenizer(tmp_path):
    content = row("Short?", "Fine.") + "\n" + row("Long?", "word " * 1000) + "\n"
    path = write(tmp_path, content)
    report = d.inspect_dataset(path)
    assert report.ok
    [p] = real(report)
    assert (p.line, p.key, p.severity) == (2, d.TOO_LONG, d.WARNING)
    assert "estimated" in p.detail and "1024" in p.detail
    assert report.stats.tokens_estimated

    words = lambda text: len(text.split())  # noqa: E731 - a stand-in tokenizer
    report = d.inspect_dataset(path, count_tokens=words, max_tokens=50)
    [p] = real(report)
    assert p.key == d.TOO_LONG and "tokenizer" in p.detail and "50-token" in p.detail
    assert not report.stats.tokens_estimated
    assert report.stats.sample_tokens.max == words(d.render_template(LAB_TEXT_TEMPLATE, report.rows[1]))


def test_a_dataset_too_small_for_one_sequence_is_a_warning(tmp_path):
    report = d.inspect_dataset(write(tmp_path, row() + "\n"))
    assert report.ok and [(p.line, p.key, p.severity) for p in report.problems] == [(None, d.TOO_SMALL, d.WARNING)]
    two = write(tmp_path, row() + "\n" + row("Another question?") + "\n", "two.jsonl")  # ~28 tokens each
    assert d.inspect_dataset(two, max_tokens=30).problems == []


def test_file_missing_folder_empty_and_wrong_encoding(tmp_path):
    report = d.inspect_dataset(tmp_path / "nope.jsonl")
    assert kinds(report) == [(None, d.FILE_MISSING, d.ERROR)] and report.missing and not report.ok
    assert "no such file" in report.problems[0].detail

    report = d.inspect_dataset(tmp_path)
    assert kinds(report) == [(None, d.NOT_A_FILE, d.ERROR)] and report.missing and "folder" in report.summary()

    for content in (b"", b"\n\r\n  \n", b"\xef\xbb\xbf"):
        report = d.inspect_dataset(write(tmp_path, content, "empty.jsonl"))
        assert kinds(report) == [(None, d.FILE_EMPTY, d.ERROR)] and not report.missing

    report = d.inspect_dataset(write(tmp_path, (row() + "\n").encode("utf-16"), "wide.jsonl"))
    assert kinds(report) == [(None, d.ENCODING, d.ERROR)] and "UTF-16" in report.problems[0].detail

    report = d.inspect_dataset(write(tmp_path, row() + "\r" + row("B?") + "\r", "mac.jsonl"))
    assert kinds(report) == [(None, d.ENCODING, d.ERROR)] and "carriage return" in report.problems[0].detail


def test_errors_and_warnings_properties(tmp_path):
    report = d.inspect_dataset(write(tmp_path, row() + "\n" + row() + "\nnot json\n"))
    assert [p.key for p in report.errors] == [d.BAD_JSON]
    assert [p.key for p in report.warnings] == [d.DUPLICATE_ROW]
    assert not report.ok
    assert report.summary() == "2 of 3 rows usable; 1 error and 1 warning."


# ------------------------------------------------------------------------------------------ statistics


def test_statistics(tmp_path):
    content = "\n".join([row("Where in Lisbon?", "Go to Alfama."),            # 3 / 16 ; 3 / 13
                         row("What to eat in São Paulo?", "Pastel, with juice!"),  # 6 / 25 ; 3 / 19
                         row("Best Berlin club at night?", "Try Kreuzberg first, it is great."),  # 5 ; 6
                         "", "oops"]) + "\n"
    report = d.inspect_dataset(write(tmp_path, content))
    s = report.stats
    assert (s.rows, s.valid_rows, s.blank_lines, s.distinct_prompts, s.non_ascii_rows) == (4, 3, 1, 3, 1)
    assert (s.prompt_words.min, s.prompt_words.median, s.prompt_words.max) == (3, 5, 6)
    assert (s.prompt_chars.min, s.prompt_chars.median, s.prompt_chars.max) == (16, 25, 26)
    assert (s.response_words.min, s.response_words.median, s.response_words.max) == (3, 3, 6)
    assert s.response_chars.min == 13 and s.response_chars.max == 33
    expected = sorted(-(-len(d.render_template(LAB_TEXT_TEMPLATE, r)) // 4) for r in report.rows)
    assert (s.sample_tokens.min, s.sample_tokens.median, s.sample_tokens.max) == tuple(expected)
    assert s.total_tokens == sum(expected) and s.tokens_estimated
    assert str(d.Spread(1, 2.5, 4)) == "1 / 2.5 / 4"
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["stats"]["prompt_words"] == {"min": 3, "median": 5, "max": 6}
    assert as_json["problems"][0]["kind"] == d.BAD_JSON and as_json["ok"] is False


def test_ten_thousand_rows_in_well_under_a_second(tmp_path):
    lines = [row(f"Question {i} about Kyoto?", "An answer with a few words in it. " * 4) for i in range(10_000)]
    path = write(tmp_path, "\n".join(lines) + "\n")
    start = time.perf_counter()
    report = d.inspect_dataset(path)
    assert time.perf_counter() - start < 1.0
    assert report.stats.valid_rows == 10_000 and report.ok


# ------------------------------------------------------------------------------------------ the text template


def test_template_fields():
    assert d.template_fields(LAB_TEXT_TEMPLATE) == ["prompt", "response"]
    assert d.template_fields("{b} {a} {b!r} {a:>5} {{literal}} {c.x} {d[0]}") == ["b", "a", "c", "d"]
    assert d.template_fields("no placeholders") == []
    for bad in ("{prompt", "prompt}", "{} {}", "{0}"):
        with pytest.raises(d.TemplateError):
            d.template_fields(bad)


def test_render_template_matches_olive_format():
    r = d.Row(7, "Where?", "There.", {"prompt": "Where?", "response": "There."})
    assert d.render_template(LAB_TEXT_TEMPLATE, r) == "<|user|>\nWhere?<|end|>\n<|assistant|>\nThere.<|end|>"
    assert d.render_template(LAB_TEXT_TEMPLATE, r) == LAB_TEXT_TEMPLATE.format(prompt="Where?", response="There.")
    assert d.render_template("Q: {question}", {"question": "Why?"}) == "Q: Why?"
    with pytest.raises(d.TemplateError, match=r"\{question\}.*has: prompt, response"):
        d.render_template("Q: {question}", {"prompt": "a", "response": "b"})


def test_template_placeholders_missing_from_the_data_are_one_clear_problem(tmp_path):
    path = write(tmp_path, "\n".join(row(f"Q{i}?") for i in range(5)) + "\n")
    report = d.inspect_dataset(path, template="<|user|>\n{question}<|end|>\n<|assistant|>\n{response}<|end|>")
    assert not report.ok
    templ = [p for p in report.problems if p.key == d.TEMPLATE]
    assert len(templ) == 1 and templ[0].line is None and templ[0].severity == d.ERROR
    assert "{question}" in templ[0].detail and "prompt, response" in templ[0].detail
    assert "Use {prompt} and {response}" in templ[0].detail
    assert not [p for p in report.problems if p.key == d.MISSING_FIELD]  # not once per row
    assert len(report.rows) == 5  # the rows are still there to look at


def test_custom_template_with_other_field_names(tmp_path):
    content = "\n".join(json.dumps({"question": f"Q{i}?", "answer": f"A{i}."}) for i in range(3)) + "\n"
    content += json.dumps({"question": "Q9?"}) + "\n"
    report = d.inspect_dataset(write(tmp_path, content), template="Q: {question}\nA: {answer}")
    assert [(p.line, p.key) for p in report.errors] == [(4, d.MISSING_FIELD)]
    assert "'answer'" in report.errors[0].detail
    assert [(r.prompt, r.response) for r in report.rows] == [("Q0?", "A0."), ("Q1?", "A1."), ("Q2?", "A2.")]
    assert d.render_template(report.template, report.rows[0]) == "Q: Q0?\nA: A0."


def test_template_without_placeholders_unparsable_or_unused_fields(tmp_path):
    path = write(tmp_path, row() + "\n")
    report = d.inspect_dataset(path, template="nothing to fill in")
    assert [(p.key, p.severity) for p in report.problems] == [(d.TEMPLATE, d.ERROR)]
    assert "no placeholders" in report.problems[0].detail
    report = d.inspect_dataset(path, template="{prompt")
    assert report.problems[0].key == d.TEMPLATE and "cannot be parsed" in report.problems[0].detail
    report = d.inspect_dataset(path, template="<|user|>\n{prompt}<|end|>")
    assert report.ok and kinds(report) == [(None, d.UNUSED_FIELD, d.WARNING)]
    assert "{response}" in report.problems[0].detail


def test_a_literal_backslash_n_in_the_template_is_a_warning(tmp_path):
    report = d.inspect_dataset(write(tmp_path, row() + "\n"), template=r"<|user|>\n{prompt}<|end|>\n{response}")
    assert report.ok and kinds(report) == [(None, d.TEMPLATE, d.WARNING)]
    assert "backslash" in report.problems[0].detail


# ------------------------------------------------------------------------------------------ samples, paging


def test_samples_and_pages(tmp_path):
    path = write(tmp_path, "\n".join(row(f"Q{i}?") for i in range(10)) + "\n")
    report = d.inspect_dataset(path)
    assert [r.line for r in d.samples(report, 3)] == [1, 6, 10]
    assert [r.line for r in d.samples(report, 1)] == [1]
    assert len(d.samples(report, 50)) == 10 and d.samples(report, 0) == []
    seeded = [r.line for r in d.samples(report, 4, seed=7)]
    assert seeded == [r.line for r in d.samples(report, 4, seed=7)] and seeded == sorted(seeded)
    assert [r.line for r in d.page(report, 1, 4)] == [5, 6, 7, 8]
    assert [r.line for r in d.page(report, 2, 4)] == [9, 10]
    assert d.page(report, 3, 4) == [] and d.page_count(report, 4) == 3


# ------------------------------------------------------------------------------------------ pre-flight


def test_require_valid(tmp_path):
    d.require_valid(SHIPPED)  # no error
    lines = [row(f"Question {i} about a long trip to Lisbon and Porto?", "An answer of some length. " * 20)
             for i in range(8)]
    d.require_valid(write(tmp_path, "\n".join(lines + lines[:1]) + "\n", "warn.jsonl"))  # a duplicate does not block
    with pytest.raises(d.DataError, match="only 2 usable rows; fine-tuning needs at least 8"):
        d.require_valid(write(tmp_path, row() + "\n" + row("Another?") + "\n", "two.jsonl"))
    bad = write(tmp_path, "\n".join(["nope"] * 8) + "\n" + row() + "\n")
    with pytest.raises(d.DataError) as info:
        d.require_valid(bad)
    message = str(info.value)
    assert "8 errors" in message and "line 1, column 1" in message and "line 5," in message
    assert "line 6," not in message and "and 3 more" in message
    assert info.value.report is not None and len(info.value.report.errors) == 8
    with pytest.raises(d.DataError, match="no such file"):
        d.require_valid(tmp_path / "missing.jsonl")
    with pytest.raises(d.DataError, match=r"\{question\}"):
        d.require_valid(SHIPPED, template="{question} {response}")


def test_importing_the_step_and_command_stays_light():
    code = ("import sys, olive_lab.steps.data, olive_lab.commands.data; "
            "print(sorted(m for m in ('rich', 'torch', 'olive', 'textual', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# ------------------------------------------------------------------------------------------ olive-lab data


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")


def test_cli_default_dataset_is_the_bundled_one(tmp_path, capsys, wide):
    assert main(["data", "--workdir", str(tmp_path), "--samples", "2"]) == 0
    out = capsys.readouterr().out
    assert str(SHIPPED.resolve()) in out
    assert "Statistics" in out and "distinct prompts" in out and "tokens per sample (estimate: chars / 4)" in out
    assert "Samples (2 of" in out and "What should I eat on my first night in Lisbon?" in out
    # the cpu profile's model is SmolLM2: its own chat template (ChatML), rendered on a sample
    assert "│ <|im_start|>user " in out and "What should I eat on my first night in Lisbon?<|im_end|>" in out
    assert "<|im_start|>assistant" in out and "the model's chat template" not in out and "SmolLM2's chat" in out
    assert "rows ready for fine-tuning" in out and "Problems" not in out
    assert "Split: 269 of 299 rows train (train.jsonl), 30 held out" in out
    assert "written there when fine-tuning starts" in out and not (tmp_path / "data").exists()


def test_cli_with_the_tiny_model_renders_the_labs_phi3_template(tmp_path, capsys, wide):
    assert main(["data", "--workdir", str(tmp_path), "--model", "tiny", "--samples", "1"]) == 0
    out = capsys.readouterr().out
    assert "│ <|user|> " in out and "What should I eat on my first night in Lisbon?<|end|>" in out
    assert "<|assistant|>" in out and "<|im_start|>" not in out
    assert "the lab's Phi-3 template" in out


def test_cli_writes_the_split_in_a_lab_folder_and_takes_your_own_heldout_set(tmp_path, capsys):
    from olive_lab.steps.pipeline import load_lab

    load_lab(tmp_path, "cpu")  # what `olive-lab run` and the wizard do first
    assert main(["data", "--workdir", str(tmp_path), "--json"]) == 0
    split = json.loads(capsys.readouterr().out)["split"]
    assert split["written"] and (split["train_rows"], split["heldout_rows"]) == (269, 30)
    train = (tmp_path / "data" / "train.jsonl").read_text().splitlines()
    heldout = (tmp_path / "data" / "heldout.jsonl").read_text().splitlines()
    assert len(train) == 269 and len(heldout) == 30
    assert not {json.loads(x)["prompt"] for x in train} & {json.loads(x)["prompt"] for x in heldout}

    own = write(tmp_path, row("Mine?", "Yes.") + "\n" + row("Also mine?", "Sure.") + "\n", "own.jsonl")
    assert main(["data", "--workdir", str(tmp_path), "--eval-data", str(own), "--json"]) == 0
    split = json.loads(capsys.readouterr().out)["split"]
    assert split["own_heldout"] and (split["train_rows"], split["heldout_rows"]) == (299, 2)
    assert "from your --eval-data file" in split["summary"]
    assert len((tmp_path / "data" / "train.jsonl").read_text().splitlines()) == 299

    bad = write(tmp_path, '{"prompt": "Broken?"\n', "bad.jsonl")
    assert main(["data", "--workdir", str(tmp_path), "--eval-data", str(bad), "--json"]) == 1
    assert "error in the --eval-data file" in json.loads(capsys.readouterr().out)["split_error"]


def test_cli_uses_the_workdir_dataset_and_the_data_option(tmp_path, capsys, wide):
    (tmp_path / "data").mkdir()
    local = write(tmp_path / "data", row("Local question?") + "\n", "data_sample_travel.jsonl")
    assert main(["--workdir", str(tmp_path), "data", "-n", "1"]) == 0
    out = capsys.readouterr().out
    assert str(local) in out and "Local question?" in out and "too_small" in out
    other = write(tmp_path, row("Other question?") + "\n", "other.jsonl")
    assert main(["data", "--data", str(other), "-n", "1"]) == 0
    assert "Other question?" in capsys.readouterr().out
    assert main(["data", str(local), "--data", str(other)]) == 2
    assert "give the dataset once" in capsys.readouterr().err


def test_cli_shows_problems_by_line_and_exits_1(tmp_path, capsys, wide):
    content = ("\ufeff" + row("[bold]Markup?[/bold]", "Kept [literally].") + "\r\n\r\n" + "{bad json}\r\n"
               + json.dumps({"prompt": "A?"}) + "\r\n" + row("[bold]Markup?[/bold]", "Kept [literally].") + "\r\n")
    path = write(tmp_path, content)
    assert main(["data", str(path)]) == 1
    out = capsys.readouterr().out
    assert "Problems" in out
    assert "3   error" in out and "Column 2: not valid JSON" in out
    assert "4   error" in out and "Missing the 'response' field" in out
    assert "5   warning" in out and "repeats line 1" in out
    assert "[bold]Markup?[/bold]" in out and "Kept [literally]." in out  # user text is never Rich markup
    assert "2 errors: fix them before fine-tuning" in out


def test_cli_missing_file_exits_2(tmp_path, capsys, wide):
    assert main(["data", str(tmp_path / "nope.jsonl")]) == 2
    out = capsys.readouterr().out
    assert "no such file" in out and "Statistics" not in out
    assert main(["data", str(tmp_path / "nope.jsonl"), "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    assert report["exit_code"] == 2 and report["problems"][0]["kind"] == d.FILE_MISSING


def test_cli_template_mismatch_exits_1(capsys, wide):
    assert main(["data", str(SHIPPED), "--template", "Q: {question}\nA: {response}"]) == 1
    out = capsys.readouterr().out
    assert "{question}" in out and "no row has that field" in out and "Use {prompt} and {response}" in out


def test_cli_json_report(tmp_path, capsys):
    path = write(tmp_path, row("A?", "One.") + "\n" + row("A?", "Two.") + "\n" + "[]\n")
    assert main(["data", str(path), "--json", "--samples", "2", "--max-tokens", "4"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["exit_code"] == 1
    assert report["errors"] == 1 and report["warnings"] == 3  # duplicate prompt + two rows over 4 tokens
    assert [(p["line"], p["kind"], p["severity"]) for p in report["problems"]] == [
        (1, "too_long", "warning"), (2, "duplicate_prompt", "warning"), (2, "too_long", "warning"),
        (3, "not_object", "error")]
    assert report["stats"]["rows"] == 3 and report["stats"]["valid_rows"] == 2
    assert [s["line"] for s in report["samples"]] == [1, 2]
    assert report["rendered"]["text"].endswith("<|im_start|>user\nA?<|im_end|>\n<|im_start|>assistant\nOne.<|im_end|>\n")
    assert report["template_fields"] == ["prompt", "response"]

    assert main(["data", str(SHIPPED), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is True and report["problems"] == [] and report["stats"]["valid_rows"] >= 220


def test_cli_long_problem_lists_are_cut_unless_all(tmp_path, capsys, wide):
    path = write(tmp_path, "\n".join(["nope"] * 25) + "\n")
    assert main(["data", str(path)]) == 1
    out = capsys.readouterr().out
    assert "and 5 more" in out and "--all" in out
    assert main(["data", str(path), "--all"]) == 1
    assert "more:" not in capsys.readouterr().out


def test_the_split_is_seeded_about_ten_percent_and_keeps_a_prompt_on_one_side(tmp_path):
    rows = [d.Row(i + 1, f"Question {i // 2}?", f"Answer {i}.") for i in range(60)]  # each prompt twice
    train, heldout = d.split_rows(rows)
    assert (train, heldout) == d.split_rows(list(rows))  # the same split every time
    assert len(heldout) == 6 and len(train) == 54
    assert not {r.prompt for r in train} & {r.prompt for r in heldout}
    assert [r.line for r in train] == sorted(r.line for r in train)  # file order kept
    assert d.split_rows(rows[:1]) == (rows[:1], [])  # nothing to hold out from one prompt
    assert len(d.split_rows(rows[:4])[1]) == 2  # at least one prompt (both of its rows)


def test_finetune_trains_on_the_train_split_with_the_models_own_template(tmp_path):
    from olive_lab.steps import finetune, pipeline
    from olive_lab.steps.profiles import LAB_TEXT_TEMPLATE

    lab = pipeline.load_lab(tmp_path / "smol", "cpu")
    argv = finetune.plan(lab).argv
    assert argv[argv.index("--data_files") + 1] == str(tmp_path / "smol" / "data" / "train.jsonl")
    template = argv[argv.index("--text_template") + 1]
    assert template.startswith("<|im_start|>system\n") and "<|im_start|>user\n{prompt}<|im_end|>" in template
    assert any("cannot be trained alone" in note for note in finetune.plan(lab).notes)

    tiny = pipeline.load_lab(tmp_path / "tiny", "cpu", "tiny")
    argv = finetune.plan(tiny).argv
    assert argv[argv.index("--text_template") + 1] == LAB_TEXT_TEMPLATE
    assert "--target_modules" not in argv and argv[argv.index("--max_steps") + 1] == "40"
    # The pre-flight writes the split before anything runs; only the missing base model is left to complain about.
    problems = pipeline.preflight(tiny, "finetune")
    assert len(problems) == 1 and "tiny-phi3 is missing" in problems[0]
    assert len(d.read_heldout(tiny)) == 30 and d.train_path(tiny).is_file()
    assert d.heldout_path(tiny) == tmp_path / "tiny" / "data" / "heldout.jsonl"


def test_a_bad_dataset_is_refused_before_finetune_with_its_line_numbers(tmp_path):
    from olive_lab.steps import pipeline

    bad = write(tmp_path, row("Fine?", "Yes.") + '\n{"prompt": "oops"\n', "bad.jsonl")
    lab = pipeline.load_lab(tmp_path / "w", "cpu", "tiny", str(bad))
    problems = pipeline.preflight(lab, "finetune")
    assert any("line 2" in p for p in problems) and not d.train_path(lab).exists()


def test_read_objects_is_the_lenient_reader_other_steps_use(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"prompt": "a", "response": "b"}\n\n{bad json\n[1, 2]\n'
                     b'{"text": "caf\xe9"}\n{"prompt": "c", "response": "d"}\r\n')
    objects, bad = d.read_objects(path)
    assert objects == [(1, {"prompt": "a", "response": "b"}), (6, {"prompt": "c", "response": "d"})]
    assert bad == 3  # bad JSON, an array, invalid UTF-8: the data step names each of them by line


def test_dataset_problems_and_machine_findings_are_one_type(tmp_path):
    from olive_lab.steps import check, findings

    path = tmp_path / "bad.jsonl"
    path.write_text('{"prompt": "a", "response": "b"}\n{"prompt": "c"}\n', encoding="utf-8")
    problem = d.inspect_dataset(path).errors[0]
    assert isinstance(problem, findings.Finding) and check.Finding is findings.Finding
    assert (problem.key, problem.line, problem.blocks) == (d.MISSING_FIELD, 2, True)
    with pytest.raises(ValueError, match="severity must be one of"):
        findings.Finding("gpu", "GPU", "fatal", "made up")

