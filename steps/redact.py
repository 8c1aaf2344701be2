"""Secrets out of everything Olive Lab prints, logs or stores: SAS signatures, account keys, tokens, passwords.

`scrub` rewrites text; `redact` does it to every string inside a JSON-like value (settings, state, run records)
before it is written; `secrets_in` says whether a value given by a person holds anything shaped like a secret,
so the command line can refuse it before it is echoed or saved. Standard library only.
"""

from __future__ import annotations

import logging
import re
import threading

REDACTED = "REDACTED"

#: Patterns of secrets that can appear in URLs, headers, JSON or an argument typed by mistake; group 1 is kept.
_SECRET_PATTERNS = (
    re.compile(r"(?i)((?:^|[?&\s\"'])sig=)[^&\s\"'<>]+"),  # a SAS signature
    re.compile(r"(?i)((?:Account|SharedAccess)Key=)[^;\s\"']+"),  # a connection string's key
    re.compile(r"(?i)(Bearer\s+)[A-Za-z0-9\-_.~+/]+=*"),
    re.compile(r"(?i)(\"?(?:access_?token|refresh_?token|id_token|sas_?token|account_?key|client_?secret|api_?key"
               r"|password)\"?\s*[:=]\s*\"?)[^\"&\s,}]+"),
    re.compile(r"(?i)([a-z][a-z0-9+.-]*://)[^/@\s:\"']+:[^/@\s\"']+(?=@)"),  # https://user:password@host
    re.compile(r"()\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+"),  # a JWT (an Entra token)
    re.compile(r"()\bhf_[A-Za-z0-9]{30,}"),  # a Hugging Face token
    re.compile(r"()(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{86}=="),  # a storage account key (64 bytes, base64)
)
#: A SAS query without its signature still says "a SAS URL was pasted here": expiry and permissions together.
_SAS_SHAPE = re.compile(r"(?i)[?&]se=[^&]+.*[?&]sp=|[?&]sp=[^&]+.*[?&]se=")
_known_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """Make `scrub` remove this exact value too (a SAS or key fetched at run time)."""
    if value and len(value) >= 8:
        with _secrets_lock:
            _known_secrets.add(value)
            _known_secrets.add(value.lstrip("?"))


def scrub(text: str) -> str:
    """`text` with every SAS signature, account key, token and URL password replaced by REDACTED."""
    with _secrets_lock:
        known = sorted(_known_secrets, key=len, reverse=True)
    for value in known:
        text = text.replace(value, REDACTED)
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
    return text


def secrets_in(text: str) -> bool:
    """Whether `text` holds anything shaped like a secret (or a SAS query, signature or not)."""
    return scrub(text) != text or bool(_SAS_SHAPE.search(text))


def redact(value):
    """`value` (a string, or dicts/lists/tuples of them, as read from or written to JSON) with secrets scrubbed."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {key: redact(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return type(value)(redact(item) for item in value)
    return value


class ScrubFilter(logging.Filter):
    """Rewrites log records so no secret reaches a handler (urllib3 logs whole request URLs, SAS included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True
