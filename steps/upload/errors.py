"""What can go wrong in an upload, as AzureStepErrors with their exit codes, and the translation of what
azure-ai-ml and ARM raise into them (`arm_errors`): each says what failed and how to fix it, never a secret.
"""

from __future__ import annotations

import contextlib
import re
from typing import Iterator

from ..azure_auth import AzureLoginError, login_error
from ..azure_target import AzureStepError, scrub
from .request import UploadRequest

ROLE = "AzureML Data Scientist"


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


def http_status(exc) -> int | None:
    return getattr(exc, "status_code", None) or getattr(getattr(exc, "response", None), "status_code", None)


def error_code(exc) -> str:
    code = getattr(exc, "error_code", None) or getattr(getattr(exc, "error", None), "code", None)
    if not code:
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        code = headers.get("x-ms-error-code", "")
    return str(getattr(code, "value", code) or "")


def service_message(exc) -> str:
    message = getattr(getattr(exc, "error", None), "message", None) or getattr(exc, "message", None) or str(exc)
    return scrub(" ".join(str(message).split()))[:600]


def _request_url(exc) -> str:
    request = getattr(getattr(exc, "response", None), "request", None)
    return str(getattr(request, "url", "") or "")


def _permission_error(req: UploadRequest, exc, doing: str) -> PermissionDenied:
    message = service_message(exc)
    action = re.search(r"action '([^']+)'", message)
    needs = f" (it needs {action.group(1)})" if action else ""
    return PermissionDenied(
        f"Azure refused {doing} in workspace {req.workspace!r}: your account has no role that allows it{needs}.",
        f'Ask an owner of the workspace to give your account the "{ROLE}" role on it (Contributor also works): '
        f'az role assignment create --role "{ROLE}" --assignee <your sign-in name> --scope {req.workspace_id}')


@contextlib.contextmanager
def arm_errors(req: UploadRequest, credential, doing: str) -> Iterator[None]:
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
            f"{req.subscription_id} ({service_message(exc)}).",
            "Check the names with `az ml workspace list -o table` (and `az account show` for the subscription), "
            "then pass --resource-group/--workspace/--subscription.") from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise NetworkError(f"Could not reach Azure while {doing}: {scrub(str(exc))[:400]}",
                           "Check the network connection (and any proxy), then run the upload again.") from None
    except HttpResponseError as exc:
        status = http_status(exc)
        if "listsecrets" in _request_url(exc).lower():
            doing = "getting the storage credentials of the workspace's default datastore (listSecrets)"
        if status == 403:
            raise _permission_error(req, exc, doing) from None
        if status == 401:
            raise AzureLoginError(
                f"Azure did not accept the sign-in while {doing} (401: {service_message(exc)}).",
                "Sign in to the tenant that holds the subscription: `az login --use-device-code --tenant <tenant "
                "id>` (or set AZURE_TENANT_ID with --device-code), then try again.") from None
        raise UploadError(f"Azure ML answered {status} {error_code(exc)} while {doing}: {service_message(exc)}",
                          "Run the upload again; if it keeps failing, the message above is the service's reason.") \
            from None
    except ClientAuthenticationError:
        raise login_error(getattr(credential, "attempts", None) or [("credential", "no token")]) from None
    except Exception as exc:  # noqa: BLE001 - azure-ai-ml's own exceptions (validation, schema) end up here
        raise UploadError(f"Azure ML failed while {doing}: {scrub(str(exc))[:600]}") from None
