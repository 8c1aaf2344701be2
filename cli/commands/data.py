"""`olive-lab data [FILE]`: check a JSONL dataset and show what fine-tuning will see.

Exit codes: 0 no errors (warnings allowed), 1 errors, 2 the file is missing (or the arguments are wrong).
"""

from __future__ import annotations

import argparse

EXIT_OK, EXIT_ERRORS, EXIT_MISSING = 0, 1, 2


def add_parser(sub) -> argparse.ArgumentParser:
    from ..cli import add_lab_options

    p = sub.add_parser(
        "data", help="check a JSONL dataset: problems by line, statistics, samples, the template",
        description="Check a JSONL dataset the way fine-tuning will read it: every problem with its line number, "
                    "statistics, a few samples, the text template rendered on one, and the train / held-out split "
                    "(written to data/train.jsonl and data/heldout.jsonl in --workdir). Exit code 0: no errors; "
                    "1: errors; 2: file missing.")
    p.add_argument("file", nargs="?", metavar="FILE",
                   help="the .jsonl file (default: --data, else data/data_sample_travel.jsonl in --workdir, "
                        "else the travel set shipped with olive-lab)")
    p.add_argument("--samples", "-n", type=int, default=3, metavar="N", help="rows to show (default: 3)")
    p.add_argument("--seed", type=int, default=None, help="pick the samples at random with this seed "
                   "(default: spread evenly over the file)")
    p.add_argument("--template", "-t", default=None, metavar="T",
                   help="the text template, with {field} placeholders (default: the base model's: the lab's Phi-3 "
                        "chat template for Phi-3 models, else the model's own chat template)")
    p.add_argument("--max-tokens", type=int, default=None, metavar="N",
                   help="flag samples longer than this (default: 1024, Olive's --max_seq_len)")
    p.add_argument("--all", action="store_true", help="list every problem (default: the first 20)")
    p.add_argument("--json", action="store_true", help="print a machine-readable report instead")
    add_lab_options(p)
    p.set_defaults(run=run)
    return p


def resolve_lab(args):
    """The lab in --workdir (its remembered profile and model, without changing them), with FILE or --data."""
    from ..steps.lab import Lab
    from ..steps.pipeline import saved_settings
    from ..steps.profiles import PROFILES

    workdir = getattr(args, "workdir", None) or "."
    saved = saved_settings(workdir)
    profile = getattr(args, "profile", None) or saved.get("profile") or "cpu"
    model = getattr(args, "model", None) or (saved.get("model") if profile == saved.get("profile") else None)
    given = getattr(args, "file", None) or getattr(args, "data", None)
    eval_data = getattr(args, "eval_data", None) or saved.get("eval_data")
    return Lab.create(workdir, PROFILES[profile], given, model=model, eval_data=eval_data)


def resolve_dataset(args) -> str:
    """FILE, else --data, else the lab's default (data/data_sample_travel.jsonl in --workdir, else bundled)."""
    return str(resolve_lab(args).dataset)


def model_template(lab) -> tuple[str, str]:
    """The text template fine-tuning will use for the lab's model (str.format form) and where it comes from."""
    from ..steps.finetune import text_template
    from ..steps.profiles import LAB_TEXT_TEMPLATE
    from ..steps.template import TemplateError, for_lab

    try:
        return text_template(lab), for_lab(lab).source
    except TemplateError as exc:
        return LAB_TEXT_TEMPLATE, f"the lab's Phi-3 template for now: {exc}"


def run(args) -> int:
    import json

    from ..steps.data import DEFAULT_MAX_TOKENS, DataError, plan_split, render_template, samples, write_split
    from ..steps.data import TemplateError, inspect_dataset
    from ..steps.workspace import STATE_DIR

    file, data = getattr(args, "file", None), getattr(args, "data", None)
    if file and data and file != data:
        import sys

        print(f"olive-lab data: give the dataset once (FILE {file!r} and --data {data!r} differ).", file=sys.stderr)
        return EXIT_MISSING
    lab = resolve_lab(args)
    template, source = (args.template, "--template") if args.template is not None else model_template(lab)
    max_tokens = DEFAULT_MAX_TOKENS if args.max_tokens is None else args.max_tokens
    report = inspect_dataset(lab.dataset, template=template, max_tokens=max_tokens)
    picked = samples(report, max(args.samples, 0), seed=args.seed)
    rendered = None
    if picked:
        try:
            rendered = render_template(template, picked[0])
        except TemplateError:
            rendered = None
    code = EXIT_MISSING if report.missing else EXIT_OK if report.ok else EXIT_ERRORS
    split, split_error, written = None, "", False
    if report.ok:
        written = (lab.workspace.root / STATE_DIR).is_dir()  # a lab folder; elsewhere nothing is written
        try:
            split = write_split(lab, report) if written else plan_split(lab, report)
        except DataError as exc:
            split_error, code = str(exc), EXIT_ERRORS

    if args.json:
        out = report.to_dict()
        out["exit_code"] = code
        out["template_source"] = source
        out["samples"] = [{"line": r.line, "prompt": r.prompt, "response": r.response} for r in picked]
        out["rendered"] = {"line": picked[0].line, "text": rendered} if rendered is not None else None
        out["split"] = None if split is None else {
            "train_rows": len(split.train), "heldout_rows": len(split.heldout), "train": str(split.train_path),
            "heldout": str(split.heldout_path), "own_heldout": split.own_heldout, "summary": split.describe(),
            "written": written}
        out["split_error"] = split_error or None
        print(json.dumps(out, ensure_ascii=False, indent=2))
        return code

    from rich.console import Console

    console = Console(highlight=False)
    _show(console, report, picked, rendered, show_all=args.all, source=source)
    if split is not None:
        console.print(f"Split: {split.describe()}", markup=False)
        when = "written" if written else "written there when fine-tuning starts in this work folder"
        console.print(f"  train    {lab.workspace.relative(split.train_path)}\n"
                      f"  held out {lab.workspace.relative(split.heldout_path)}\n  ({when})", markup=False)
    elif split_error:
        console.print(split_error, markup=False, style="red")
    return code


#: The most of one dataset text shown on screen (`--json` has it all).
SHOWN_CHARS = 2000


def shown(text: str) -> str:
    """Dataset text as it is safe to print: control characters made visible, a huge row cut short."""
    from ..steps.safe_text import clip, visible

    return visible(clip(text, SHOWN_CHARS))


def _short(problem) -> str:
    """The message without its leading 'line N: ' (the table has a line column)."""
    msg = problem.detail
    if problem.line is not None:
        for lead in (f"line {problem.line}: ", f"line {problem.line}, "):
            if msg.startswith(lead):
                rest = msg[len(lead):]
                return rest[:1].upper() + rest[1:]
    return msg


def _show(console, report, picked, rendered, *, show_all: bool, source: str = "") -> None:
    from rich import box
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    from ..steps.data import ERROR
    from ..steps.data import training_problems

    console.print(Text.assemble(("Dataset ", "bold"), (shown(str(report.path)), "cyan")))
    if report.missing or (report.errors and not report.stats.rows):
        for p in report.errors:
            console.print(Text.assemble(("✗ ", "bold red"), shown(p.detail)))
        return

    s = report.stats
    est = " (estimate: chars / 4)" if s.tokens_estimated else ""
    stats = Table(title="Statistics", box=box.SIMPLE_HEAD, title_justify="left", show_header=True)
    stats.add_column("")
    stats.add_column("value", justify="right")
    stats.add_column("min / median / max", justify="right")
    stats.add_row("rows", f"{s.rows}", "")
    stats.add_row("valid rows", f"{s.valid_rows}", "")
    if s.blank_lines:
        stats.add_row("blank lines (skipped)", f"{s.blank_lines}", "")
    stats.add_row("distinct prompts", f"{s.distinct_prompts}", "")
    if s.duplicate_rows:
        stats.add_row("duplicate rows", f"{s.duplicate_rows}", "")
    stats.add_row("rows with non-ASCII text", f"{s.non_ascii_rows}", "")
    stats.add_row("prompt words", "", str(s.prompt_words))
    stats.add_row("prompt characters", "", str(s.prompt_chars))
    stats.add_row("response words", "", str(s.response_words))
    stats.add_row("response characters", "", str(s.response_chars))
    stats.add_row(f"tokens per sample{est}", "", str(s.sample_tokens))
    stats.add_row(f"tokens in all{est}", f"{s.total_tokens}", "")
    console.print(stats)

    problems = report.errors + report.warnings
    if problems:
        counts = ", ".join(f"{kind} {n}" for kind, n in report.problem_counts().items())
        limit = len(problems) if show_all else 20
        table = Table(title=f"Problems ({counts})", box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column("line", justify="right", no_wrap=True)
        table.add_column("severity", no_wrap=True)
        table.add_column("message", overflow="fold")
        for p in problems[:limit]:
            style = "red" if p.severity == ERROR else "yellow"
            table.add_row("-" if p.line is None else str(p.line), Text(p.severity, style=style),
                          Text(shown(_short(p))))
        console.print(table)
        if len(problems) > limit:
            console.print(f"... and {len(problems) - limit} more: --all lists them all, --json gives them to scripts.")

    if picked:
        table = Table(title=f"Samples ({len(picked)} of {s.valid_rows})", box=box.SIMPLE_HEAD, title_justify="left")
        table.add_column("line", justify="right", no_wrap=True)
        table.add_column("prompt", ratio=1, overflow="fold")
        table.add_column("response", ratio=2, overflow="fold")
        for r in picked:
            table.add_row(str(r.line), Text(shown(r.prompt)), Text(shown(r.response)))
        console.print(table)
    if rendered is not None:
        console.print(Panel(Text(shown(rendered)), title=f"Text template on line {picked[0].line} (what the model trains on)",
                            subtitle=source or None, title_align="left", subtitle_align="left", border_style="dim"))

    blocking = training_problems(report) if report.ok else []
    if blocking:
        console.print(Text.assemble(("✗ ", "bold red"), "Fine-tuning refuses this file (`olive-lab run` stops before "
                                    "it starts): ", shown(" ".join(blocking))))
    elif report.ok:
        extra = f" ({len(report.warnings)} warning{'s' * (len(report.warnings) != 1)})" if report.warnings else ""
        console.print(Text.assemble(("✓ ", "bold green"), f"{s.valid_rows} rows ready for fine-tuning{extra}."))
    else:
        n = len(report.errors)
        them = "it" if n == 1 else "them"
        console.print(Text.assemble(("✗ ", "bold red"), f"{n} error{'s' * (n != 1)}: fix {them} before "
                                    "fine-tuning (fine-tuning refuses this file)."))
