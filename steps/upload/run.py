"""The upload, phase by phase: check the request, read the datastore, hash the folder, choose the version, send
the files, register. Each phase lives in its own module; this one runs them in order and says what it is doing.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from ..azure_target import scrub_logs
from .content import blob_prefix, hash_folder
from .errors import InvalidRequest, UploadCancelled
from .registry import choose_version, register
from .request import ProgressCallback, UploadRequest, UploadResult, check_model_folder, studio_url, validate_request
from .storage import Storage, default_retry, upload_files


def upload(req: UploadRequest, credential, on_progress: ProgressCallback | None = None,
           cancel: threading.Event | None = None, *, on_status: Callable[[str], None] | None = None,
           take_next_free: bool = False, storage_retry=None) -> UploadResult:
    """Upload `req.folder` to the workspace's default datastore and register it; see the package's docstring.

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

    ml = MLClient(credential, req.subscription_id, req.resource_group, req.workspace, show_progress=False)
    status(f"Reading the default datastore of workspace {req.workspace}")
    storage = Storage(ml, req, credential, storage_retry or default_retry())
    try:
        status(f"Hashing {folder}")
        files, digest = hash_folder(folder, cancel)
        total = sum(f.size for f in files)
        prefix = blob_prefix(digest, folder)
        model_path = f"azureml://datastores/{storage.datastore}/paths/{prefix}"

        status(f"Checking the versions of model {req.name}")
        version, registered = choose_version(ml, req, credential, model_path, take_next_free)
        if registered is not None:
            return _result(req, registered, version, total, started, files=len(files), skipped=len(files),
                           already=True, digest=digest)

        uploaded, skipped, upload_s = upload_files(storage, files, prefix, total, progress, status, cancel)

        if cancel.is_set():
            raise UploadCancelled("Upload cancelled after every file was sent; nothing was registered.",
                                  "Run the same upload again to register it (no file is sent again).")
        status(f"Registering {req.name}:{version}")
        created = register(ml, req, credential, model_path, version, digest)
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


def quiet_azure_logging() -> None:
    """No "X.get_token failed" warnings for the sign-ins a chain tries and passes over; never a secret in logs."""
    for name in ("azure.identity", "msal"):
        logging.getLogger(name).setLevel(logging.ERROR)
    scrub_logs()
