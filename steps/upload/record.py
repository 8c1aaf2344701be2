"""What an upload leaves in the work folder and on the asset: the step's state file (`upload.json`, names and
ids only, never a secret) and the tags that tie the model asset to the lab run.
"""

from __future__ import annotations

import time

from ..azure_target import AzureStepError, scrub
from .errors import UploadCancelled
from .request import UploadRequest, UploadResult


def lab_tags(workspace, *, profile: str | None = None, base_model: str | None = None) -> dict[str, str]:
    """Tags that tie the model asset to the lab run: base model, profile, and each step's fingerprint."""
    from ..workspace import StepState

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


def record_upload(workspace, req: UploadRequest, *, result: UploadResult | None = None,
                  error: AzureStepError | None = None, started_at: float | None = None) -> None:
    """Write the upload's outcome to `.olive-lab/state/upload.json` (names and ids only: never a secret)."""
    from ..workspace import CANCELLED, DONE, FAILED, StepState

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
