"""A loopback stand-in for the Hugging Face hub, for download tests (set HF_ENDPOINT to `stub.endpoint`).

It serves what `olive_lab.steps.hub` uses, the way huggingface.co does:
  GET  /api/models/{repo}/revision/{rev}[?blobs=true]  -> {"id", "sha", "siblings": [{"rfilename", "size", "blobId",
                                                          "lfs": {"sha256", "size", "pointerSize"}}]}
  GET|HEAD /{repo}/resolve/{rev}/{path}                -> small files: 200 + ETag (git blob sha1);
                                                          LFS files (*.safetensors, *.bin, ...): 302 to /cdn/... with
                                                          X-Linked-Etag (sha256), X-Linked-Size, X-Repo-Commit
  GET  /cdn/{repo}/{path}                              -> the bytes; Range requests answered with 206
Errors carry the hub's `X-Error-Code` / `X-Error-Message` headers and a JSON body: RepoNotFound (404),
RevisionNotFound (404), EntryNotFound (404), GatedRepo (401 without a token, 403 with a refused one; like the real
hub, a gated repo's file list is public, its files are not).

Test hooks: `cut_once` (names whose next transfer stops half-way and closes the connection), `corrupt` (names served
with one byte changed), `delay_s` (pause per 64 KiB, to make transfers last), and `log` (every request: method,
path, headers, and for file bytes the range start and bytes sent).
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlsplit

LFS_SUFFIXES = (".safetensors", ".bin", ".gguf", ".onnx", ".pth", ".model")
PIECE = 64 * 1024


@dataclass
class Repo:
    files: dict[str, bytes]
    gated: bool = False
    commit: str = "0123456789abcdef0123456789abcdef01234567"

    def is_lfs(self, name: str) -> bool:
        return name.endswith(LFS_SUFFIXES)


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    status: int = 0
    file: str | None = None
    start: int | None = None
    sent: int = 0


def git_blob_sha1(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def folder_files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@dataclass
class HubStub:
    tokens: set[str] = field(default_factory=set)
    repos: dict[str, Repo] = field(default_factory=dict)
    cut_once: set[str] = field(default_factory=set)
    corrupt: set[str] = field(default_factory=set)
    delay_s: float = 0.0
    log: list[Request] = field(default_factory=list)

    def add_repo(self, repo_id: str, files: dict[str, bytes] | Path, gated: bool = False) -> Repo:
        if isinstance(files, Path):
            files = folder_files(files)
        commit = hashlib.sha1(repo_id.encode()).hexdigest()
        self.repos[repo_id] = Repo(dict(files), gated, commit)
        return self.repos[repo_id]

    # ---- server

    def start(self) -> HubStub:
        stub = self

        class Handler(_Handler):
            hub = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> HubStub:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def file_requests(self, name: str) -> list[Request]:
        """Requests that carried (part of) the bytes of `name`."""
        return [r for r in self.log if r.file == name]


class _Handler(BaseHTTPRequestHandler):
    hub: HubStub
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    # ---- plumbing

    def _record(self) -> Request:
        req = Request(self.command, self.path, {k: v for k, v in self.headers.items()})
        self.hub.log.append(req)
        return req

    def _send(self, req: Request, status: int, body: bytes = b"", headers: dict | None = None,
              content_type: str = "application/json") -> None:
        req.status = status
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, req: Request, status: int, code: str, message: str) -> None:
        body = json.dumps({"error": message}).encode()
        self._send(req, status, body, {"X-Error-Code": code, "X-Error-Message": message})

    def _authorized(self) -> str:
        """'ok', 'none' (no token) or 'refused'."""
        auth = self.headers.get("Authorization", "")
        if not auth:
            return "none"
        return "ok" if auth.startswith("Bearer ") and auth[7:] in self.hub.tokens else "refused"

    # ---- routes

    def do_HEAD(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        req = self._record()
        url = urlsplit(self.path)
        path = unquote(url.path)
        if path.startswith("/api/models/"):
            return self._api(req, path[len("/api/models/"):], parse_qs(url.query))
        if path.startswith("/cdn/"):
            return self._cdn(req, path[len("/cdn/"):])
        if "/resolve/" in path:
            return self._resolve(req, path)
        self._error(req, 404, "NotFound", "Sorry, we can't find the page you are looking for.")

    def _find_repo(self, repo_id: str):
        return self.hub.repos.get(repo_id)

    def _api(self, req: Request, rest: str, query: dict) -> None:
        repo_id, sep, rev = rest.partition("/revision/")
        repo = self._find_repo(repo_id)
        if repo is None:
            return self._error(req, 404, "RepoNotFound", "Repository not found")
        if sep and rev not in ("main", repo.commit):
            return self._error(req, 404, "RevisionNotFound", f"Invalid rev id: {rev}")
        blobs = query.get("blobs", ["false"])[0] == "true"
        siblings = []
        for name, data in sorted(repo.files.items()):
            entry = {"rfilename": name}
            if blobs:
                if repo.is_lfs(name):
                    sha = hashlib.sha256(data).hexdigest()
                    pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha}\nsize {len(data)}\n".encode()
                    entry.update(size=len(data), blobId=git_blob_sha1(pointer),
                                 lfs={"sha256": hashlib.sha256(data).hexdigest(), "size": len(data),
                                      "pointerSize": len(pointer)})
                else:
                    entry.update(size=len(data), blobId=git_blob_sha1(data))
            siblings.append(entry)
        body = {"_id": "stub", "id": repo_id, "modelId": repo_id, "sha": repo.commit, "private": False,
                "gated": "manual" if repo.gated else False, "siblings": siblings}
        self._send(req, 200, json.dumps(body).encode())

    def _resolve(self, req: Request, path: str) -> None:
        repo_id, _, rest = path.lstrip("/").partition("/resolve/")
        rev, _, name = rest.partition("/")
        repo = self._find_repo(repo_id)
        if repo is None:
            return self._error(req, 404, "RepoNotFound", "Repository not found")
        if repo.gated:
            auth = self._authorized()
            if auth == "none":
                return self._error(req, 401, "GatedRepo", f"Access to model {repo_id} is restricted. You must have "
                                   "access to it and be authenticated to access it. Please log in.")
            if auth == "refused":
                return self._error(req, 403, "GatedRepo", f"Access to model {repo_id} is restricted and you are not "
                                   f"in the authorized list. Visit https://huggingface.co/{repo_id} to ask for access.")
        if rev not in ("main", repo.commit):
            return self._error(req, 404, "RevisionNotFound", f"Invalid rev id: {rev}")
        if name not in repo.files:
            return self._error(req, 404, "EntryNotFound", f"{name} does not exist on \"{rev}\"")
        data = repo.files[name]
        if repo.is_lfs(name):
            location = f"/cdn/{quote(repo_id)}/{quote(name)}?X-Amz-Signature=stub"
            return self._send(req, 302, b"", {
                "Location": location, "X-Linked-Etag": f'"{hashlib.sha256(data).hexdigest()}"',
                "X-Linked-Size": str(len(data)), "X-Repo-Commit": repo.commit,
                "ETag": f'"{git_blob_sha1(data)}"'}, content_type="text/plain")
        self._bytes(req, name, data, {"ETag": f'"{git_blob_sha1(data)}"', "X-Repo-Commit": repo.commit})

    def _cdn(self, req: Request, rest: str) -> None:
        for repo_id, repo in self.hub.repos.items():
            if rest.startswith(repo_id + "/") and rest[len(repo_id) + 1:] in repo.files:
                name = rest[len(repo_id) + 1:]
                data = repo.files[name]
                return self._bytes(req, name, data, {"ETag": f'"{hashlib.md5(data).hexdigest()}"'})
        self._send(req, 404, b"<Error><Code>NoSuchKey</Code></Error>", content_type="application/xml")

    def _bytes(self, req: Request, name: str, data: bytes, headers: dict) -> None:
        size = len(data)
        if name in self.hub.corrupt and data:
            data = bytes([data[0] ^ 0xFF]) + data[1:]
        start, status = 0, 200
        rng = self.headers.get("Range")
        if rng:
            spec = rng.removeprefix("bytes=").split("-")
            start = int(spec[0])
            end = int(spec[1]) if len(spec) > 1 and spec[1] else size - 1
            if start >= size:
                return self._send(req, 416, b"", {"Content-Range": f"bytes */{size}"}, content_type="text/plain")
            data, status = data[start:end + 1], 206
            headers = {**headers, "Content-Range": f"bytes {start}-{start + len(data) - 1}/{size}"}
        req.file, req.start, req.status = name, start, status
        self.send_response(status)
        for k, v in {**headers, "Accept-Ranges": "bytes"}.items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        cut = name in self.hub.cut_once
        if cut:
            self.hub.cut_once.discard(name)
            data = data[: len(data) // 2]
        for i in range(0, len(data), PIECE):
            piece = data[i:i + PIECE]
            try:
                self.wfile.write(piece)
                self.wfile.flush()
            except OSError:
                return
            req.sent += len(piece)
            if self.hub.delay_s:
                time.sleep(self.hub.delay_s)
        if cut:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def closed_port() -> int:
    """A local port nothing listens on (connections to it are refused)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


#: A small travel Q&A set in the lab's format, for building tiny models in tests (own sentences).
_CITIES = ("Kyoto", "Lisbon", "Paris", "Cairo", "Lima", "Oslo", "Hanoi", "Quito", "Rome", "Seville", "Cusco",
           "Tbilisi", "Porto", "Krakow", "Marrakesh", "Hobart")
_QA = (
    ("What food should I try in {c}?",
     "In {c}, start with the street food near the market, then book one slow dinner at a family-run place - ask "
     "the owner what is in season!"),
    ("When is the best time to visit {c}?",
     "Spring and early autumn suit {c} best: mild days, fewer crowds and festivals in the old town."),
    ("How do I get around {c}?",
     "Walk the centre of {c} and take trams or buses for longer hops; a day pass usually pays for itself."),
    ("Is {c} safe at night?",
     "{c} is generally safe after dark. Stay on lit streets, keep your bag closed in crowds, and use a licensed taxi "
     "late at night."),
    ("What is a good day trip from {c}?",
     "From {c}, catch an early train to the nearest coast or hills - pack water and be back for sunset drinks."),
)


def write_travel_jsonl(path: Path) -> Path:
    """80 `{prompt, response}` rows (CRLF line ends, like the lab's file)."""
    rows = [{"prompt": q.format(c=c), "response": a.format(c=c)} for c in _CITIES for q, a in _QA]
    path.write_bytes("".join(json.dumps(r, ensure_ascii=False) + "\r\n" for r in rows).encode("utf-8"))
    return path
