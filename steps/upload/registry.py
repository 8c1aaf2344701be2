"""The model asset's side: which version to register (the one asked for, the next free one, or the one already
registered with these very files) and the registration itself, which only ever points at blobs already sent.
"""

from __future__ import annotations

from .content import datastore_path
from .errors import UploadError, VersionExistsError, arm_errors
from .request import UploadRequest

CONTENT_TAG = "olive-lab.content-sha256"


def model_versions(ml, req: UploadRequest, credential) -> tuple[list, str]:
    """Every version of the model (archived ones too: their numbers are taken) and the next free number."""
    from azure.ai.ml.constants import ListViewType
    from azure.core.exceptions import ResourceNotFoundError

    with arm_errors(req, credential, f"listing the versions of model {req.name}"):
        try:
            versions = list(ml.models.list(name=req.name, list_view_type=ListViewType.ALL))
        except ResourceNotFoundError:
            versions = []
    numbers = [int(v.version) for v in versions if str(v.version or "").isdigit()]
    return versions, str(max(numbers, default=0) + 1)


def choose_version(ml, req: UploadRequest, credential, model_path: str, take_next_free: bool):
    """(version to register, the model already registered with these files or None)."""
    from azure.core.exceptions import ResourceNotFoundError

    ours = datastore_path(model_path)
    if req.version:
        with arm_errors(req, credential, f"checking whether {req.name}:{req.version} exists"):
            try:
                existing = ml.models.get(name=req.name, version=req.version)
            except ResourceNotFoundError:
                return req.version, None
        if datastore_path(existing.path) == ours:
            return req.version, existing
        next_free = model_versions(ml, req, credential)[1]
        if take_next_free:
            return next_free, None
        raise VersionExistsError(req.name, req.version, next_free)
    taken, next_free = model_versions(ml, req, credential)
    same = [v for v in taken if datastore_path(v.path) == ours]
    if same:
        return str(same[0].version), same[0]
    return next_free, None


def register(ml, req: UploadRequest, credential, model_path: str, version: str, digest: str):
    """Register `model_path` as `req.name:version`, tagged with the content's digest; the created model."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    model = Model(path=model_path, name=req.name, version=version, type=AssetTypes.CUSTOM_MODEL,
                  description=req.description, tags={**req.tags, CONTENT_TAG: digest})
    try:
        with arm_errors(req, credential, f"registering model {req.name}:{version}"):
            return ml.models.create_or_update(model)
    except UploadError as exc:
        if "asset paths cannot be updated" not in exc.message.lower():
            raise
        # Someone registered this version with other files between our check and now.
        raise VersionExistsError(req.name, version, model_versions(ml, req, credential)[1]) from None
