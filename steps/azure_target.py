"""Where an upload goes: the Azure subscription, resource group and Azure ML workspace, and where each came from.

Standard library only, so the wizard can show the resolved values the moment its upload screen opens.

Each value is looked up on its own; the first source that has it wins:

1. explicit: a command-line flag or a field in the wizard's form;
2. environment: AZURE_SUBSCRIPTION_ID, OLIVE_LAB_RESOURCE_GROUP, OLIVE_LAB_WORKSPACE;
3. a workspace config.json, found by the same rules as azure-ai-ml's ``MLClient.from_config``: from the start
   folder up to 20 parents, first ``.azureml/``, then ``aml_config/``, then the folder itself, for ``config.json``
   then ``project.json``; either ``{"subscription_id", "resource_group", "workspace_name"}`` or ``{"Scope": <ARM id>}``;
4. an Azure ML compute instance's CI_RESOURCE_GROUP and CI_WORKSPACE;
5. the Azure CLI: ``az configure --defaults group=… workspace=…`` in ``$AZURE_CONFIG_DIR/config`` (default
   ``~/.azure``) and the default subscription in ``azureProfile.json`` (written with a BOM: read as utf-8-sig).
"""

from __future__ import annotations

import configparser
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from .redact import ScrubFilter, remember_secret, scrub  # noqa: F401 - callers import them from here too

EXPLICIT, ENVIRONMENT, CONFIG_FILE, COMPUTE_INSTANCE, AZURE_CLI = (
    "explicit", "environment", "config.json", "compute instance", "Azure CLI")

KEYS = ("subscription_id", "resource_group", "workspace")

ENV_VARS = {"subscription_id": "AZURE_SUBSCRIPTION_ID",
            "resource_group": "OLIVE_LAB_RESOURCE_GROUP",
            "workspace": "OLIVE_LAB_WORKSPACE"}
COMPUTE_VARS = {"resource_group": "CI_RESOURCE_GROUP", "workspace": "CI_WORKSPACE"}

#: What a person can do to set each value, for messages when one is missing.
HOW_TO_SET = {
    "subscription_id": "pass --subscription, set AZURE_SUBSCRIPTION_ID, or pick a default with "
                       "`az account set --subscription <name or id>`",
    "resource_group": "pass --resource-group, set OLIVE_LAB_RESOURCE_GROUP, or run "
                      "`az configure --defaults group=<resource group>`",
    "workspace": "pass --workspace, set OLIVE_LAB_WORKSPACE, or run `az configure --defaults workspace=<workspace>`",
}
LABELS = {"subscription_id": "subscription", "resource_group": "resource group", "workspace": "workspace"}

CONFIG_DIRS = (".azureml", "aml_config", None)
CONFIG_FILES = ("config.json", "project.json")
CONFIG_LEVELS = 20


class AzureStepError(Exception):
    """A failure of the upload step with a message a person can act on.

    `message` says what happened (never a secret), `advice` how to fix it, `exit_code` what `olive-lab upload`
    returns: 1 failed, 2 bad input, 3 blocked (not signed in, no permission), 130 cancelled.
    """

    exit_code = 1

    def __init__(self, message: str, advice: str = "", *, exit_code: int | None = None):
        super().__init__(message)
        self.message = message
        self.advice = advice
        if exit_code is not None:
            self.exit_code = exit_code

    def __str__(self) -> str:
        return f"{self.message}\n{self.advice}" if self.advice else self.message


#: Loggers that can carry request URLs or bodies (checked: urllib3 logs the full URL at DEBUG).
SECRET_LOGGERS = ("urllib3.connectionpool", "azure.core.pipeline.policies.http_logging_policy",
                  "azure.storage.blob._shared.policies", "azure.identity", "msal")


def scrub_logs() -> None:
    """Attach ScrubFilter to the loggers that could print a secret (idempotent)."""
    for name in SECRET_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, ScrubFilter) for f in logger.filters):
            logger.addFilter(ScrubFilter())


@dataclass(frozen=True)
class Resolved:
    """One value and where it came from: `source` is one of the constants above, `detail` names the variable,
    file or flag."""

    value: str | None
    source: str | None = None
    detail: str = ""

    def describe(self) -> str:
        if self.value is None:
            return "not set"
        return f"{self.source} ({self.detail})" if self.detail else str(self.source)


@dataclass(frozen=True)
class ResolvedTarget:
    subscription_id: Resolved
    resource_group: Resolved
    workspace: Resolved
    notes: tuple[str, ...] = field(default=())

    def values(self) -> dict[str, str | None]:
        return {k: getattr(self, k).value for k in KEYS}

    def missing(self) -> list[str]:
        return [k for k in KEYS if getattr(self, k).value is None]

    def problems(self) -> list[str]:
        """One message per missing value, with how to set it."""
        return [f"The {LABELS[k]} is not set: {HOW_TO_SET[k]}." for k in self.missing()]


def find_workspace_config(start: str | os.PathLike | None = None) -> Path | None:
    """The config.json that ``MLClient.from_config(path=start)`` would read, or None."""
    start = Path(start if start is not None else ".").expanduser()
    if start.is_file():
        return start
    start = start.resolve()
    for directory in CONFIG_DIRS:
        for name in CONFIG_FILES:
            relative = Path(directory, name) if directory else Path(name)
            current = start
            for _ in range(CONFIG_LEVELS + 1):
                candidate = current / relative
                if candidate.is_file():
                    return candidate
                if current.parent == current:
                    break
                current = current.parent
    return None


def read_workspace_config(path: Path) -> dict[str, str]:
    """subscription_id, resource_group and workspace from a workspace config file (either format)."""
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    scope = data.get("Scope")
    if scope:
        pieces = scope.split("/")
        if len(pieces) < 9:
            raise ValueError(f'"Scope" is not a workspace id: {scope!r}')
        return {"subscription_id": pieces[2], "resource_group": pieces[4], "workspace": pieces[8]}
    missing = [k for k in ("subscription_id", "resource_group", "workspace_name") if not data.get(k)]
    if missing:
        raise ValueError(f"it lacks {', '.join(missing)}")
    return {"subscription_id": data["subscription_id"], "resource_group": data["resource_group"],
            "workspace": data["workspace_name"]}


def azure_config_dir(env: dict[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get("AZURE_CONFIG_DIR") or Path.home() / ".azure").expanduser()


def azure_cli_defaults(config_dir: Path) -> dict[str, tuple[str, str]]:
    """The Azure CLI's defaults: key -> (value, where it is written)."""
    found: dict[str, tuple[str, str]] = {}
    profile = config_dir / "azureProfile.json"
    try:
        subs = json.loads(profile.read_text(encoding="utf-8-sig")).get("subscriptions", [])
        default = next((s for s in subs if s.get("isDefault")), None)
        if default and default.get("id"):
            found["subscription_id"] = (default["id"], f"{profile}, default subscription {default.get('name', '')!r}")
    except (OSError, ValueError, AttributeError):
        pass
    parser = configparser.ConfigParser(interpolation=None)
    config = config_dir / "config"
    try:
        parser.read(config, encoding="utf-8-sig")
    except (configparser.Error, UnicodeDecodeError):
        return found
    if parser.has_section("defaults"):
        for key, option in (("resource_group", "group"), ("workspace", "workspace")):
            value = parser.get("defaults", option, fallback="").strip()
            if value:
                found[key] = (value, f"{config} [defaults] {option}")
    return found


def resolve_target(explicit: dict | None = None, *, start: str | os.PathLike | None = None,
                   env: dict[str, str] | None = None) -> ResolvedTarget:
    """Resolve subscription, resource group and workspace; see the module's docstring for the order.

    `explicit` maps any of KEYS to a value (empty or None means "not given"); `start` is where the config.json
    search begins (default: the current folder, as the SDK does).
    """
    explicit = explicit or {}
    env = os.environ if env is None else env
    notes: list[str] = []
    sources: list[tuple[str, dict[str, tuple[str, str]]]] = [
        (EXPLICIT, {k: (str(v).strip(), k) for k, v in explicit.items() if k in KEYS and v and str(v).strip()}),
        (ENVIRONMENT, {k: (env[v].strip(), v) for k, v in ENV_VARS.items() if env.get(v, "").strip()}),
    ]
    config_path = find_workspace_config(start)
    if config_path is not None:
        try:
            sources.append((CONFIG_FILE, {k: (v, str(config_path))
                                          for k, v in read_workspace_config(config_path).items()}))
        except (OSError, ValueError) as exc:
            notes.append(f"Ignored {config_path}: {exc}.")
    sources.append((COMPUTE_INSTANCE, {k: (env[v].strip(), v) for k, v in COMPUTE_VARS.items()
                                       if env.get(v, "").strip()}))
    sources.append((AZURE_CLI, azure_cli_defaults(azure_config_dir(env))))

    def first(key: str) -> Resolved:
        for source, values in sources:
            if key in values:
                value, detail = values[key]
                return Resolved(value, source, detail)
        return Resolved(None)

    return ResolvedTarget(*(first(k) for k in KEYS), notes=tuple(notes))
