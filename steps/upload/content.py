"""The folder's content: every file with its sha256, and the folder's digest over them, which names the
content-addressed place the blobs go (`olive-lab/<sha256>/<folder name>/…`); and how two model paths are
compared (short and long azureml:// forms alike).
"""

from __future__ import annotations

import hashlib
import re
import threading
from dataclasses import dataclass
from pathlib import Path

from .errors import UploadCancelled

PREFIX_ROOT = "olive-lab"


@dataclass(frozen=True)
class LocalFile:
    path: Path
    rel: str
    size: int
    sha256: str


def hash_folder(folder: Path, cancel: threading.Event) -> tuple[list[LocalFile], str]:
    """Every file under `folder` (sorted) with its sha256, and the folder's digest over names, sizes and hashes."""
    paths = sorted((p for p in folder.rglob("*") if p.is_file()), key=lambda p: p.relative_to(folder).as_posix())
    files: list[LocalFile] = []
    manifest = hashlib.sha256()
    for path in paths:
        if cancel.is_set():
            raise UploadCancelled("Upload cancelled before anything was sent; nothing was registered.")
        with path.open("rb") as fh:
            digest = hashlib.file_digest(fh, "sha256").hexdigest()
        rel = path.relative_to(folder).as_posix()
        size = path.stat().st_size
        files.append(LocalFile(path, rel, size, digest))
        manifest.update(f"{rel}\0{size}\0{digest}\n".encode())
    return files, manifest.hexdigest()


def datastore_path(uri: str | None) -> tuple[str, str] | None:
    """(datastore, path) of an azureml:// model path, short or long form."""
    if not uri:
        return None
    m = re.search(r"datastores/([^/]+)/paths/(.+?)/?$", uri)
    return (m.group(1).lower(), m.group(2)) if m else None


def blob_prefix(digest: str, folder: Path) -> str:
    """Where the folder's blobs go: the same place for the same content, never mixing two versions."""
    return f"{PREFIX_ROOT}/{digest}/{folder.name}"
