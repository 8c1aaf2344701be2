"""`olive-lab eval`: what each step bought, measured on held-out questions (runs the evaluate step if needed)."""

from __future__ import annotations

import argparse

from olive_lab.cli import EXIT_BLOCKED, EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, add_lab_options


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("eval", help="evaluate every stage on held-out questions (loss, perplexity, speed, size)",
                       description="Runs the evaluate step when its report is missing or older than the models, "
                                   "then prints the report (also in reports/eval.json and reports/eval.md).")
    add_lab_options(p)
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout (progress on stderr)")
    p.add_argument("--force", action="store_true", help="evaluate again even if the report is up to date")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from rich.console import Console

    from olive_lab.commands.run import follow_run
    from olive_lab.steps import evaluate, pipeline, planner, runner

    console = Console(highlight=False, stderr=args.json)
    lab = pipeline.load_lab(args.workdir, args.profile, args.model, args.data)
    if runner.run_active(lab.workspace):
        console.print("[red]olive-lab eval: a run is active in this work folder; wait for it "
                      "(`olive-lab status --follow`), then evaluate.[/]")
        return EXIT_BLOCKED
    request = planner.plan_run(lab, ["evaluate"], args.force)
    if request.blocked:
        console.print(f"olive-lab eval: {request.blocked['evaluate']}", style="red", markup=False, soft_wrap=True)
        console.print("Run the lab first: olive-lab run")
        return EXIT_BLOCKED
    if request.steps:
        code = follow_run(console, runner.start(lab, list(request.steps), force=args.force), verbose=False)
        if code != EXIT_OK:
            return code if code == EXIT_CANCELLED else EXIT_FAILED
    report = evaluate.load_report(lab)
    if report is None:
        console.print(f"[red]olive-lab eval: {pipeline.verify(lab, 'evaluate')[0]}[/]")
        return EXIT_FAILED
    if args.json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        print_report(console, report)
        console.print(f"[dim]Full report: {lab.workspace.relative(evaluate.report_paths(lab)[1])}[/]")
    sys.stdout.flush()
    return EXIT_OK


def print_report(console, report: dict) -> None:
    """The stage table, its notes and the side-by-side answers, as the wizard's eval pane shows them."""
    from rich.table import Table
    from rich.text import Text

    from olive_lab.steps.evaluate import COLUMNS_LEGEND, STAGE_COLUMNS, one_line, stage_cells

    held = report["heldout"]
    table = Table(title=f"Evaluation · {held['rows_scored']} held-out rows · {report['seconds']['total_s']:.0f} s",
                  title_justify="left")
    for column in STAGE_COLUMNS:
        table.add_column(column, justify="left" if column == "stage" else "right")
    for stage in report["stages"]:
        table.add_row(*stage_cells(report, stage))
    console.print(table)
    console.print(Text(f"Held-out set: {held['source']}\n{COLUMNS_LEGEND}", style="dim"))
    for stage in report["stages"]:
        if stage.get("note"):
            console.print(Text(f"{stage['label']}: {stage['note']}", style="dim"))
    for answer in report["answers"][:2]:
        console.print(Text(f"\n{answer['prompt']}", style="bold"))
        console.print(Text("  adapter off: ", style="cyan") + Text(one_line(answer["adapter_off"], 300)))
        console.print(Text("  adapter on:  ", style="cyan") + Text(one_line(answer["adapter_on"], 300)))
