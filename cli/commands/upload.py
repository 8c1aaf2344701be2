"""`olive-lab upload`: register the optimized model in an Azure ML workspace, headless, with a byte progress bar.

Same work as the lab's `az ml model create --name ft-for-travel --version 1 --path models/phi/onnx-ao …`, done by
olive_lab.steps.upload. Exit codes: 0 registered (or already registered), 1 failed, 2 bad input (names, folder,
version taken), 3 blocked (not signed in, no permission), 130 cancelled.
"""

from __future__ import annotations

import argparse

FLAGS = {"subscription_id": "--subscription", "resource_group": "--resource-group", "workspace": "--workspace"}


def add_parser(sub) -> None:
    from olive_lab.cli import add_lab_options

    p = sub.add_parser(
        "upload", help="upload the optimized model to your Azure ML workspace and register it",
        description="Upload the optimized model (models/phi/onnx-ao) to the workspace's default datastore and "
                    "register it as a model asset. Values not given are taken from AZURE_SUBSCRIPTION_ID, "
                    "OLIVE_LAB_RESOURCE_GROUP, OLIVE_LAB_WORKSPACE, a workspace config.json (searched from the "
                    "work folder up), the compute instance, or `az configure --defaults`; the output says which. "
                    "Sign-in: `az login` first, or --device-code.")
    add_lab_options(p)
    p.add_argument("--resource-group", "-g", help="the workspace's resource group")
    p.add_argument("--workspace", "--workspace-name", help="the Azure ML workspace (project) name")
    p.add_argument("--subscription", help="subscription id (default: see above)")
    p.add_argument("--name", default="ft-for-travel", help="model name (default: ft-for-travel)")
    p.add_argument("--version", help="model version (default: the next free one)")
    p.add_argument("--folder", help="the optimized model folder (default: models/phi/onnx-ao in the work folder)")
    p.add_argument("--description", help="model description")
    p.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="an extra tag (repeatable)")
    p.add_argument("--device-code", action="store_true",
                   help="sign in with a code on another device instead of the Azure CLI login")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    import sys
    import threading
    import time
    from pathlib import Path

    from rich.console import Console
    from rich.markup import escape as esc
    from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn,
                               TransferSpeedColumn)

    from olive_lab.cli import EXIT_BLOCKED, EXIT_CANCELLED, EXIT_OK, EXIT_USAGE
    from olive_lab.steps import upload as up
    from olive_lab.steps.lab import Lab
    from olive_lab.steps.pipeline import saved_settings
    from olive_lab.steps.profiles import CPU, PROFILES
    from olive_lab.steps.azure_target import scrub
    from olive_lab.steps.units import fmt_bytes

    # soft_wrap: ids, paths and URLs stay whole lines, so they can be copied.
    out = Console(highlight=False, soft_wrap=True)
    err = Console(stderr=True, highlight=False, soft_wrap=True)
    workdir = getattr(args, "workdir", ".")
    saved = saved_settings(workdir)  # what the lab ran with here; no machine check, nothing written
    profile_name = getattr(args, "profile", None) or saved.get("profile")
    lab = Lab.create(workdir, PROFILES.get(profile_name or "", CPU),
                     model=getattr(args, "model", None) or saved.get("model"))
    workspace = lab.workspace
    folder = Path(args.folder).expanduser().resolve() if args.folder else lab.onnx_dir

    tags: dict[str, str] = up.lab_tags(workspace, profile=profile_name,
                                       base_model=lab.base_model if (profile_name or lab.model) else None)
    bad_tags = [t for t in args.tag if "=" not in t]
    if bad_tags:
        err.print(f"[red]Tags are KEY=VALUE; these are not: {esc(', '.join(bad_tags))}[/]")
        return EXIT_USAGE
    tags.update(dict(t.split("=", 1) for t in args.tag))

    target = up.resolve_target({"subscription_id": args.subscription, "resource_group": args.resource_group,
                                "workspace": args.workspace}, start=workspace.root)
    for key, label in (("subscription_id", "Subscription"), ("resource_group", "Resource group"),
                       ("workspace", "Workspace")):
        value = getattr(target, key)
        where = f"from {FLAGS[key]}" if value.source == up.EXPLICIT else f"from {value.describe()}"
        shown = esc(value.value) if value.value else "[yellow]not set[/]"
        out.print(f"{label:<15} {shown}  [dim]{esc(where) if value.value else ''}[/]")
    for note in target.notes:
        out.print(f"[yellow]{esc(note)}[/]")
    req = up.UploadRequest.for_target(target, name=args.name, version=args.version, folder=folder,
                                      description=args.description or up.DEFAULT_DESCRIPTION, tags=tags)
    out.print(f"{'Model':<15} {esc(req.name)}:{esc(req.version or '(next free version)')}")
    out.print(f"{'Folder':<15} {esc(workspace.relative(folder))}")

    problems = up.validate_request(req) + up.check_model_folder(folder)
    if problems:
        for problem in problems:
            err.print(f"[red]✗[/] {esc(problem)}")
        return EXIT_USAGE

    up.quiet_azure_logging()

    def show_code(url: str, code: str, expires_on) -> None:
        when = f" before {expires_on:%H:%M}" if expires_on else ""
        err.print(f"[bold]To sign in, open {esc(url)} and enter the code {esc(code)}{when}.[/]")

    interactive = sys.stdin is not None and sys.stdin.isatty()
    credential = up.make_credential(show_code if (args.device_code or interactive) else None,
                                    device_code_only=args.device_code)
    started_at = time.time()
    try:
        up.check_credential(credential)
    except up.AzureLoginError as exc:
        err.print(f"[red]✗ {esc(exc.message)}[/]\n  {esc(exc.advice)}")
        up.record_upload(workspace, req, error=exc, started_at=started_at)
        return EXIT_BLOCKED
    except KeyboardInterrupt:
        err.print("[yellow]Sign-in cancelled; nothing was uploaded.[/]")
        return EXIT_CANCELLED
    out.print(f"{'Signed in':<15} with {credential.source}")

    cancel = threading.Event()
    outcome: dict = {}
    progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                        TimeRemainingColumn(), TextColumn("[dim]{task.fields[file]}"), console=out)
    task = progress.add_task("Uploading", total=None, file="", visible=False)

    def on_progress(done: int, total: int, name: str) -> None:
        progress.update(task, completed=done, total=total, file=name, visible=True)

    def work() -> None:
        try:
            outcome["result"] = up.upload(req, credential, on_progress, cancel,
                                          on_status=lambda text: progress.console.print(f"[dim]{esc(text)}[/]"))
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            outcome["error"] = exc

    worker = threading.Thread(target=work, name="olive-lab-upload", daemon=True)
    with progress:
        worker.start()
        try:
            while worker.is_alive():
                worker.join(0.2)
        except KeyboardInterrupt:
            cancel.set()
            progress.console.print("[yellow]Cancelling after the current block…[/]")
            worker.join()
    credential.close()

    error = outcome.get("error")
    if error is not None:
        if not isinstance(error, up.AzureStepError):
            error = up.UploadError(f"The upload failed: {scrub(f'{type(error).__name__}: {error}')[:600]}")
        err.print(f"[red]✗ {esc(error.message)}[/]" + (f"\n  {esc(error.advice)}" if error.advice else ""))
        up.record_upload(workspace, req, error=error, started_at=started_at)
        return error.exit_code

    result: up.UploadResult = outcome["result"]
    up.record_upload(workspace, req, result=result, started_at=started_at)
    if result.already_registered:
        out.print(f"[green]✓[/] Already registered: {result.reference} has exactly these files; nothing was sent.")
    else:
        rate = result.uploaded_bytes / result.upload_seconds if result.upload_seconds else 0
        out.print(f"[green]✓[/] Registered {result.reference} in workspace {req.workspace}")
        out.print(f"  sent       {fmt_bytes(result.uploaded_bytes)} in {result.upload_seconds:.1f} s "
                  f"({fmt_bytes(rate)}/s); {result.skipped_files} of {result.files} files were already there")
    out.print(f"  asset id   {result.asset_id}")
    out.print(f"  studio     {result.studio_url}")
    return EXIT_OK
