"""What an upload is asked to do, checked before Azure is called: the request and its result, the naming rules
of Azure ML and ARM (one message per broken rule), the model folder's completeness, the studio address, and the
`az ml model create` command the lab's text shows. No Azure package is imported here at import time.
"""

from __future__ import annotations

import contextlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable
from urllib.parse import quote

from ..azure_target import AZURE_CLI, HOW_TO_SET, LABELS, Resolved, ResolvedTarget

DEFAULT_NAME = "ft-for-travel"
DEFAULT_DESCRIPTION = "Phi fine-tuned for travel with a LoRA adapter, optimized to int4 ONNX with Olive (Olive Lab)."

ProgressCallback = Callable[[int, int, str], None]

#: Model names: the ARM API's pattern for workspace asset containers.
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,254}")
#: Versions: no ARM pattern; they are one URL path segment and appear as `name:version`, so keep to these.
VERSION_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,254}")
#: Resource groups: ARM's rule (letters, digits, underscores, parentheses, hyphens, periods; not ending in '.').
RESOURCE_GROUP_RULE = re.compile(r"[-\w._()]{0,89}[-\w_()]")
#: Workspaces: 3-33 characters, letters, digits, '-' and '_', starting with a letter or digit.
WORKSPACE_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{2,32}")
SUBSCRIPTION_RULE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


@dataclass
class UploadRequest:
    """What to upload and where. `version` None takes the next free version."""

    subscription_id: str | None = None
    resource_group: str | None = None
    workspace: str | None = None
    name: str = DEFAULT_NAME
    version: str | None = None
    folder: Path = Path("models/phi/onnx-ao")
    description: str = DEFAULT_DESCRIPTION
    tags: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_target(cls, target: ResolvedTarget, **fields) -> UploadRequest:
        return cls(subscription_id=target.subscription_id.value, resource_group=target.resource_group.value,
                   workspace=target.workspace.value, **fields)

    @property
    def workspace_id(self) -> str:
        return (f"/subscriptions/{self.subscription_id}/resourceGroups/{self.resource_group}"
                f"/providers/Microsoft.MachineLearningServices/workspaces/{self.workspace}")


@dataclass(frozen=True)
class UploadResult:
    asset_id: str
    version: str
    studio_url: str
    path: str
    bytes: int
    seconds: float
    name: str = DEFAULT_NAME
    uploaded_bytes: int = 0
    upload_seconds: float = 0.0
    files: int = 0
    skipped_files: int = 0
    already_registered: bool = False
    content_sha256: str = ""

    @property
    def reference(self) -> str:
        return f"azureml:{self.name}:{self.version}"


def _bad_chars(value: str, allowed: str) -> str:
    bad = sorted({c for c in value if not re.fullmatch(allowed, c)})
    return " ".join(repr(c) for c in bad)


def validate_request(req: UploadRequest) -> list[str]:
    """Azure ML's rules for the model name and version and ARM's for the target; one message per broken rule."""
    problems: list[str] = []
    name = req.name or ""
    if not name.strip():
        problems.append(f"The model name is empty: give one (--name), e.g. {DEFAULT_NAME!r}.")
    elif not NAME_RULE.fullmatch(name):
        if len(name) > 255:
            problems.append(f"The model name is {len(name)} characters long; Azure ML allows at most 255: "
                            f"shorten it (--name).")
        elif not re.match(r"[A-Za-z0-9]", name):
            problems.append(f"The model name {name!r} starts with {name[0]!r}; Azure ML model names start with a "
                            f"letter or digit: e.g. {name.lstrip('-_.') or DEFAULT_NAME!r} (--name).")
        bad = _bad_chars(name, r"[A-Za-z0-9_-]")
        if bad:
            example = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_") or DEFAULT_NAME
            problems.append(f"The model name {name!r} has characters Azure ML does not allow in model names: {bad}. "
                            f"Use letters, digits, '-' and '_' only, e.g. {example!r} (--name).")
    if req.version is not None:
        version = str(req.version)
        if not version.strip():
            problems.append("The version is empty: give one such as 1 (--version), or leave it out to take the next "
                            "free version.")
        elif not VERSION_RULE.fullmatch(version):
            bad = _bad_chars(version, r"[A-Za-z0-9._-]")
            if bad:
                problems.append(f"The version {version!r} has characters that cannot be part of an Azure ML asset "
                                f"version: {bad}. Use a number such as 1 or 2 (--version), or leave it out to take "
                                f"the next free version.")
            elif len(version) > 255:
                problems.append(f"The version is {len(version)} characters long; at most 255 are allowed (--version).")
            else:
                problems.append(f"The version {version!r} must start with a letter or digit, e.g. 1 (--version).")
    for key, rule, what in (
        ("subscription_id", SUBSCRIPTION_RULE, "a subscription id is a GUID such as "
                                               "00000000-0000-0000-0000-000000000000 (see `az account list -o table`)"),
        ("resource_group", RESOURCE_GROUP_RULE, "resource group names have 1-90 letters, digits, '_', '-', '.', "
                                                "'(' or ')' and do not end in '.'"),
        ("workspace", WORKSPACE_RULE, "workspace names have 3-33 letters, digits, '-' or '_' and start with a "
                                      "letter or digit (see `az ml workspace list -o table`)"),
    ):
        value = getattr(req, key)
        label = key.replace("_id", "").replace("_", " ")
        if not value:
            problems.append(f"The {label} is not set: {HOW_TO_SET[key]}.")
        elif not rule.fullmatch(value):
            problems.append(f"The {label} {value!r} is not a valid name: {what}.")
    for key, value in (req.tags or {}).items():
        if not str(key).strip():
            problems.append("A tag has an empty key: every tag needs a name (KEY=VALUE).")
        elif not isinstance(value, str):
            problems.append(f"The tag {key!r} must have a text value, not {type(value).__name__}.")
    return problems


def check_model_folder(folder: str | os.PathLike) -> list[str]:
    """What is missing from the optimized model folder (empty when it looks complete)."""
    folder = Path(folder)
    fix = ("run the optimize step first (`olive-lab run`), or give the folder that `olive auto-opt` wrote "
           "(--folder)")
    if not folder.exists():
        return [f"The model folder {folder} does not exist: {fix}."]
    if not folder.is_dir():
        return [f"{folder} is a file, not a folder: give the folder that holds the optimized model (--folder)."]
    names = [p for p in folder.rglob("*") if p.is_file()]
    if not names:
        return [f"The model folder {folder} is empty: {fix}."]
    from ..optimize import GENAI_FILES  # what the optimize step must leave: the same list it verifies

    return [f"The model folder {folder} has no {what} ({pattern}): {fix}."
            for pattern, what in GENAI_FILES.items() if not any(p.match(pattern) for p in names)]


def studio_url(req: UploadRequest, version: str) -> str:
    base = "https://ml.azure.com"
    with contextlib.suppress(Exception):
        from azure.ai.ml._azure_environments import _get_aml_resource_id_from_metadata

        base = _get_aml_resource_id_from_metadata() or base
    wsid = (f"/subscriptions/{req.subscription_id}/resourcegroups/{req.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{req.workspace}")
    return f"{base.rstrip('/')}/model/{quote(req.name)}:{quote(version)}/details?wsid={wsid}"


def az_model_create(target: ResolvedTarget, folder: str, name: str = DEFAULT_NAME, version: str = "1",
                    ) -> tuple[list[str], list[str]]:
    """The lab's `az ml model create` argv with the values resolved here, and one note per value not found
    (its place in the argv holds a <placeholder>). The subscription is given only when it is not the CLI's own."""
    argv = ["az", "ml", "model", "create", "--name", name, "--version", version, "--path", folder]
    notes = []
    for key, flag in (("resource_group", "-g"), ("workspace", "-w"), ("subscription_id", "--subscription")):
        value: Resolved = getattr(target, key)
        if value.value is None:
            notes.append(f"The {LABELS[key]} is not set: {HOW_TO_SET[key]}.")
            argv += [flag, f"<{LABELS[key].replace(' ', '-')}>"]
        elif not (key == "subscription_id" and value.source == AZURE_CLI):
            argv += [flag, value.value]
    return argv, notes
