"""Signing in to Azure for the upload: a credential chain and a preflight that turns failures into one clear message.

The chain is Azure CLI (after `az login`) -> managed identity (only where its environment is present: an Azure ML
compute instance sets MSI_ENDPOINT, App Service and Arc set IDENTITY_ENDPOINT; elsewhere it would probe the IMDS
address and stall) -> device code, whose URL and code go to a callback so a headless user can sign in on another
device. azure-identity is imported inside the functions: the wizard must start fast.
"""

from __future__ import annotations

import os
from datetime import datetime
from typing import Callable
from urllib.parse import urlsplit

from .azure_target import AzureStepError, scrub

#: The scope of Azure Resource Manager in the public cloud; the preflight asks for a token for it.
ARM_SCOPE = "https://management.azure.com/.default"

SIGN_IN_ADVICE = ("Run `az login --use-device-code` in this terminal and try again, or sign in with a device code "
                  "(`olive-lab upload --device-code`, or the device-code button in the wizard).")
NO_CLI_ADVICE = ("The Azure CLI is not installed here: sign in with a device code (`olive-lab upload "
                 "--device-code`, or the device-code button in the wizard), or install the Azure CLI and run "
                 "`az login --use-device-code`.")
DEVICE_CODE_ADVICE = ("Run the upload again and enter the code shown at the address shown within 15 minutes, "
                      "signed in with an account that can use the workspace.")

#: Entra ID hosts that MSAL knows; any other AZURE_AUTHORITY_HOST (Azure Stack, a private cloud) skips instance
#: discovery, which would otherwise ask the public cloud about it.
KNOWN_AUTHORITY_HOSTS = ("login.microsoftonline.com", "login.chinacloudapi.cn", "login.microsoftonline.us")

DeviceCodeCallback = Callable[[str, str, datetime], None]
"""Called with (verification URL, user code, expiry) when device-code sign-in starts."""


class AzureLoginError(AzureStepError):
    """No credential could get a token: `message` says so, `advice` is the fix, `attempts` what each one said."""

    exit_code = 3

    def __init__(self, message: str, advice: str = SIGN_IN_ADVICE, attempts: list[tuple[str, str]] | None = None):
        super().__init__(message, advice)
        self.attempts = attempts or []


class LabCredential:
    """Tries each credential in order and keeps using the first one that gives a token.

    Unlike azure-identity's ChainedTokenCredential, it remembers which one worked (`source`, shown to the user)
    and does not run `az` again for every token once device code has won, and it goes on to the next credential
    after any failure, so an expired CLI login still falls through to the device code.
    """

    def __init__(self, chain: list[tuple[str, object]]):
        if not chain:
            raise ValueError("at least one credential is needed")
        self.chain = chain
        self.source: str | None = None
        self._winner = None
        self.attempts: list[tuple[str, str]] = []

    def get_token(self, *scopes, **kwargs):
        if self._winner is not None:
            return self._winner.get_token(*scopes, **kwargs)
        from azure.core.exceptions import ClientAuthenticationError

        self.attempts = []
        for label, credential in self.chain:
            try:
                token = credential.get_token(*scopes, **kwargs)
            except Exception as exc:  # noqa: BLE001 - every failure moves on to the next way of signing in
                self.attempts.append((label, _first_line(exc)))
                continue
            self.source, self._winner = label, credential
            return token
        tried = "; ".join(f"{label}: {reason}" for label, reason in self.attempts)
        raise ClientAuthenticationError(message=f"Could not sign in to Azure ({tried})")

    def close(self) -> None:
        for _, credential in self.chain:
            close = getattr(credential, "close", None)
            if close:
                close()


def _first_line(exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return scrub(str(text).strip().splitlines()[0] if str(text).strip() else type(exc).__name__)


def _authority_kwargs(env: dict[str, str]) -> dict:
    host = env.get("AZURE_AUTHORITY_HOST", "").strip()
    if not host:
        return {}
    name = urlsplit(host if "://" in host else f"https://{host}").hostname or ""
    return {"authority": host, "disable_instance_discovery": name not in KNOWN_AUTHORITY_HOSTS}


def make_credential(on_device_code: DeviceCodeCallback | None = None, *, device_code_only: bool = False,
                    env: dict[str, str] | None = None) -> LabCredential:
    """Azure CLI -> managed identity (where present) -> device code (only with a callback, or alone when asked).

    Without `on_device_code` the chain has no device-code step, so a script that is not signed in fails at once
    instead of waiting 15 minutes for a code nobody sees.
    """
    from azure.identity import AzureCliCredential, DeviceCodeCredential, ManagedIdentityCredential

    env = os.environ if env is None else env
    tenant = env.get("AZURE_TENANT_ID", "").strip()
    chain: list[tuple[str, object]] = []
    if not device_code_only:
        chain.append(("Azure CLI", AzureCliCredential(process_timeout=30, **({"tenant_id": tenant} if tenant else {}))))
        if env.get("MSI_ENDPOINT") or env.get("IDENTITY_ENDPOINT"):
            client_id = env.get("DEFAULT_IDENTITY_CLIENT_ID") or None
            chain.append(("managed identity", ManagedIdentityCredential(client_id=client_id)))
    if device_code_only or on_device_code is not None:
        kwargs = _authority_kwargs(env)
        if tenant:
            kwargs["tenant_id"] = tenant
        chain.append(("device code", DeviceCodeCredential(prompt_callback=on_device_code, timeout=900, **kwargs)))
    return LabCredential(chain)


def check_credential(credential, scope: str = ARM_SCOPE) -> None:
    """Get a token now, so a missing sign-in shows before any upload; raises AzureLoginError with the fix."""
    try:
        credential.get_token(scope)
    except Exception as exc:  # noqa: BLE001 - whatever it was, the user needs the same sentence
        attempts = list(getattr(credential, "attempts", None) or [("credential", _first_line(exc))])
        raise login_error(attempts) from None


def login_error(attempts: list[tuple[str, str]]) -> AzureLoginError:
    """The one message for a failed sign-in, chosen from what each credential said."""
    said = " ".join(reason for _, reason in attempts).lower()
    labels = [label for label, _ in attempts]
    detail = "; ".join(f"{label}: {reason}" for label, reason in attempts)
    if labels == ["device code"]:
        return AzureLoginError(f"Device-code sign-in did not finish ({detail}).", DEVICE_CODE_ADVICE, attempts)
    if "not found on path" in said and "device code" not in labels:
        return AzureLoginError(f"Not signed in to Azure ({detail}).", NO_CLI_ADVICE, attempts)
    return AzureLoginError(f"Not signed in to Azure ({detail}).", SIGN_IN_ADVICE, attempts)
