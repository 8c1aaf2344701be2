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

Cut along its seams (each module's docstring says what it owns): `request` (the request, the naming rules, the
folder check), `errors` (the step's errors and the translation of Azure's), `content` (hashing and the blob
prefix), `storage` (the datastore's container, resume, SAS refresh, progress), `registry` (versions and the
registration), `record` (the state file and the asset's tags) and `run` (`upload`, the phases in order).
The names below are the step's public ones; callers import them from here.
"""

from ..azure_auth import AzureLoginError, check_credential, make_credential
from ..azure_target import EXPLICIT, AzureStepError, Resolved, ResolvedTarget, resolve_target, scrub
from .errors import (InvalidRequest, NetworkError, PermissionDenied, StorageAccessError, TargetNotFound,
                     UploadCancelled, UploadError, VersionExistsError)
from .record import lab_tags, record_upload
from .request import (DEFAULT_DESCRIPTION, DEFAULT_NAME, UploadRequest, UploadResult, az_model_create,
                      check_model_folder, studio_url, validate_request)
from .run import quiet_azure_logging, upload

__all__ = [
    "UploadRequest", "UploadResult", "upload", "validate_request", "check_model_folder", "resolve_target",
    "ResolvedTarget", "Resolved", "make_credential", "check_credential", "AzureLoginError", "AzureStepError",
    "UploadError", "InvalidRequest", "PermissionDenied", "TargetNotFound", "VersionExistsError", "StorageAccessError",
    "NetworkError", "UploadCancelled", "record_upload", "studio_url", "lab_tags", "quiet_azure_logging", "EXPLICIT",
    "DEFAULT_NAME", "DEFAULT_DESCRIPTION", "az_model_create", "scrub",
]
