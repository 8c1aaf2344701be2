"""The `data` step: load a JSONL training set, say exactly what is wrong with it (by line), and describe it.

A row is one JSON object per line with the fields the text template names (the lab's: `prompt` and
`response`). Olive reads the file with `datasets.load_dataset("json")` and formats each row with
`text_template.format(**row)`, which sets the rules below:

- **errors** break the load for every row (bad JSON, invalid UTF-8, a line that is not an object) or silently
  train on garbage (a missing field becomes the text "None", a number is formatted as digits, an empty
  response teaches the model to say nothing). Fix them before fine-tuning; `require_valid` refuses to go on.
- **warnings** train fine but may not be what you meant (duplicates, rows longer than `max_seq_len`).

Nothing is dropped silently: every well-formed row is in `DataReport.rows` (duplicates included, since
training uses them too) and every line that is not has a problem (a `steps.findings.Finding`, the type the
machine check uses too). Standard library only, and fast (10k rows in well under a second with the default
token estimate).
"""

from __future__ import annotations

import json
import math
import random
import statistics
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .findings import ERROR, WARNING, Finding, blocking_of, warnings_of
from .profiles import LAB_TEXT_TEMPLATE


# Problem kinds (stable strings: front ends and tests match on them).
FILE_MISSING = "file_missing"
NOT_A_FILE = "not_a_file"
UNREADABLE = "unreadable"
FILE_EMPTY = "file_empty"
ENCODING = "encoding"  # the whole file is UTF-16/32, or uses old Mac CR-only line ends
INVALID_UTF8 = "invalid_utf8"
BAD_JSON = "bad_json"
NOT_OBJECT = "not_object"
MISSING_FIELD = "missing_field"
NOT_STRING = "not_string"
EMPTY_TEXT = "empty_text"
DUPLICATE_ROW = "duplicate_row"
DUPLICATE_PROMPT = "duplicate_prompt"
TOO_LONG = "too_long"
TEMPLATE = "template"
UNUSED_FIELD = "unused_field"
TOO_SMALL = "too_small"
ROW_TOO_BIG = "row_too_big"

#: Kinds that mean the file itself could not be found (the CLI exits 2 for these).
MISSING_KINDS = frozenset({FILE_MISSING, NOT_A_FILE})

DEFAULT_MAX_TOKENS = 1024  # Olive's default --max_seq_len
#: A line longer than this is refused unread: 25 times the longest sample Olive trains on, and a 5 MB line stalls
#: the tokenizer for minutes.
MAX_ROW_BYTES = 100_000
ROW_EXAMPLE = '{"prompt": "What should I see in Lisbon?", "response": "Start in Alfama..."}'

_BOM = b"\xef\xbb\xbf"
_WIDE_BOMS = {b"\xff\xfe\x00\x00": "UTF-32", b"\x00\x00\xfe\xff": "UTF-32",
              b"\xff\xfe": "UTF-16", b"\xfe\xff": "UTF-16"}


class DataError(Exception):
    """The dataset has errors that would break or silently spoil fine-tuning. `report` has all the details."""

    def __init__(self, message: str, report: DataReport | None = None):
        super().__init__(message)
        self.report = report


class TemplateError(ValueError):
    """The text template cannot be parsed or rendered (say why and how to fix it)."""


@dataclass(frozen=True)
class Row:
    """One well-formed record. `line` is 1-based in the file; `data` is the whole JSON object."""

    line: int
    prompt: str
    response: str
    data: Mapping[str, object] = field(default_factory=dict, compare=False, repr=False)

    def fields(self) -> dict[str, object]:
        """What the template is formatted with: every field of the row."""
        return {"prompt": self.prompt, "response": self.response, **self.data}


def problem(line: int | None, kind: str, severity: str, message: str, *, ref: int | None = None,
            column: int | None = None) -> Finding:
    """Something wrong with the file, as a `Finding`: `kind` is its key, `message` its detail (which says the fix
    too). `line` is 1-based, or None for the whole file (or the template); `ref` is the line a duplicate repeats;
    `column` is the 1-based character (JSON) or byte (UTF-8) position."""
    return Finding(kind, "", severity, message, line=line, column=column, ref=ref)


def problem_dict(p: Finding) -> dict:
    """One problem of `olive-lab data --json` (stable keys: line, kind, severity, message, ref, column)."""
    return {"line": p.line, "kind": p.key, "severity": p.severity, "message": p.detail, "ref": p.ref,
            "column": p.column}


@dataclass(frozen=True)
class Spread:
    """Minimum, median and maximum of a measure over the valid rows (all 0 when there are none)."""

    min: float = 0
    median: float = 0
    max: float = 0

    @classmethod
    def of(cls, values: list[int]) -> Spread:
        if not values:
            return cls()
        return cls(min(values), statistics.median(values), max(values))

    def __str__(self) -> str:
        med = self.median
        med_s = str(int(med)) if float(med).is_integer() else f"{med:.1f}"
        return f"{self.min:g} / {med_s} / {self.max:g}"


@dataclass(frozen=True)
class DataStats:
    """Counts and lengths. `rows` counts every non-blank line; the lengths cover the valid rows."""

    rows: int = 0
    valid_rows: int = 0
    blank_lines: int = 0
    distinct_prompts: int = 0
    duplicate_rows: int = 0
    duplicate_prompts: int = 0
    non_ascii_rows: int = 0
    prompt_words: Spread = Spread()
    prompt_chars: Spread = Spread()
    response_words: Spread = Spread()
    response_chars: Spread = Spread()
    sample_tokens: Spread = Spread()
    total_tokens: int = 0
    tokens_estimated: bool = True
    size_bytes: int = 0


@dataclass
class DataReport:
    path: Path
    rows: list[Row] = field(default_factory=list)
    problems: list[Finding] = field(default_factory=list)
    stats: DataStats = field(default_factory=DataStats)
    template: str = LAB_TEXT_TEMPLATE
    max_tokens: int = DEFAULT_MAX_TOKENS

    @property
    def errors(self) -> list[Finding]:
        return blocking_of(self.problems)

    @property
    def warnings(self) -> list[Finding]:
        return warnings_of(self.problems)

    @property
    def ok(self) -> bool:
        """True when nothing would break or spoil fine-tuning (warnings allowed)."""
        return not self.errors

    @property
    def missing(self) -> bool:
        """True when the file itself is not there (as opposed to being there and wrong)."""
        return any(p.key in MISSING_KINDS for p in self.problems)

    def problem_counts(self) -> dict[str, int]:
        """How many problems of each kind, errors' kinds first."""
        counts: dict[str, int] = {}
        for p in sorted(self.problems, key=lambda p: p.severity != ERROR):
            counts[p.key] = counts.get(p.key, 0) + 1
        return counts

    def summary(self) -> str:
        """One line a person reads first."""
        s = self.stats
        if self.missing:
            return self.errors[0].detail
        head = f"{s.valid_rows} of {s.rows} rows usable"
        e, w = len(self.errors), len(self.warnings)
        if not e and not w:
            return f"{head}; no problems."
        parts = []
        if e:
            parts.append(f"{e} error{'s' * (e != 1)}")
        if w:
            parts.append(f"{w} warning{'s' * (w != 1)}")
        return f"{head}; {' and '.join(parts)}."

    def to_dict(self) -> dict:
        """A JSON-ready view (for `olive-lab data --json`)."""
        return {
            "path": str(self.path),
            "ok": self.ok,
            "summary": self.summary(),
            "template": self.template,
            "template_fields": _safe_fields(self.template),
            "max_tokens": self.max_tokens,
            "stats": _stats_dict(self.stats),
            "errors": len(self.errors),
            "warnings": len(self.warnings),
            "problem_counts": self.problem_counts(),
            "problems": [problem_dict(p) for p in self.problems],
        }


def _stats_dict(stats: DataStats) -> dict:
    out = {}
    for name in stats.__dataclass_fields__:
        value = getattr(stats, name)
        out[name] = {"min": value.min, "median": value.median, "max": value.max} if isinstance(value, Spread) else value
    return out


# ----------------------------------------------------------------------------------------------- template


def template_fields(template: str) -> list[str]:
    """The row fields a `str.format` template uses, in order of first use, e.g. ['prompt', 'response'].

    Raises TemplateError for a template Olive could not format (unbalanced braces, positional `{}`/`{0}`).
    """
    fields: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise TemplateError(
            f"The text template cannot be parsed ({exc}). Placeholders look like {{prompt}}; "
            "write a literal brace as {{ or }}.") from exc
    for _literal, name, _spec, _conv in parsed:
        if name is None:
            continue
        base = name.split(".", 1)[0].split("[", 1)[0]
        if base == "" or base.isdigit():
            raise TemplateError(
                f"The text template has a positional placeholder {{{name}}}; Olive formats each row by field "
                "name, so use names such as {prompt} and {response}.")
        if base not in fields:
            fields.append(base)
    return fields


def _safe_fields(template: str) -> list[str]:
    try:
        return template_fields(template)
    except TemplateError:
        return []


def render_template(template: str, row: Row | Mapping[str, object]) -> str:
    """The training text for one row, exactly as Olive makes it: `template.format(**row)`."""
    values = row.fields() if isinstance(row, Row) else dict(row)
    try:
        return template.format(**values)
    except KeyError as exc:
        have = ", ".join(sorted(values)) or "none"
        raise TemplateError(f"The text template uses {{{exc.args[0]}}}, but the row has no field "
                            f"'{exc.args[0]}' (it has: {have}).") from exc
    except (IndexError, ValueError, AttributeError, TypeError) as exc:
        raise TemplateError(f"The text template cannot be rendered on this row: {exc}.") from exc


def estimate_tokens(text: str) -> int:
    """A tokenizer-free estimate: about four characters per token for English text."""
    return math.ceil(len(text) / 4)


# ----------------------------------------------------------------------------------------------- loading


def _kind_of(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, str):
        return "a string"
    return type(value).__name__


def _clip(text: str, width: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def _json_hint(text: str, msg: str, line: int) -> str:
    stripped = text.strip()
    if line == 1 and stripped.startswith("["):
        return ("The file looks like one JSON array; JSONL needs one object per line, without the surrounding "
                "[ ] and the commas between rows.")
    if stripped in ("{", "}", "[", "]", "},", "],") or (stripped.startswith('"') and stripped.endswith((",", '"'))):
        return "The record seems spread over several lines (pretty-printed JSON); put each object on one line."
    if msg.startswith("Extra data"):
        return "There is more than one JSON value on this line; put each object on its own line."
    if "property name enclosed in double quotes" in msg:
        return "JSON needs double quotes around names and strings (not single quotes), and no trailing comma."
    if msg.startswith("Unterminated string") or msg.startswith("Invalid control character"):
        return ("A string is not closed on this line; a line break inside a text must be written as \\n, "
                "and a double quote inside a text as \\\".")
    if msg.startswith("Invalid \\escape"):
        return "A backslash inside a text must be doubled (\\\\)."
    return f"Each line must be one complete JSON object, e.g. {ROW_EXAMPLE}."


def _parse_lines(raw: bytes, max_tokens: int, problems: list[Finding]) -> tuple[list[tuple[int, dict]], int, int]:
    """Decode and parse each line of a JSONL file (without its BOM): the objects with their line numbers, the
    number of non-blank lines and of blank ones; every line that is not an object adds its problem."""
    objects: list[tuple[int, dict]] = []
    rows_seen = blank = 0
    chunks = raw.split(b"\n")
    if chunks and chunks[-1] == b"":
        chunks.pop()  # the line end of the last line, not a line of its own
    for number, chunk in enumerate(chunks, start=1):
        if chunk.endswith(b"\r"):
            chunk = chunk[:-1]
        if len(chunk) > MAX_ROW_BYTES:
            rows_seen += 1
            problems.append(problem(
                number, ROW_TOO_BIG, ERROR,
                f"line {number} is {len(chunk):,} bytes long, over the limit of {MAX_ROW_BYTES:,} for one row (a "
                f"training sample is at most {max_tokens} tokens, about {4 * max_tokens:,} characters). Shorten or "
                "split it, or delete the line."))
            continue
        try:
            text = chunk.decode("utf-8")
        except UnicodeDecodeError as exc:
            rows_seen += 1
            bad = chunk[exc.start:exc.start + 1].hex().upper()
            problems.append(problem(
                number, INVALID_UTF8, ERROR,
                f"line {number}: not valid UTF-8 (byte 0x{bad} at byte {exc.start + 1}, near "
                f"'{_clip(chunk.decode('utf-8', 'replace')[max(0, exc.start - 20):exc.start + 20], 40)}'). The file "
                "was probably saved as Latin-1 or Windows-1252; re-save it as UTF-8.",
                column=exc.start + 1))
            continue
        if not text.strip():
            blank += 1
            continue
        rows_seen += 1
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(problem(
                number, BAD_JSON, ERROR,
                f"line {number}, column {exc.colno}: not valid JSON ({exc.msg}). {_json_hint(text, exc.msg, number)}",
                column=exc.colno))
            continue
        if not isinstance(obj, dict):
            if isinstance(obj, list) and obj and all(isinstance(o, dict) for o in obj):
                fix = "It holds a JSON array of rows; JSONL needs each object on its own line, without [ ]."
            else:
                fix = f"Each line must be an object with the template's fields, e.g. {ROW_EXAMPLE}."
            problems.append(problem(
                number, NOT_OBJECT, ERROR, f"line {number}: is {_kind_of(obj)}, not a JSON object. {fix}"))
            continue
        objects.append((number, obj))
    return objects, rows_seen, blank


def read_objects(path) -> tuple[list[tuple[int, dict]], int]:
    """The JSON objects of a JSONL file, with their line numbers, and how many lines are not one.

    Lenient, for the steps that only need the text (calibration, the tiny model's tokenizer): a bad line is
    skipped and counted; the data step is the one that says what is wrong with it. Raises OSError when the file
    cannot be read.
    """
    raw = Path(path).read_bytes()
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    problems: list[Finding] = []
    objects, _lines, _blank = _parse_lines(raw, DEFAULT_MAX_TOKENS, problems)
    return objects, len(problems)


def inspect_dataset(path, template: str = LAB_TEXT_TEMPLATE, count_tokens: Callable[[str], int] | None = None,
                    max_tokens: int = DEFAULT_MAX_TOKENS) -> DataReport:
    """Read and check a JSONL dataset. Never raises for a bad file: everything wrong is a problem (`problem`)."""
    path = Path(path).expanduser()
    report = DataReport(path=path, template=template, max_tokens=max_tokens)
    problems = report.problems

    def fail(kind: str, message: str) -> DataReport:
        problems.append(problem(None, kind, ERROR, message))
        return report

    if not path.exists():
        return fail(FILE_MISSING, f"{path}: no such file. Check the path, or run `olive-lab data` without a file "
                                  "to use the lab's travel dataset.")
    if not path.is_file():
        return fail(NOT_A_FILE, f"{path} is a {'folder' if path.is_dir() else 'special file'}, not a file. "
                                "Give the path of the .jsonl file itself.")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return fail(UNREADABLE, f"{path} cannot be read ({exc.strerror or exc}). Check its permissions.")
    size = len(raw)
    if raw.startswith(_BOM):
        raw = raw[len(_BOM):]
    for bom, name in _WIDE_BOMS.items():
        if raw.startswith(bom):
            report.stats = DataStats(size_bytes=size)
            return fail(ENCODING, f"{path} is saved as {name}; Olive reads UTF-8 only. Re-save it as UTF-8 "
                                  "(in VS Code: click the encoding in the status bar, 'Save with Encoding', UTF-8).")
    if not raw.strip():
        report.stats = DataStats(size_bytes=size)
        return fail(FILE_EMPTY, f"{path} is empty{' (only blank lines)' if raw else ''}. Add one JSON object per "
                                f"line, e.g. {ROW_EXAMPLE}")
    if b"\n" not in raw and raw.count(b"\r") > 1:
        report.stats = DataStats(size_bytes=size)
        return fail(ENCODING, f"{path} separates lines with a bare carriage return (old Mac style), which JSON "
                              "Lines readers do not accept. Re-save it with LF (or CRLF) line endings.")

    try:
        fields_used = template_fields(template)
        template_ok = bool(fields_used)
        if not fields_used:
            problems.append(problem(None, TEMPLATE, ERROR,
                                    "The text template has no placeholders, so every training sample would be the "
                                    "same text. Use the row fields, e.g. <|user|>\\n{prompt}<|end|>\\n<|assistant|>"
                                    "\\n{response}<|end|>."))
    except TemplateError as exc:
        fields_used, template_ok = [], False
        problems.append(problem(None, TEMPLATE, ERROR, str(exc)))

    if "\\n" in template and "\n" not in template:
        problems.append(problem(
            None, TEMPLATE, WARNING,
            "The text template contains a literal \\n (a backslash and an n), not a line break. Olive passes it "
            "through unchanged, so the model trains on those two characters (the written lab's bash command does "
            "this too). Use real line breaks, e.g. $'<|user|>\\n{prompt}...' in bash."))

    # Pass 1: decode and parse each line; keep the objects (with their line numbers).
    objects, rows_seen, blank = _parse_lines(raw, max_tokens, problems)

    # Which template fields exist anywhere in the data: a field no row has is a template problem, reported once.
    present: set[str] = set()
    for _n, obj in objects:
        present.update(obj)
    if objects and fields_used:
        absent = [f for f in fields_used if f not in present]
        if absent:
            template_ok = False
            have = ", ".join(sorted(present)) or "none"
            uses = ", ".join("{" + f + "}" for f in absent)
            if {"prompt", "response"} <= present:
                hint = " Use {prompt} and {response} in the template, as the lab does."
            else:
                hint = " Rename the fields in the data, or change the template (--template)."
            problems.append(problem(
                None, TEMPLATE, ERROR,
                f"The text template uses {uses}, but no row has {'that field' if len(absent) == 1 else 'those fields'}"
                f" (the rows have: {have}).{hint}"))
        for name in ("prompt", "response") if not absent else ():
            if name in present and name not in fields_used:
                problems.append(problem(
                    None, UNUSED_FIELD, WARNING,
                    f"The rows have a '{name}' field but the text template never uses {{{name}}}, so the model "
                    f"will not see it. Add {{{name}}} to the template."))
    # The fields every row must have as non-empty text: the template's (or, if it is unusable, the lab's).
    required = [f for f in fields_used if f in present] or [f for f in ("prompt", "response") if f in present]
    prompt_key = "prompt" if "prompt" in required or not required else required[0]
    response_key = "response" if "response" in required or not required else required[-1]

    # Pass 2: per-row checks on the fields the template needs.
    measure = count_tokens or estimate_tokens
    first_row: dict[tuple[str, str], int] = {}
    first_prompt: dict[str, int] = {}
    rows: list[Row] = []
    dup_rows = dup_prompts = 0
    for number, obj in objects:
        row_errors = []
        for name in required:
            if name not in obj:
                have = ", ".join(f"'{k}'" for k in obj) or "no fields at all"
                row_errors.append(problem(
                    number, MISSING_FIELD, ERROR,
                    f"line {number}: missing the '{name}' field (it has {have}). Olive would train on the text "
                    f"'None' here; add \"{name}\": \"...\" or delete the line."))
                continue
            value = obj[name]
            if not isinstance(value, str):
                shown = json.dumps(value, ensure_ascii=False)
                row_errors.append(problem(
                    number, NOT_STRING, ERROR,
                    f"line {number}: '{name}' is {_kind_of(value)} ({_clip(shown, 30)}), not a text. Put it in "
                    f"quotes (\"{name}\": \"...\") or fix the value."))
            elif not value.strip():
                what = "to answer with nothing" if name == response_key else "an answer to an empty question"
                row_errors.append(problem(
                    number, EMPTY_TEXT, ERROR,
                    f"line {number}: '{name}' is {'empty' if not value else 'only whitespace'}; the model would "
                    f"learn {what}. Write the text or delete the line."))
        if row_errors:
            problems.extend(row_errors)
            continue
        prompt = obj.get(prompt_key) if isinstance(obj.get(prompt_key), str) else ""
        response = obj.get(response_key) if isinstance(obj.get(response_key), str) else ""
        row = Row(number, prompt, response, obj)
        key = (prompt.strip(), response.strip())
        if key in first_row:
            dup_rows += 1
            problems.append(problem(
                number, DUPLICATE_ROW, WARNING,
                f"line {number} repeats line {first_row[key]} exactly ('{_clip(prompt, 50)}'), so it is trained "
                f"twice. Delete line {number} unless you mean to weight it.", ref=first_row[key]))
        elif key[0] in first_prompt:
            dup_prompts += 1
            problems.append(problem(
                number, DUPLICATE_PROMPT, WARNING,
                f"line {number}: the prompt '{_clip(prompt, 50)}' also appears on line {first_prompt[key[0]]} with a "
                "different response. Fine if intended (the lab's own set has 99), but the model sees mixed answers "
                "to one question; merge or reword them.", ref=first_prompt[key[0]]))
        first_row.setdefault(key, number)
        first_prompt.setdefault(key[0], number)
        rows.append(row)

    # Token lengths of the templated samples (and the over-long ones).
    tokens: list[int] = []
    if template_ok:
        for row in rows:
            try:
                text = render_template(template, row)
            except TemplateError as exc:
                problems.append(problem(row.line, TEMPLATE, ERROR, f"line {row.line}: {exc}"))
                continue
            n = measure(text)
            tokens.append(n)
            if n > max_tokens:
                how = "estimated at characters / 4" if count_tokens is None else "counted with the tokenizer"
                problems.append(problem(
                    row.line, TOO_LONG, WARNING,
                    f"line {row.line}: the templated sample is {n} tokens ({how}), over the {max_tokens}-token "
                    f"max_seq_len. Olive packs rows into {max_tokens}-token sequences, so this one is cut across "
                    "two and never seen whole; shorten it or raise --max_seq_len."))
    total_tokens = sum(tokens)
    if template_ok and rows and total_tokens <= max_tokens and not any(p.blocks for p in problems):
        problems.append(problem(
            None, TOO_SMALL, WARNING,
            f"All rows together make about {total_tokens} tokens, not more than one {max_tokens}-token sequence; "
            "Olive's default packing (JOIN) would produce no training sample at all. Add rows, or lower "
            "--max_seq_len."))

    report.rows = rows
    report.problems.sort(key=lambda p: (p.line is not None, p.line or 0))
    report.stats = DataStats(
        rows=rows_seen,
        valid_rows=len(rows),
        blank_lines=blank,
        distinct_prompts=len({r.prompt.strip() for r in rows}),
        duplicate_rows=dup_rows,
        duplicate_prompts=dup_prompts,
        non_ascii_rows=sum(1 for r in rows if not (r.prompt.isascii() and r.response.isascii())),
        prompt_words=Spread.of([len(r.prompt.split()) for r in rows]),
        prompt_chars=Spread.of([len(r.prompt) for r in rows]),
        response_words=Spread.of([len(r.response.split()) for r in rows]),
        response_chars=Spread.of([len(r.response) for r in rows]),
        sample_tokens=Spread.of(tokens),
        total_tokens=total_tokens,
        tokens_estimated=count_tokens is None,
        size_bytes=size,
    )
    return report


# ----------------------------------------------------------------------------------------------- browsing


def samples(report: DataReport, n: int, seed: int | None = None) -> list[Row]:
    """`n` rows to look at: spread evenly over the file (stable), or drawn at random with `seed`."""
    rows = report.rows
    if n <= 0 or not rows:
        return []
    if n >= len(rows):
        return list(rows)
    if seed is not None:
        return sorted(random.Random(seed).sample(rows, n), key=lambda r: r.line)
    if n == 1:
        return [rows[0]]
    step = (len(rows) - 1) / (n - 1)
    return [rows[int(i * step + 0.5)] for i in range(n)]


def page(report: DataReport, index: int, size: int = 20) -> list[Row]:
    """Rows of page `index` (0-based) for a browser; empty past the end."""
    if index < 0 or size <= 0:
        return []
    return report.rows[index * size:(index + 1) * size]


def page_count(report: DataReport, size: int = 20) -> int:
    return math.ceil(len(report.rows) / size) if size > 0 else 0


# ----------------------------------------------------------------------------------------------- pre-flight


def describe_errors(report: DataReport, limit: int = 5) -> str:
    """The first `limit` errors as lines of text, and how many more there are."""
    errors = report.errors
    lines = [f"{report.path}: {len(errors)} error{'s' * (len(errors) != 1)} in the dataset"]
    lines += [f"  - {p.detail}" for p in errors[:limit]]
    if len(errors) > limit:
        lines.append(f"  ... and {len(errors) - limit} more (see them all with `olive-lab data {report.path}`)")
    return "\n".join(lines)


#: Fewer usable rows than this cannot teach anything: refused before fine-tuning starts.
MIN_TRAIN_ROWS = 8


def training_problems(report) -> list[str]:
    """Why fine-tuning cannot use this `steps.data.DataReport`: its errors, too few rows, no training sample.

    The other warnings (duplicates, over-long samples, an unused field) train fine and do not block a run.
    """
    if not report.ok:
        return [describe_errors(report)]
    problems = []
    usable = report.stats.valid_rows
    if usable < MIN_TRAIN_ROWS:
        problems.append(f"{report.path} has only {usable} usable row{'s' * (usable != 1)}; fine-tuning needs at "
                        f"least {MIN_TRAIN_ROWS} (the lab's travel set has 299). Add rows (one JSON object per line), "
                        "or pass --data with a bigger file.")
    problems += [f"{report.path}: {p.detail}" for p in report.warnings if p.key == TOO_SMALL]
    return problems


def require_valid(path, template: str = LAB_TEXT_TEMPLATE, count_tokens: Callable[[str], int] | None = None,
                  max_tokens: int = DEFAULT_MAX_TOKENS) -> None:
    """Fine-tuning's pre-flight: raise DataError (with the first few problems) when the dataset has errors, too few
    rows, or not enough text for one training sample (`training_problems`)."""
    report = inspect_dataset(path, template, count_tokens=count_tokens, max_tokens=max_tokens)
    problems = training_problems(report)
    if problems:
        raise DataError("\n".join(problems), report)


# ----------------------------------------------------------------------------------------------- held-out split

#: About this share of the distinct prompts is held out for evaluation; the seed makes the split the same everywhere.
HELDOUT_FRACTION = 0.1
SPLIT_SEED = 13
TRAIN_FILE, HELDOUT_FILE = "data/train.jsonl", "data/heldout.jsonl"


@dataclass(frozen=True)
class Split:
    """Which rows train and which are held out; `own_heldout` when the user gave the held-out set (--eval-data)."""

    train: list[Row]
    heldout: list[Row]
    train_path: Path
    heldout_path: Path
    own_heldout: bool = False

    def describe(self) -> str:
        """One line a person reads: how many rows train, how many are held out, and where they are."""
        total = len(self.train) + (0 if self.own_heldout else len(self.heldout))
        if self.own_heldout:
            return (f"all {len(self.train)} rows train ({self.train_path.name}); {len(self.heldout)} held-out rows "
                    f"from your --eval-data file ({self.heldout_path.name})")
        return (f"{len(self.train)} of {total} rows train ({self.train_path.name}), {len(self.heldout)} held out "
                f"for evaluation ({self.heldout_path.name}; seed {SPLIT_SEED}, no held-out prompt is trained on)")


def split_rows(rows: list[Row], fraction: float = HELDOUT_FRACTION, seed: int = SPLIT_SEED) -> tuple[list[Row], list[Row]]:
    """Deterministic train / held-out split by distinct prompt, in file order.

    Rows that share a prompt go to the same side, so the held-out loss measures questions the model never saw.
    At least one prompt is held out when there are two or more.
    """
    prompts = list(dict.fromkeys(r.prompt.strip() for r in rows))
    if len(prompts) < 2:
        return list(rows), []
    n_heldout = min(len(prompts) - 1, max(1, round(len(prompts) * fraction)))
    held = set(random.Random(seed).sample(prompts, n_heldout))
    return [r for r in rows if r.prompt.strip() not in held], [r for r in rows if r.prompt.strip() in held]


def train_path(lab) -> Path:
    """The rows fine-tuning trains on: `data/train.jsonl` in the work folder."""
    return lab.path(TRAIN_FILE)


def heldout_path(lab) -> Path:
    """The held-out rows evaluation scores: `data/heldout.jsonl` in the work folder (a copy of --eval-data if given)."""
    return lab.path(HELDOUT_FILE)


def plan_split(lab, report: DataReport | None = None) -> Split:
    """The split of the lab's dataset (read from `report` when given), without writing anything."""
    report = report or inspect_dataset(lab.dataset)
    eval_data = getattr(lab, "eval_data", None)
    if eval_data is not None:
        own = inspect_dataset(eval_data)
        if not own.ok:
            raise DataError(describe_errors(own).replace("in the dataset", "in the --eval-data file"), own)
        return Split(list(report.rows), list(own.rows), train_path(lab), heldout_path(lab), own_heldout=True)
    train, heldout = split_rows(report.rows)
    return Split(train, heldout, train_path(lab), heldout_path(lab))


def write_split(lab, report: DataReport | None = None) -> Split:
    """Write `data/train.jsonl` and `data/heldout.jsonl`; a file whose content is unchanged is left alone.

    Leaving unchanged files untouched keeps their modification time, so the fine-tune step's fingerprint (sizes
    and times of its inputs) does not change and an up-to-date adapter is not retrained.
    """
    split = plan_split(lab, report)
    for path, rows in ((split.train_path, split.train), (split.heldout_path, split.heldout)):
        text = "".join(json.dumps(dict(r.data), ensure_ascii=False) + "\n" for r in rows)
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        tmp = path.with_name(f".{path.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(path)
    return split


def read_heldout(lab) -> list[Row]:
    """The held-out rows the evaluate step scores (the split is written first if it is not there yet)."""
    if not heldout_path(lab).is_file():
        write_split(lab)
    return list(inspect_dataset(heldout_path(lab)).rows)


def prepare_training_data(lab) -> list[str]:
    """Fine-tuning's pre-flight: check the dataset with the model's template, then write the split.

    Returns the problems that stop fine-tuning (errors with line numbers), or [] once `data/train.jsonl` and
    `data/heldout.jsonl` are in place.
    """
    from .template import TemplateError as ModelTemplateError
    from .template import for_lab

    try:
        template = for_lab(lab).olive_format()
    except ModelTemplateError as exc:
        return [str(exc)]
    report = inspect_dataset(lab.dataset, template)
    problems = training_problems(report)
    if problems:
        return problems
    try:
        write_split(lab, report)
    except DataError as exc:
        return [str(exc)]
    return []
