"""The blob side of an upload: the workspace's default datastore (its container and the credential it hands
out: SAS, key or your identity), a fresh SAS once when storage refuses the old one, resuming what an earlier run
sent, byte-level progress and cancel, and what storage's errors mean.
"""

from __future__ import annotations

import threading
import time
from typing import Callable

from ..azure_target import AzureStepError, remember_secret, scrub
from .content import LocalFile
from .errors import (NetworkError, PermissionDenied, StorageAccessError, UploadCancelled, UploadError, arm_errors,
                     error_code, http_status, service_message)
from .request import ProgressCallback, UploadRequest

#: Block size and the largest file sent in one request: progress and cancel move in steps of this size.
BLOCK_SIZE = 4 * 1024 * 1024
MAX_SINGLE_PUT = 8 * 1024 * 1024
#: Parallel block uploads per file (the files go one after another, so progress reads as one stream). Measured
#: with bench/upload_azurite.py on 2 cores (1 GB to Azurite): 4 -> ~130 MB/s, 8 -> ~90, 16 -> ~60 (client and
#: Azurite share the CPU there); against the real service more may help, which is unmeasured.
MAX_CONCURRENCY = 4

#: azure-ai-ml's own storage retries (initial 15 s, then +3^n s, 3 retries), so we retry as `az ml` would.
SDK_STORAGE_RETRY = {"initial_backoff": 15, "increment_base": 3, "retry_total": 3}

STORAGE_ROLE = "Storage Blob Data Contributor"


class _Cancel(Exception):
    pass


class Storage:
    """The default datastore's container, with the credential the datastore gives (SAS, key, or your identity)."""

    def __init__(self, ml, req: UploadRequest, credential, retry):
        self.ml, self.req, self.credential, self.retry = ml, req, credential, retry
        self.refreshes = 0
        self._connect()

    def _connect(self) -> None:
        from azure.ai.ml.entities import AzureBlobDatastore
        from azure.storage.blob import ContainerClient

        with arm_errors(self.req, self.credential, "reading the workspace's default datastore"):
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

    def put(self, name: str, file: LocalFile, hook) -> None:
        with file.path.open("rb") as fh:
            self.client.upload_blob(name, fh, length=file.size, overwrite=True, metadata={"sha256": file.sha256},
                                    max_concurrency=MAX_CONCURRENCY, progress_hook=hook)

    def close(self) -> None:
        self.client.close()


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


def storage_error(storage: Storage, exc, doing: str) -> AzureStepError:
    from datetime import datetime, timezone

    code, status = error_code(exc), http_status(exc)
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
    return UploadError(f"Storage answered {status} {code} while {doing} ({where}): {service_message(exc)}",
                       "Run the upload again: files already uploaded are kept and skipped.")


def network_error(storage: Storage, exc, doing: str) -> NetworkError:
    return NetworkError(
        f"Lost the connection to storage ({storage.account}.blob…) while {doing}, and the retries "
        f"({_retry_total(storage.retry)} of them) did not bring it back: {scrub(str(exc))[:300]}",
        "Check the network connection, then run the same upload again: the files already uploaded are kept and "
        "skipped, and nothing was registered.")


def _retry_total(retry) -> int:
    return int(getattr(retry, "total_retries", None) or getattr(retry, "retry_total", None) or 0)


def default_retry():
    from azure.storage.blob import ExponentialRetry

    return ExponentialRetry(**SDK_STORAGE_RETRY)


def upload_files(storage: Storage, files: list[LocalFile], prefix: str, total: int, progress: ProgressCallback,
                  status: Callable[[str], None], cancel: threading.Event) -> tuple[int, int, float]:
    """Send the files that are not already there; returns (bytes sent, files skipped, seconds)."""
    from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

    def attempt(action, doing):
        """Run a storage call; a refused SAS is replaced once with a fresh one from the workspace."""
        for tries in (1, 2):
            try:
                return action()
            except HttpResponseError as exc:
                expired = http_status(exc) == 403 and not storage.identity and error_code(exc) in SAS_REFUSED
                if expired and tries == 1:
                    status("Storage refused the SAS (expired?); getting a fresh one from the workspace")
                    storage.refresh()
                    continue
                raise storage_error(storage, exc, doing) from None
            except (ServiceRequestError, ServiceResponseError, ConnectionError) as exc:
                raise network_error(storage, exc, doing) from None

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
