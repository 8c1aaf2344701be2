"""Download a model repository from the Hugging Face hub, with byte progress and resume.

    python -m olive_lab.steps.hub download REPO_ID --out DIR [--revision main] [--all] [--retries 5] [--force]

Only the hub's public HTTP API is used (no huggingface_hub), through `requests`:
  GET {HF_ENDPOINT}/api/models/{repo}/revision/{rev}?blobs=true   file list, sizes, hashes, commit
  GET {HF_ENDPOINT}/{repo}/resolve/{commit}/{path}                 the bytes (redirects followed, Range for resume)
`HF_ENDPOINT` defaults to https://huggingface.co. The token comes from `HF_TOKEN` (or `HUGGING_FACE_HUB_TOKEN`, or
the file `hf auth login` writes) and is sent as `Authorization: Bearer`; it is never printed, and any text that
would contain it is redacted. HF_HUB_OFFLINE does not apply here: this is the one step that goes online.

Files: everything in the repo except what a transformers model does not need: `*.gguf`, ONNX files and the
`onnx/`, `original/`, `coreml/`, `openvino/`, `gguf/` folders, other frameworks' weights (`*.h5`, `*.msgpack`,
`*.ot`, `*.tflite`, `*.mlmodel`, `*.pth`), `.gitattributes`, a repo's own `olive-lab.json` (ours replaces it),
and `pytorch_model*.bin` weights when safetensors weights exist. `--all` downloads everything.

Resume: files are written to `DIR.partial/<file>.part`. A new attempt (a retry in this run, or a later run after
a kill or a lost connection) continues with an HTTP Range request. Each file's size is checked, and its hash when
the hub gives one (LFS sha256 from the API or the `X-Linked-Etag`, else the git blob sha1). When every file is
there, an `olive-lab.json` marker is written and `DIR.partial` is renamed to DIR: DIR never holds half a model.

Output for the runner (stdout, one line each):
  [olive-lab] phase <name>
  [olive-lab] progress <bytes done> <bytes total> B <file>    (all files together; <= 4 per second, and at file ends)
  [olive-lab] error <kind>: <message and advice>              (last line, on failure; the exit code names the kind)
Kinds and exit codes: missing 20 ("check the id"), gated 21 ("accept the licence ... set HF_TOKEN"), unreachable 22
("pass --model with a local folder"), disk_full 23 ("free N GB"), integrity 24, interrupted 25 (run again to
resume), hub_error 26 (5xx/429), busy 27 (another download into the same folder).
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import json
import math
import os
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

from .folders import disk_full, replace_folder
from .script import MARKER
from .units import fmt_bytes

DEFAULT_ENDPOINT = "https://huggingface.co"
MAKER = "olive_lab.steps.hub"
PARTIAL_STATE = ".olive-lab-partial.json"
LOCK = ".olive-lab.lock"
CHUNK = 64 * 1024
PROGRESS_INTERVAL_S = 0.25
DISK_MARGIN = 100 * 1024 * 1024
TIMEOUT = (10, 60)  # connect, read (seconds)

#: Error kinds -> exit codes. The runner maps either back to the kind; the words are in the message too.
EXIT_CODES = {
    "missing": 20,      # repo, revision or file not found, or not a valid id: "check the id"
    "gated": 21,        # gated / private / token refused (401, 403, X-Error-Code: GatedRepo)
    "unreachable": 22,  # DNS, refused, TLS, timeout: the hub cannot be reached
    "disk_full": 23,    # ENOSPC / EDQUOT, or not enough free space to start
    "integrity": 24,    # size or hash mismatch (the damaged file is deleted)
    "interrupted": 25,  # the transfer broke and retries ran out; run again to resume
    "hub_error": 26,    # 5xx, 429 or another HTTP answer we cannot use
    "busy": 27,         # another download into the same folder is running
}
EXIT_OK, EXIT_USAGE = 0, 2

SKIP_PATTERNS = ("*.gguf", "*.onnx", "*.onnx_data", "*.onnx.data", "*.h5", "*.msgpack", "*.ot", "*.tflite",
                 "*.mlmodel", "*.pth", ".gitattributes", MARKER)
SKIP_FOLDERS = ("onnx", "original", "coreml", "openvino", "gguf")

REPO_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)?$")


class HubError(Exception):
    def __init__(self, kind: str, message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.kind]


@dataclass
class RemoteFile:
    name: str
    size: int | None = None
    sha256: str | None = None
    git_sha1: str | None = None


# --------------------------------------------------------------------------------------------------- helpers


def endpoint_from_env() -> str:
    return (os.environ.get("HF_ENDPOINT") or DEFAULT_ENDPOINT).rstrip("/")


def safe_url(url: str) -> str:
    """A URL fit to print: user:password@ removed, no query string (signed CDN URLs carry credentials there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def find_token() -> tuple[str | None, str]:
    """The token and where it came from (for messages; the value is never shown)."""
    for var in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
        value = os.environ.get(var, "").strip()
        if value:
            return value, var
    if os.environ.get("HF_TOKEN_PATH"):
        candidates = [Path(os.environ["HF_TOKEN_PATH"]).expanduser()]
    else:
        candidates = [Path.home() / ".cache" / "huggingface" / "token"]
        if os.environ.get("HF_HOME"):
            candidates.insert(0, Path(os.environ["HF_HOME"]).expanduser() / "token")
    for path in candidates:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError:
            continue
        if value:
            return value, str(path)
    return None, ""


def skipped(name: str, names: list[str]) -> bool:
    """True for files a transformers model does not need (the rule in the module docstring)."""
    parts = name.split("/")
    if any(p in SKIP_FOLDERS for p in parts[:-1]):
        return True
    base = parts[-1]
    if any(fnmatch.fnmatch(base, pat) for pat in SKIP_PATTERNS):
        return True
    has_safetensors = any(n.endswith(".safetensors") and "/" not in n for n in names)
    if has_safetensors and "/" not in name and re.fullmatch(r"pytorch_model.*\.bin(\.index\.json)?", base):
        return True
    return False


def safe_relpath(name: str) -> bool:
    p = Path(name)
    return bool(name) and not p.is_absolute() and ".." not in p.parts and "\\" not in name


def normalize_etag(value: str | None) -> str | None:
    if not value:
        return None
    value = value.strip()
    if value.startswith("W/"):
        value = value[2:]
    return value.strip('"').lower() or None


def _reason(exc: BaseException) -> str:
    """A short cause for a connection failure, from the exception chain."""
    seen = set()
    stack = [exc]
    text = str(exc).lower()
    while stack:
        e = stack.pop()
        if id(e) in seen or e is None:
            continue
        seen.add(id(e))
        if isinstance(e, socket.gaierror) or "name resolution" in str(e).lower() or "name or service" in str(e).lower():
            return "the name could not be resolved (DNS)"
        if isinstance(e, ConnectionRefusedError) or "connection refused" in str(e).lower():
            return "connection refused"
        if isinstance(e, (socket.timeout, TimeoutError)) or "timed out" in str(e).lower():
            return "the connection timed out"
        stack.extend([e.__cause__, e.__context__, *[a for a in getattr(e, "args", ()) if isinstance(a, BaseException)]])
        reason = getattr(e, "reason", None)
        if isinstance(reason, BaseException):
            stack.append(reason)
    if "ssl" in text or "certificate" in text:
        return "TLS/certificate error (a proxy? set REQUESTS_CA_BUNDLE)"
    return "no connection"


# --------------------------------------------------------------------------------------------------- download


class Downloader:
    def __init__(self, repo: str, out: Path, revision: str = "main", endpoint: str | None = None,
                 token: str | None = None, token_source: str = "", retries: int = 5, include_all: bool = False,
                 force: bool = False, stream=None):
        self.repo = repo
        self.out = out
        self.partial = out.parent / f"{out.name}.partial"
        self.revision = revision
        self.endpoint = (endpoint or endpoint_from_env()).rstrip("/")
        self.token = token
        self.token_source = token_source
        self.retries = retries
        self.include_all = include_all
        self.force = force
        self.stream = stream or sys.stdout
        self.total = 0
        self.done_before = 0  # bytes of files already complete
        self._last_progress = 0.0
        self._session = None

    # ---- output (everything goes through here, so the token can never leak)

    def emit(self, text: str) -> None:
        if self.token:
            text = text.replace(self.token, "***")
        self.stream.write(text + "\n")
        self.stream.flush()

    def phase(self, name: str) -> None:
        self.emit(f"[olive-lab] phase {name}")

    def progress(self, done: int, name: str, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL_S:
            self._last_progress = now
            self.emit(f"[olive-lab] progress {done} {self.total} B {name}")

    # ---- HTTP

    @property
    def session(self):
        if self._session is None:
            import requests

            from olive_lab import __version__

            s = requests.Session()
            s.headers["User-Agent"] = f"olive-lab/{__version__}; python-requests"
            if self.token:
                # requests drops this header on a redirect to another host (the hub's CDN URLs are pre-signed).
                s.headers["Authorization"] = f"Bearer {self.token}"
            self._session = s
        return self._session

    def url(self, path: str) -> str:
        return f"{self.endpoint}/{path.lstrip('/')}"

    def request(self, method: str, url: str, what: str, **kw):
        """One HTTP request; connection failures become HubError('unreachable'), bad answers are classified."""
        import requests

        kw.setdefault("timeout", TIMEOUT)
        try:
            resp = self.session.request(method, url, **kw)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise HubError("unreachable", self.unreachable_message(exc)) from None
        except requests.RequestException as exc:
            raise HubError("hub_error", f"the request for {what} failed: {type(exc).__name__}") from None
        return resp

    def unreachable_message(self, exc: BaseException) -> str:
        return (f"hub unreachable: this machine cannot reach {safe_url(self.endpoint)} ({_reason(exc)}). "
                f"Pass --model with a local folder (a copy of the model made on a machine with access), "
                f"or fix the network (proxy settings, HF_ENDPOINT)")

    def classify(self, resp, what: str) -> HubError:
        code = resp.headers.get("X-Error-Code", "")
        hub_msg = resp.headers.get("X-Error-Message", "")
        status = resp.status_code
        page = f"{safe_url(self.endpoint)}/{self.repo}"
        detail = f" (HTTP {status}{', ' + code if code else ''}{': ' + hub_msg if hub_msg else ''})"
        if code == "GatedRepo" or (status in (401, 403) and code != "RepoNotFound"):
            if self.token:
                return HubError("gated", f"'{self.repo}' is gated or private and the hub refused the token from "
                                f"{self.token_source}{detail}: accept the licence on the model page ({page}) with the "
                                f"account that owns the token, and check that HF_TOKEN is valid with read access")
            return HubError("gated", f"'{self.repo}' is gated or private: the hub needs a login{detail}. Accept the "
                            f"licence on the model page ({page}) and set HF_TOKEN to a token with read access "
                            f"(https://huggingface.co/settings/tokens)")
        if code == "RevisionNotFound":
            return HubError("missing", f"revision '{self.revision}' of '{self.repo}' not found{detail}: check the "
                            f"revision (a branch, tag or commit on {page})")
        if code == "EntryNotFound" or (status == 404 and what.startswith("file")):
            return HubError("missing", f"{what} not found in '{self.repo}'{detail}: the repo may have changed; "
                            f"run again")
        if code == "RepoNotFound" or status == 404:
            extra = "" if self.token else "; if it is a private repo, set HF_TOKEN"
            return HubError("missing", f"repository '{self.repo}' not found on {safe_url(self.endpoint)}{detail}: "
                            f"check the id (owner/name, as on the model page){extra}")
        if status == 429:
            return HubError("hub_error", f"the hub is rate-limiting requests{detail}: wait a few minutes and run "
                            f"again (downloaded files are kept)")
        return HubError("hub_error", f"the hub answered HTTP {status} for {what}{detail}: try again later "
                        f"(downloaded files are kept)")

    # ---- listing

    def list_files(self) -> tuple[str, list[RemoteFile], list[str]]:
        url = self.url(f"api/models/{self.repo}/revision/{quote(self.revision, safe='')}")
        for attempt in range(2):
            try:
                resp = self.request("GET", url, f"the file list of {self.repo}", params={"blobs": "true"})
            except HubError as err:
                if err.kind != "unreachable" or attempt:
                    raise
                time.sleep(0.5)
                continue
            if resp.status_code >= 500 and not attempt:
                time.sleep(1)
                continue
            break
        if resp.status_code != 200:
            raise self.classify(resp, f"the file list of {self.repo}")
        try:
            info = resp.json()
            siblings = info["siblings"]
        except (ValueError, KeyError, TypeError):
            raise HubError("hub_error", f"{safe_url(url)} did not answer with a model's file list: is HF_ENDPOINT "
                           f"({safe_url(self.endpoint)}) a Hugging Face hub?") from None
        commit = info.get("sha") or self.revision
        names = [s.get("rfilename", "") for s in siblings]
        files, left_out = [], []
        for s in siblings:
            name = s.get("rfilename", "")
            if not safe_relpath(name):
                self.emit(f"note: ignoring a file with an unsafe name in the listing: {name!r}")
                continue
            if not self.include_all and skipped(name, names):
                left_out.append(name)
                continue
            lfs = s.get("lfs") or {}
            size = lfs.get("size", s.get("size"))
            files.append(RemoteFile(name, int(size) if size is not None else None,
                                    (lfs.get("sha256") or lfs.get("oid") or None),
                                    None if lfs else s.get("blobId")))
        if not files:
            raise HubError("missing", f"'{self.repo}' has no files to download at revision '{self.revision}': "
                           f"check the id")
        return commit, files, left_out

    def resolve_url(self, commit: str, name: str) -> str:
        return self.url(f"{self.repo}/resolve/{quote(commit, safe='')}/{quote(name, safe='/')}")

    def fill_sizes(self, commit: str, files: list[RemoteFile]) -> None:
        """Ask for sizes the listing did not give (HEAD without following the redirect, like huggingface_hub)."""
        for f in files:
            if f.size is not None:
                continue
            resp = self.request("HEAD", self.resolve_url(commit, f.name), f"file {f.name}", allow_redirects=False,
                                headers={"Accept-Encoding": "identity"})
            if resp.status_code >= 400:
                raise self.classify(resp, f"file {f.name}")
            size = resp.headers.get("X-Linked-Size")
            if size is None and not resp.is_redirect:
                size = resp.headers.get("Content-Length")
            if size is not None:
                f.size = int(size)
            etag = normalize_etag(resp.headers.get("X-Linked-Etag"))
            if f.sha256 is None and etag and re.fullmatch(r"[0-9a-f]{64}", etag):
                f.sha256 = etag

    # ---- the partial folder

    def prepare_partial(self, commit: str) -> None:
        self.partial.mkdir(parents=True, exist_ok=True)
        state_path = self.partial / PARTIAL_STATE
        want = {"repo": self.repo, "commit": commit, "include_all": self.include_all}
        try:
            have = json.loads(state_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            have = None
        if have is not None and have != want:
            self.emit(f"note: {self.partial.name} holds an interrupted download of "
                      f"{have.get('repo')}@{str(have.get('commit'))[:12]}: starting over")
            for child in self.partial.iterdir():
                if child.name == LOCK:
                    continue
                shutil.rmtree(child) if child.is_dir() else child.unlink()
        state_path.write_text(json.dumps(want), encoding="utf-8")

    def lock(self):
        """Hold an exclusive lock on the partial folder so that two downloads never write the same files."""
        self.partial.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.partial / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            import fcntl
        except ImportError:  # not on POSIX: no lock
            return fd
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise HubError("busy", f"another download into {self.partial} is running: wait for it, "
                           "or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        return fd

    def check_space(self, files: list[RemoteFile]) -> None:
        need = 0
        for f in files:
            final, part = self.partial / f.name, self.partial / (f.name + ".part")
            if final.exists():
                continue
            have = part.stat().st_size if part.exists() else 0
            need += max((f.size or 0) - have, 0)
        free = shutil.disk_usage(self.partial).free
        if need + DISK_MARGIN > free:
            raise HubError("disk_full", self.disk_message(need + DISK_MARGIN - free, need, free))

    def disk_message(self, short: float, need: float | None = None, free: float | None = None) -> str:
        gb = max(math.ceil(short / 1e8) / 10, 0.1)
        what = f" (the download needs {fmt_bytes(need)} more, {fmt_bytes(free)} free)" if need is not None else ""
        return (f"disk full: not enough space in {self.partial.parent}{what}: free {gb:g} GB and run again "
                f"(downloaded files are kept)")

    # ---- one file

    def fetch_file(self, commit: str, f: RemoteFile) -> None:
        final = self.partial / f.name
        part = self.partial / (f.name + ".part")
        if final.exists() and (f.size is None or final.stat().st_size == f.size):
            return
        final.parent.mkdir(parents=True, exist_ok=True)
        url = self.resolve_url(commit, f.name)
        failures = attempts = 0
        fresh = False  # this run restarted the file from byte 0 (so a mismatch is not a stale .part)
        while True:
            attempts += 1
            have = part.stat().st_size if part.exists() else 0
            if f.size is not None and have > f.size:
                part.unlink()
                have = 0
            if f.size is not None and have == f.size:
                break  # complete, killed before the check: verify below
            before = have
            try:
                have = self._transfer(url, f, part, have)
                if f.size is None or have == f.size:
                    break
                raise _Broken(f"the connection ended at {have} of {f.size} bytes")
            except _Broken as exc:
                got = (part.stat().st_size if part.exists() else 0) - before
                failures = 0 if got > 0 else failures + 1  # progress resets the count
                if failures > self.retries or self.retries == 0 or attempts > 50 + self.retries:
                    kept = part.stat().st_size if part.exists() else 0
                    if exc.unreachable:
                        raise HubError("unreachable", self.unreachable_message(exc.cause) +
                                       f"; {fmt_bytes(self.done_before + kept)} kept, run again to resume") from None
                    raise HubError("interrupted", f"the transfer of {f.name} was interrupted ({exc}); "
                                   f"{fmt_bytes(self.done_before + kept)} kept: run again to resume") from None
                wait = min(2 ** max(failures - 1, 0), 30) if failures else 0.2
                self.emit(f"note: transfer of {f.name} broke ({exc}); resuming in {wait:g} s")
                time.sleep(wait)
            except _Restart as exc:
                fresh = True
                self.emit(f"note: {exc}; downloading {f.name} from the start")
                part.unlink(missing_ok=True)
        self._verify(f, part, fresh)
        os.replace(part, final)
        self.done_before += final.stat().st_size
        self.progress(self.done_before, f.name, force=True)

    def _transfer(self, url: str, f: RemoteFile, part: Path, have: int) -> int:
        import requests

        headers = {"Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        try:
            resp = self.session.get(url, headers=headers, stream=True, timeout=TIMEOUT)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise _Broken(_reason(exc), exc, unreachable=True) from None
        with resp:
            if resp.status_code == 416 and have:
                raise _Restart("the server refused to resume (HTTP 416)")
            if resp.status_code >= 500 or resp.status_code == 429:
                raise _Broken(f"HTTP {resp.status_code}")
            if resp.status_code >= 400:
                raise self.classify(resp, f"file {f.name}")
            if f.sha256 is None:
                for r in [*resp.history, resp]:
                    etag = normalize_etag(r.headers.get("X-Linked-Etag"))
                    if etag and re.fullmatch(r"[0-9a-f]{64}", etag):
                        f.sha256 = etag
            if have and resp.status_code == 206:
                m = re.match(r"bytes (\d+)-(\d+)/(\d+|\*)", resp.headers.get("Content-Range", ""))
                if not m or int(m.group(1)) != have:
                    raise _Restart("the server answered a different range")
                if f.size is None and m.group(3) != "*":
                    f.size = int(m.group(3))
                mode = "ab"
            else:
                if have:
                    self.emit(f"note: the server does not resume downloads; {f.name} starts again from 0")
                have, mode = 0, "wb"
                if f.size is None and resp.headers.get("Content-Length"):
                    f.size = int(resp.headers["Content-Length"])
            if f.size is not None and self.total < self.done_before + f.size:
                self.total = self.done_before + f.size  # sizes the listing could not give
            self.progress(self.done_before + have, f.name)
            with open(part, mode) as out:
                try:
                    for chunk in resp.iter_content(CHUNK):
                        out.write(chunk)
                        have += len(chunk)
                        self.progress(self.done_before + have, f.name)
                except (requests.RequestException, ConnectionError, TimeoutError) as exc:
                    out.flush()
                    raise _Broken(f"connection lost: {type(exc).__name__}", exc) from None
                out.flush()
                os.fsync(out.fileno())
        return have

    def _verify(self, f: RemoteFile, part: Path, fresh: bool) -> None:
        size = part.stat().st_size
        problem = ""
        if f.size is not None and size != f.size:
            problem = f"size {size} instead of {f.size}"
        elif f.sha256 or f.git_sha1:
            if size > 100_000_000:
                self.emit(f"checking {f.name} ({fmt_bytes(size)}, {'sha256' if f.sha256 else 'git sha1'})")
            if f.sha256:
                h = hashlib.sha256()
            else:
                h = hashlib.sha1()
                h.update(f"blob {size}\0".encode())
            with open(part, "rb") as fh:
                for block in iter(lambda: fh.read(1 << 20), b""):
                    h.update(block)
            want = f.sha256 or f.git_sha1
            if h.hexdigest() != want.lower():
                problem = f"{'sha256' if f.sha256 else 'git sha1'} {h.hexdigest()[:12]}... instead of {want[:12]}..."
        if problem:
            part.unlink(missing_ok=True)
            older = "" if fresh else " (the damage may come from an older interrupted download)"
            raise HubError("integrity", f"{f.name} arrived damaged ({problem}); it was deleted: run again to "
                           f"download it afresh{older}")

    # ---- the whole repo

    def run(self) -> dict:
        t0 = time.monotonic()
        if not REPO_ID_RE.match(self.repo) or "--" in self.repo or ".." in self.repo:
            raise HubError("missing", f"'{self.repo}' is not a Hugging Face model id: check the id (owner/name, "
                           f"as on the model page), or pass a local folder that exists")
        done = self.already_done()
        if done is not None:
            self.emit(f"{self.out} already holds {self.repo}@{self.revision} (commit {str(done.get('commit'))[:12]}); "
                      f"nothing to download (--force downloads again)")
            return done
        self.phase("listing files")
        auth = f", with the token from {self.token_source}" if self.token else ""
        self.emit(f"{self.repo}@{self.revision} from {safe_url(self.endpoint)}{auth}")
        commit, files, left_out = self.list_files()
        self.fill_sizes(commit, files)
        self.total = sum(f.size or 0 for f in files)
        self.emit(f"{len(files)} files, {fmt_bytes(self.total)} (commit {commit[:12]})"
                  + (f"; not needed, skipped: {', '.join(left_out)}" if left_out else ""))
        fd = self.lock()
        try:
            self.prepare_partial(commit)
            kept = sum((self.partial / (f.name + ".part")).stat().st_size
                       for f in files if (self.partial / (f.name + ".part")).exists())
            kept += sum(f.size or 0 for f in files if (self.partial / f.name).exists())
            if kept:
                self.emit(f"resuming: {fmt_bytes(kept)} already here from an earlier attempt")
            self.check_space(files)
            self.phase("downloading")
            for f in sorted(files, key=lambda f: (f.size or 0, f.name)):  # small files first: config errors early
                final = self.partial / f.name
                if final.exists() and (f.size is None or final.stat().st_size == f.size):
                    self.done_before += final.stat().st_size
                    continue
                try:
                    self.fetch_file(commit, f)
                except OSError as exc:
                    if disk_full(exc):
                        left = sum(f2.size or 0 for f2 in files) - self.done_before
                        raise HubError("disk_full", self.disk_message(max(left, 1e8))) from None
                    raise
            self.phase("finishing")
            marker = {
                "made_by": MAKER, "kind": "downloaded", "repo": self.repo, "revision": self.revision,
                "commit": commit, "endpoint": safe_url(self.endpoint),
                "files": {f.name: {"size": (self.partial / f.name).stat().st_size,
                                   **({"sha256": f.sha256} if f.sha256 else {})} for f in files},
                "skipped": left_out, "seconds": round(time.monotonic() - t0, 1),
            }
            (self.partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
            (self.partial / PARTIAL_STATE).unlink(missing_ok=True)
            (self.partial / LOCK).unlink(missing_ok=True)
            replace_folder(self.partial, self.out)
        except BaseException:
            self.drop_empty_partial()
            raise
        finally:
            os.close(fd)
        self.phase("done")
        self.emit(f"downloaded {self.repo} to {self.out} ({fmt_bytes(self.total)}, {time.monotonic() - t0:.1f} s)")
        return marker

    def already_done(self) -> dict | None:
        if self.force:
            return None
        try:
            marker = json.loads((self.out / MARKER).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if marker.get("repo") != self.repo or self.revision not in (marker.get("revision"), marker.get("commit")):
            return None
        if not all((self.out / name).is_file() for name in marker.get("files", {})):
            return None
        return marker

    def drop_empty_partial(self) -> None:
        """After a failure before any byte arrived, leave no empty `DIR.partial` behind."""
        try:
            if self.partial.is_dir() and {p.name for p in self.partial.iterdir()} <= {LOCK, PARTIAL_STATE}:
                shutil.rmtree(self.partial, ignore_errors=True)
        except OSError:
            pass



class _Broken(Exception):
    """A transfer that stopped part-way; retried with Range."""

    def __init__(self, message: str, cause: BaseException | None = None, unreachable: bool = False):
        super().__init__(message)
        self.cause = cause or self
        self.unreachable = unreachable


class _Restart(Exception):
    """The .part cannot be continued: start the file from byte 0."""


# --------------------------------------------------------------------------------------------------- CLI


def download_argv(repo: str, out: Path, revision: str = "main") -> list[str]:
    """The argv the model step runs for a hub id."""
    return [sys.executable, "-m", "olive_lab.steps.hub", "download", repo, "--out", str(out), "--revision", revision]


def parse_args(argv):
    p = argparse.ArgumentParser(prog="python -m olive_lab.steps.hub",
                                description="Download a model from the Hugging Face hub, with progress and resume.")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("download", help="download a model repo into a folder")
    d.add_argument("repo", help="the model id, e.g. microsoft/Phi-3.5-mini-instruct")
    d.add_argument("--out", required=True, type=Path, help="the folder to make (written via OUT.partial)")
    d.add_argument("--revision", default="main", help="branch, tag or commit (default: main)")
    d.add_argument("--all", action="store_true", dest="include_all",
                   help="download every file (default: skip gguf/onnx/original/other-framework weights)")
    d.add_argument("--retries", type=int, default=5, help="retries after a broken transfer, without progress")
    d.add_argument("--force", action="store_true", help="download again even if OUT already holds this revision")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    token, source = find_token()
    dl = Downloader(args.repo, args.out.expanduser().resolve(), revision=args.revision, token=token,
                    token_source=source, retries=max(args.retries, 0), include_all=args.include_all, force=args.force)
    try:
        dl.run()
    except HubError as err:
        dl.emit(f"[olive-lab] error {err.kind}: {err.message}")
        return err.exit_code
    except KeyboardInterrupt:
        dl.emit("[olive-lab] error interrupted: stopped; downloaded files are kept: run again to resume")
        return 130
    except OSError as exc:
        if disk_full(exc):
            dl.emit(f"[olive-lab] error disk_full: {dl.disk_message(1e8)}")
            return EXIT_CODES["disk_full"]
        dl.emit(f"[olive-lab] error failed: {type(exc).__name__}: {exc}")
        return 1
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
