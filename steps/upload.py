"""The lab's last step: upload the optimized model to the Azure ML workspace and register it as a model asset.

The equivalent of `az ml model create --name ft-for-travel --version 1 --path models/phi/onnx-ao -g RG -w WS`,
done so that a front end can show byte-level progress and cancel it (option B of
shared/docs/azure-offline-testing.md, public APIs only):

1. `ml.datastores.get_default(include_secrets=True)`: the workspace's blob container and a short-lived SAS;
2. hash the folder: the blobs go under a content-addressed prefix, `olive-lab/<sha256>/<folder name>/…`, so a
   rerun finds the same place, skips the files already there (each blob carries its own sha256 in its metadata,
   set in the same request that commits it), and never mixes two versions of the model;
3. check the version (`ml.models.get` / `ml.models.list`) before uploading anything: a version that exists with
   other files is refused with the next free one, the same files already registered are reported as such;
4. upload each file with azure-storage-blob (`progress_hook`, 4 MiB blocks, the SDK's retry policy), fetching a
   new SAS once if storage says the old one expired;
5. only then register `Model(path="azureml://datastores/<ds>/paths/<prefix>")`: the SDK uploads nothing for such a
   path, and a run that stopped anywhere before leaves no registration behind.

Nothing here prints; no token, SAS or key is kept beyond the call, logged (see `scrub_logs`) or put in a message.
Azure packages are imported inside functions: the wizard must start fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import quote

from .azure_auth import AzureLoginError, check_credential, login_error, make_credential
from .azure_target import (AZURE_CLI, EXPLICIT, HOW_TO_SET, LABELS, AzureStepError, Resolved, ResolvedTarget,
                           remember_secret, resolve_target, scrub, scrub_logs)

__all__ = [
    "UploadRequest", "UploadResult", "upload", "validate_request", "check_model_folder", "resolve_target",
    "ResolvedTarget", "Resolved", "make_credential", "check_credential", "AzureLoginError", "AzureStepError",
    "UploadError", "InvalidRequest", "PermissionDenied", "TargetNotFound", "VersionExistsError", "StorageAccessError",
    "NetworkError", "UploadCancelled", "record_upload", "studio_url", "lab_tags", "quiet_azure_logging", "EXPLICIT",
]

DEFAULT_NAME = "ft-for-travel"
DEFAULT_DESCRIPTION = "Phi fine-tuned for travel with a LoRA adapter, optimized to int4 ONNX with Olive (Olive Lab)."
PREFIX_ROOT = "olive-lab"
CONTENT_TAG = "olive-lab.content-sha256"
MODEL_TYPE = "custom_model"

#: Block size and the largest file sent in one request: progress and cancel move in steps of this size.
BLOCK_SIZE = 4 * 1024 * 1024
MAX_SINGLE_PUT = 8 * 1024 * 1024
#: Parallel block uploads per file (the files go one after another, so progress reads as one stream). Measured
#: with bench/upload_azurite.py on 2 cores (1 GB to Azurite): 4 -> ~130 MB/s, 8 -> ~90, 16 -> ~60 (client and
#: Azurite share the CPU there); against the real service more may help, which is unmeasured.
MAX_CONCURRENCY = 4

#: azure-ai-ml's own storage retries (initial 15 s, then +3^n s, 3 retries), so we retry as `az ml` would.
SDK_STORAGE_RETRY = {"initial_backoff": 15, "increment_base": 3, "retry_total": 3}

ROLE = "AzureML Data Scientist"
STORAGE_ROLE = "Storage Blob Data Contributor"

ProgressCallback = Callable[[int, int, str], None]

# --- naming rules -------------------------------------------------------------------------------------------

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


class UploadError(AzureStepError):
    """The upload or the registration failed (exit 1)."""


class InvalidRequest(AzureStepError):
    """Bad names, a missing value or an incomplete folder, found before calling Azure (exit 2)."""

    exit_code = 2


class TargetNotFound(AzureStepError):
    exit_code = 2


class PermissionDenied(AzureStepError):
    """Azure said 403; `message` names the role that is missing (exit 3)."""

    exit_code = 3


class StorageAccessError(UploadError):
    """The storage account refused the datastore's credential (an expired SAS, a missing role)."""


class NetworkError(UploadError):
    """The connection dropped and the SDK's retries did not bring it back."""


class UploadCancelled(AzureStepError):
    exit_code = 130


class VersionExistsError(AzureStepError):
    """The version is taken by other files; `next_free` is the version to offer instead (exit 2)."""

    exit_code = 2

    def __init__(self, name: str, version: str, next_free: str):
        super().__init__(
            f"Version {version} of model {name!r} already exists in the workspace with other files.",
            f"Use the next free version, {next_free} (--version {next_free}, or leave the version empty), "
            f"or another model name.")
        self.name, self.version, self.next_free = name, version, next_free


# --- checks before calling Azure ------------------------------------------------------------------------------

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
    from .optimize import GENAI_FILES  # what the optimize step must leave: the same list it verifies

    return [f"The model folder {folder} has no {what} ({pattern}): {fix}."
            for pattern, what in GENAI_FILES.items() if not any(p.match(pattern) for p in names)]


# --- the folder's content -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _File:
    path: Path
    rel: str
    size: int
    sha256: str


def _hash_folder(folder: Path, cancel: threading.Event) -> tuple[list[_File], str]:
    """Every file under `folder` (sorted) with its sha256, and the folder's digest over names, sizes and hashes."""
    paths = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())
    files: list[_File] = []
    manifest = hashlib.sha256()
    for path in paths:
        if cancel.is_set():
            raise UploadCancelled("Upload cancelled before anything was sent; nothing was registered.")
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        rel = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        files.append(_File(path, rel, size, digest))
        manifest.update(f"{rel}\0{size}\0{digest}\n".encode())
    return files, manifest.hexdigest()


def _datastore_path(uri: str | None) -> tuple[str, str] | None:
    """(datastore, path) of an azureml:// model path, short or long form."""
    if not uri:
        return None
    m = re.search(r"datastores/([^/]+)/paths/(.+?)/?$", uri)
    return (m.group(1).lower(), m.group(2)) if m else None


def studio_url(req: UploadRequest, version: str) -> str:
    base = "https://ml.azure.com"
    with contextlib.suppress(Exception):
        from azure.ai.ml._azure_environments import _get_aml_resource_id_from_metadata

        base = _get_aml_resource_id_from_metadata() or base
    wsid = (f"/subscriptions/{req.subscription_id}/resourcegroups/{req.resource_group}"
            f"/providers/Microsoft.MachineLearningServices/workspaces/{req.workspace}")
    return f"{base.rstrip('/')}/model/{quote(req.name)}:{quote(version)}/details?wsid={wsid}"


# --- mapping Azure's errors to messages -----------------------------------------------------------------------

def _status(exc) -> int | None:
    return getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)


def _error_code(exc) -> str:
    code = getattr(exc, "error_code", None) or getattr(getattr(exc, "error", None), "code", None)
    if not code:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        code = headers.get("x-ms-error-code", "")
    return str(getattr(code, "value", code) or "")


def _service_message(exc) -> str:
    message = getattr(getattr(exc, "error", None), "message", None) or getattr(exc, "message", None) or str(exc)
    return scrub(" ".join(str(message).split()))[:600]


def _request_url(exc) -> str:
    request = getattr(getattr(exc, "response", None), "request", None)
    return str(getattr(request, "url", "") or "")


def _permission_error(req: UploadRequest, exc, doing: str) -> PermissionDenied:
    message = _service_message(exc)
    action = re.search(r"action '([^']+)'", message)
    needs = f" (it needs {action.group(1)})" if action else ""
    return PermissionDenied(
        f"Azure refused {doing} in workspace {req.workspace!r}: your account has no role that allows it{needs}.",
        f'Ask an owner of the workspace to give your account the "{ROLE}" role on it (Contributor also works): '
        f'az role assignment create --role "{ROLE}" --assignee <your sign-in name> --scope {req.workspace_id}')


@contextlib.contextmanager
def _arm_errors(req: UploadRequest, credential, doing: str) -> Iterator[None]:
    """Turn what azure-ai-ml raises while `doing` something into an AzureStepError with the fix."""
    from azure.core.exceptions import (ClientAuthenticationError, HttpResponseError, ResourceNotFoundError,
                                       ServiceRequestError, ServiceResponseError)

    try:
        yield
    except AzureStepError:
        raise
    except ResourceNotFoundError as exc:
        raise TargetNotFound(
            f"Azure found no workspace {req.workspace!r} in resource group {req.resource_group!r} of subscription "
            f"{req.subscription_id} ({_service_message(exc)}).",
            "Check the names with `az ml workspace list -o table` (and `az account show` for the subscription), "
            "then pass --resource-group/--workspace/--subscription.") from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise NetworkError(f"Could not reach Azure while {doing}: {scrub(str(exc))[:400]}",
                           "Check the network connection (and any proxy), then run the upload again.") from None
    except HttpResponseError as exc:
        status = _status(exc)
        if "listsecrets" in _request_url(exc).lower():
            doing = "getting the storage credentials of the workspace's default datastore (listSecrets)"
        if status == 403:
            raise _permission_error(req, exc, doing) from None
        if status == 401:
            raise AzureLoginError(
                f"Azure did not accept the sign-in while {doing} (401: {_service_message(exc)}).",
                "Sign in to the tenant that holds the subscription: `az login --use-device-code --tenant <tenant "
                "id>` (or set AZURE_TENANT_ID with --device-code), then try again.") from None
        raise UploadError(f"Azure ML answered {status} {_error_code(exc)} while {doing}: {_service_message(exc)}",
                          "Run the upload again; if it keeps failing, the message above is the service's reason.") \
            from None
    except ClientAuthenticationError:
        raise login_error(getattr(credential, "attempts", None) or [("credential", "no token")]) from None
    except Exception as exc:  # noqa: BLE001 - azure-ai-ml's own exceptions (validation, schema) end up here
        raise UploadError(f"Azure ML failed while {doing}: {scrub(str(exc))[:600]}") from None


# --- storage --------------------------------------------------------------------------------------------------

class _Cancel(Exception):
    pass


class _Storage:
    """The default datastore's container, with the credential the datastore gives (SAS, key, or your identity)."""

    def __init__(self, ml, req: UploadRequest, credential, retry):
        self.ml, self.req, self.credential, self.retry = ml, req, credential, retry
        self.refreshes = 0
        self._connect()

    def _connect(self) -> None:
        from azure.ai.ml.entities import AzureBlobDatastore
        from azure.storage.blob import ContainerClient

        with _arm_errors(self.req, self.credential, "reading the workspace's default datastore"):
            ds = self.ml.datastores.get_default(include_secrets=True)
        if not isinstance(ds, AzureBlobDatastore):
            raise UploadError(f"The workspace's default datastore {ds.name!r} is a {type(ds).__name__}, not a blob "
                              "container; Olive Lab uploads to blob datastores only.",
                              "Set a blob datastore as the workspace default in Azure ML studio (Data > Datastores).")
        creds = ds.credentials
        sas = getattr(creds, "sas_token", None)
        key = getattr(creds, "account_key", None)
        remember_secret(sas)
        remember_secret(key)
        self.sas = sas
        if sas:
            storage_credential, self.identity = sas, False
        elif key:
            storage_credential, self.identity = {"account_name": ds.account_name, "account_key": key}, False
        else:
            storage_credential, self.identity = self.credential, True
        self.datastore, self.account, self.container_name = ds.name, ds.account_name, ds.container_name
        self.account_url = f"{ds.protocol or 'https'}://{ds.account_name}.blob.{ds.endpoint}"
        self.client = ContainerClient(self.account_url, ds.container_name, credential=storage_credential,
                                      retry_policy=self.retry, max_single_put_size=MAX_SINGLE_PUT,
                                      max_block_size=BLOCK_SIZE)

    def refresh(self) -> None:
        """A new SAS from the workspace (they last about an hour)."""
        self.refreshes += 1
        self.client.close()
        self._connect()

    def existing(self, prefix: str) -> dict[str, tuple[int, str]]:
        """Blobs already under `prefix` that were committed with their sha256: name -> (size, sha256)."""
        found = {}
        for blob in self.client.list_blobs(name_starts_with=prefix + "/", include=["metadata"]):
            sha = (blob.metadata or {}).get("sha256")
            if sha:
                found[blob.name] = (blob.size, sha)
        return found

    def put(self, name: str, file: _File, hook) -> None:
        with file.path.open("rb") as fh:
            self.client.upload_blob(name, fh, length=file.size, overwrite=True, metadata={"sha256": file.sha256},
                                    max_concurrency=MAX_CONCURRENCY, progress_hook=hook)

    def close(self) -> None:
        self.client.close()


#: What storage answers when it does not accept a SAS: expired or revoked (AuthenticationFailed on Azure,
#: AuthorizationFailure on Azurite; Azure also says AuthorizationFailure when its firewall blocks the caller).
SAS_REFUSED = ("AuthenticationFailed", "AuthorizationFailure", "")


def _sas_expiry(sas: str | None):
    """The `se` (expiry) of a SAS, as an aware datetime, or None."""
    from datetime import datetime
    from urllib.parse import parse_qs

    value = (parse_qs((sas or "").lstrip("?")).get("se") or [""])[0]
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _storage_error(storage: _Storage, exc, doing: str) -> AzureStepError:
    from datetime import datetime, timezone

    code, status = _error_code(exc), _status(exc)
    where = f"storage account {storage.account!r}, container {storage.container_name!r}"
    if status == 403 and not storage.identity and code in SAS_REFUSED:
        expiry = _sas_expiry(storage.sas)
        if expiry is not None and expiry <= datetime.now(timezone.utc):
            why = (f"the SAS the workspace handed out expired at {expiry:%Y-%m-%d %H:%M} UTC, and so did a fresh "
                   f"one; this machine's clock says {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC")
            advice = ("Check this machine's clock (`date -u`); if it is right, run the upload again: files already "
                      "uploaded are kept and skipped.")
        else:
            why = ("a fresh SAS from the workspace was refused too: it was revoked (storage keys rotated), or the "
                   "storage account's firewall does not let this machine in")
            advice = ("Run the upload again (files already uploaded are kept and skipped); if it fails the same way, "
                      "check the storage account's Networking settings in the Azure portal and the machine's clock.")
        return StorageAccessError(
            f"Storage refused the workspace's access token (SAS) while {doing} ({where}, 403 {code or 'Forbidden'}): "
            f"{why}.", advice)
    if status == 403:
        if storage.identity:
            return PermissionDenied(
                f"Storage refused your account while {doing} ({where}, 403 {code}): the default datastore uses "
                f"your identity, which needs a data role on the storage account.",
                f'Ask an owner to give your account the "{STORAGE_ROLE}" role on storage account '
                f'{storage.account!r}, then run the upload again.')
        return PermissionDenied(
            f"Storage refused the workspace's credential while {doing} ({where}, 403 {code}).",
            "The datastore's SAS does not allow writing: check the default datastore in Azure ML studio (Data > "
            "Datastores), or ask an owner to update its credentials.")
    if status == 404:
        return UploadError(f"The default datastore's container does not exist ({where}, {code}).",
                           "Check the default datastore in Azure ML studio (Data > Datastores).")
    return UploadError(f"Storage answered {status} {code} while {doing} ({where}): {_service_message(exc)}",
                       "Run the upload again: files already uploaded are kept and skipped.")


def _network_error(storage: _Storage, exc, doing: str) -> NetworkError:
    return NetworkError(
        f"Lost the connection to storage ({storage.account}.blob…) while {doing}, and the retries "
        f"({_retry_total(storage.retry)} of them) did not bring it back: {scrub(str(exc))[:300]}",
        "Check the network connection, then run the same upload again: the files already uploaded are kept and "
        "skipped, and nothing was registered.")


def _retry_total(retry) -> int:
    return int(getattr(retry, "total_retries", None) or getattr(retry, "retry_total", None) or 0)


def _default_retry():
    from azure.storage.blob import ExponentialRetry

    return ExponentialRetry(**SDK_STORAGE_RETRY)


# --- the upload -----------------------------------------------------------------------------------------------

def upload(req: UploadRequest, credential, on_progress: ProgressCallback | None = None,
           cancel: threading.Event | None = None, *, on_status: Callable[[str], None] | None = None,
           take_next_free: bool = False, storage_retry=None) -> UploadResult:
    """Upload `req.folder` to the workspace's default datastore and register it; see the module's docstring.

    `on_progress(bytes_done, bytes_total, current_file)` is called as blocks finish (from worker threads);
    `cancel` stops at the next block; `on_status` gets one line per phase. With `take_next_free` a version that
    is taken by other files gives way to the next free one instead of raising VersionExistsError.
    """
    started = time.monotonic()
    scrub_logs()
    cancel = cancel or threading.Event()
    progress = on_progress or (lambda done, total, name: None)
    status = on_status or (lambda text: None)
    problems = validate_request(req) + check_model_folder(req.folder)
    if problems:
        raise InvalidRequest(" ".join(problems))
    folder = Path(req.folder)

    from azure.ai.ml import MLClient
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    ml = MLClient(credential, req.subscription_id, req.resource_group, req.workspace, show_progress=False)
    status(f"Reading the default datastore of workspace {req.workspace}")
    storage = _Storage(ml, req, credential, storage_retry or _default_retry())
    try:
        status(f"Hashing {folder}")
        files, digest = _hash_folder(folder, cancel)
        total = sum(f.size for f in files)
        prefix = f"{PREFIX_ROOT}/{digest}/{folder.name}"
        model_path = f"azureml://datastores/{storage.datastore}/paths/{prefix}"

        status(f"Checking the versions of model {req.name}")
        version, registered = _choose_version(ml, req, credential, model_path, take_next_free)
        if registered is not None:
            return _result(req, registered, version, total, started, files=len(files), skipped=len(files),
                           already=True, digest=digest)

        uploaded, skipped, upload_s = _upload_files(storage, files, prefix, total, progress, status, cancel)

        if cancel.is_set():
            raise UploadCancelled("Upload cancelled after every file was sent; nothing was registered.",
                                  "Run the same upload again to register it (no file is sent again).")
        status(f"Registering {req.name}:{version}")
        model = Model(path=model_path, name=req.name, version=version, type=AssetTypes.CUSTOM_MODEL,
                      description=req.description, tags={**req.tags, CONTENT_TAG: digest})
        try:
            with _arm_errors(req, credential, f"registering model {req.name}:{version}"):
                created = ml.models.create_or_update(model)
        except UploadError as exc:
            if "asset paths cannot be updated" not in exc.message.lower():
                raise
            # Someone registered this version with other files between our check and now.
            raise VersionExistsError(req.name, version, _versions(ml, req, credential)[1]) from None
        return _result(req, created, version, total, started, uploaded=uploaded, upload_s=upload_s,
                       files=len(files), skipped=skipped, digest=digest)
    finally:
        storage.close()


def _result(req, model, version, total, started, *, uploaded=0, upload_s=0.0, files=0, skipped=0, already=False,
            digest="") -> UploadResult:
    return UploadResult(asset_id=model.id or "", version=str(model.version or version), name=req.name,
                        studio_url=studio_url(req, str(model.version or version)), path=str(model.path or ""),
                        bytes=total, seconds=time.monotonic() - started, uploaded_bytes=uploaded,
                        upload_seconds=upload_s, files=files, skipped_files=skipped, already_registered=already,
                        content_sha256=digest)


def _versions(ml, req: UploadRequest, credential) -> tuple[list, str]:
    """Every version of the model (archived ones too: their numbers are taken) and the next free number."""
    from azure.ai.ml.constants import ListViewType
    from azure.core.exceptions import ResourceNotFoundError

    with _arm_errors(req, credential, f"listing the versions of model {req.name}"):
        try:
            versions = list(ml.models.list(name=req.name, list_view_type=ListViewType.ALL))
        except ResourceNotFoundError:
            versions = []
    numbers = [int(v.version) for v in versions if str(v.version or "").isdigit()]
    return versions, str(max(numbers, default=0) + 1)


def _choose_version(ml, req: UploadRequest, credential, model_path: str, take_next_free: bool):
    """(version to register, the model already registered with these files or None)."""
    from azure.core.exceptions import ResourceNotFoundError

    ours = _datastore_path(model_path)
    if req.version:
        with _arm_errors(req, credential, f"checking whether {req.name}:{req.version} exists"):
            try:
                existing = ml.models.get(name=req.name, version=req.version)
            except ResourceNotFoundError:
                return req.version, None
        if _datastore_path(existing.path) == ours:
            return req.version, existing
        next_free = _versions(ml, req, credential)[1]
        if take_next_free:
            return next_free, None
        raise VersionExistsError(req.name, req.version, next_free)
    versions, next_free = _versions(ml, req, credential)
    same = [v for v in versions if _datastore_path(v.path) == ours]
    if same:
        return str(same[0].version), same[0]
    return next_free, None


def _upload_files(storage: _Storage, files: list[_File], prefix: str, total: int, progress: ProgressCallback,
                  status: Callable[[str], None], cancel: threading.Event) -> tuple[int, int, float]:
    """Send the files that are not already there; returns (bytes sent, files skipped, seconds)."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    def attempt(action, doing):
        """Run a storage call; a refused SAS is replaced once with a fresh one from the workspace."""
        for tries in (1, 2):
            try:
                return action()
            except HttpResponseError as exc:
                expired = _status(exc) == 403 and not storage.identity and _error_code(exc) in SAS_REFUSED
                if expired and tries == 1:
                    status("Storage refused the SAS (expired?); getting a fresh one from the workspace")
                    storage.refresh()
                    continue
                raise _storage_error(storage, exc, doing) from None
            except (ServiceRequestError, ServiceResponseError, ConnectionError) as exc:
                raise _network_error(storage, exc, doing) from None

    try:
        existing = attempt(lambda: storage.existing(prefix), "listing what an earlier run uploaded")
    except PermissionDenied:
        existing = {}  # a credential that may write but not list: send every file (no resume)
    done = uploaded = skipped = 0
    started = time.monotonic()
    status(f"Uploading {len(files)} files to {storage.account}/{storage.container_name}/{prefix}")
    for file in files:
        if cancel.is_set():
            raise _cancelled(done, total)
        name = f"{prefix}/{file.rel}"
        if existing.get(name) == (file.size, file.sha256):
            skipped += 1
            done += file.size
            progress(done, total, file.rel)
            continue
        base = done

        def hook(current, _file_total, base=base, rel=file.rel):
            progress(base + current, total, rel)
            if cancel.is_set():
                raise _Cancel()

        progress(done, total, file.rel)
        try:
            attempt(lambda: storage.put(name, file, hook), f"uploading {file.rel}")
        except _Cancel:
            raise _cancelled(done, total) from None
        done += file.size
        uploaded += file.size
        progress(done, total, file.rel)
    return uploaded, skipped, time.monotonic() - started


def _cancelled(done: int, total: int) -> UploadCancelled:
    return UploadCancelled(
        f"Upload cancelled after {done / 1e6:.1f} of {total / 1e6:.1f} MB; nothing was registered.",
        "Run the same upload again to go on: the files already uploaded are kept and skipped.")


# --- around the upload ----------------------------------------------------------------------------------------

def quiet_azure_logging() -> None:
    """No "X.get_token failed" warnings for the sign-ins a chain tries and passes over; never a secret in logs."""
    for name in ("azure.identity", "msal"):
        logging.getLogger(name).setLevel(logging.ERROR)
    scrub_logs()


def lab_tags(workspace, *, profile: str | None = None, base_model: str | None = None) -> dict[str, str]:
    """Tags that tie the model asset to the lab run: base model, profile, and each step's fingerprint."""
    from .workspace import StepState

    tags = {"olive-lab.source": "olive-lab"}
    if profile:
        tags["olive-lab.profile"] = profile
    if base_model:
        tags["olive-lab.base-model"] = base_model
    for path in sorted(workspace.state_dir.glob("*.json")):
        state = StepState.load(workspace, path.stem)
        if state.fingerprint and state.step != "upload":
            tags[f"olive-lab.fingerprint.{state.step}"] = state.fingerprint
    return tags


# --- the work folder's record ---------------------------------------------------------------------------------

def record_upload(workspace, req: UploadRequest, *, result: UploadResult | None = None,
                  error: AzureStepError | None = None, started_at: float | None = None) -> None:
    """Write the upload's outcome to `.olive-lab/state/upload.json` (names and ids only: never a secret)."""
    from .workspace import CANCELLED, DONE, FAILED, StepState

    state = StepState("upload", started_at=started_at, ended_at=time.time())
    state.argv = []
    if result is not None:
        state.status = DONE
        state.fingerprint = result.content_sha256 or None
        state.outputs = {"asset_id": result.asset_id, "reference": result.reference, "version": result.version,
                         "studio_url": result.studio_url, "model_path": result.path,
                         "workspace": f"{req.subscription_id}/{req.resource_group}/{req.workspace}"}
    else:
        state.status = CANCELLED if isinstance(error, UploadCancelled) else FAILED
        state.reason = scrub(error.message) if error else ""
        state.advice = scrub(error.advice) if error else ""
        state.exit_code = error.exit_code if error else None
    state.save(workspace)


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
