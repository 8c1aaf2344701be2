"""Local stand-ins for the Azure services the upload talks to, all on 127.0.0.1 over TLS.

* FakeArm: the few Azure Resource Manager calls azure-ai-ml makes for an upload (cloud metadata, default datastore,
  listSecrets, model versions), with switches for the error branches. listSecrets mints a real container SAS
  for Azurite with Azurite's public development key, so Azurite checks it for real.
* FakeAuthority: the Entra ID endpoints a device-code sign-in uses (OpenID configuration, devicecode, token).
* DropProxy: a TCP relay in front of Azurite that cuts connections mid-request, for the network-drop tests.

Shapes follow shared/docs/azure-offline-testing.md (observed with azure-ai-ml 1.35.2 and the real service's
recordings). Every request is kept in `.requests` for assertions.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import re
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ACCOUNT = "devstoreaccount1"
#: Azurite's well-known development key (public, documented by Azurite).
DEV_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
SUBSCRIPTION = "00000000-0000-0000-0000-000000000000"
RESOURCE_GROUP = "olive-lab-rg"
WORKSPACE = "olive-lab-ws"
DATASTORE = "workspaceblobstore"
WS_RE = (r"/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)/providers/"
         r"Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)")


def _tls_server(handler, certs) -> ThreadingHTTPServer:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(certs.cert), str(certs.key))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True, name=f"{handler.__name__}").start()
    return server


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: object
    token: str


class _JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    owner = None  # set on the subclass

    def reply(self, code: int, obj) -> None:
        data = json.dumps(obj).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-ms-request-id", "fake")
        self.end_headers()
        self.wfile.write(data)

    def read_body(self) -> bytes:
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def log_message(self, *args) -> None:
        pass


def arm_error(code: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, **({"details": details} if details else {})}}


@dataclass
class FakeArm:
    """The ARM side of an Azure ML workspace. Reset the switches per test with `reset()`."""

    certs: object
    requests: list[Request] = field(default_factory=list)
    sas_issued: list[str] = field(default_factory=list)

    def __post_init__(self):
        owner = self
        handler = type("FakeArmHandler", (_ArmHandler,), {"owner": owner})
        self.server = _tls_server(handler, self.certs)
        self.port = self.server.server_address[1]
        self.lock = threading.Lock()
        self.reset()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/"

    @property
    def metadata_url(self) -> str:
        return f"{self.url}metadata/endpoints"

    def reset(self, *, storage_endpoint: str = "", container: str = "azureml-blobstore-test") -> None:
        self.requests = []
        self.sas_issued = []
        self.models: dict[tuple[str, str], dict] = {}
        self.storage_endpoint = storage_endpoint
        self.container = container
        self.workspaces = {(SUBSCRIPTION, RESOURCE_GROUP, WORKSPACE)}
        #: operations answered with 403 AuthorizationFailed: "datastores", "listSecrets", "models.read",
        #: "models.write"
        self.forbid: set[str] = set()
        #: (status, code, message) for listSecrets, or None
        self.list_secrets_error: tuple[int, str, str] | None = None
        #: how many listSecrets answers carry an already expired SAS (-1: all of them)
        self.expired_sas = 0
        #: tokens accepted in Authorization headers (None: any non-empty bearer token)
        self.accepted_tokens: set[str] | None = None

    # --- what tests look at ---

    def calls(self, method: str | None = None, contains: str = "") -> list[Request]:
        return [r for r in self.requests if (method is None or r.method == method) and contains in r.path]

    def model_puts(self) -> list[Request]:
        return [r for r in self.calls("PUT") if "/models/" in r.path]

    def seed_model(self, name: str, version: str, model_uri: str) -> None:
        path = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
                f"Microsoft.MachineLearningServices/workspaces/{WORKSPACE}/models/{name}/versions/{version}")
        self.models[(name, version)] = _model_resource(path, version, {
            "modelUri": model_uri, "modelType": "custom_model", "description": "seeded", "tags": {},
            "properties": {}, "isAnonymous": False, "isArchived": False})

    def mint_sas(self, expired: bool) -> str:
        from azure.storage.blob import ContainerSasPermissions, generate_container_sas

        now = dt.datetime.now(dt.timezone.utc)
        sas = generate_container_sas(
            ACCOUNT, self.container, account_key=DEV_KEY,
            permission=ContainerSasPermissions(read=True, write=True, create=True, add=True, list=True),
            start=now - dt.timedelta(hours=3 if expired else 0, minutes=5),
            expiry=now - dt.timedelta(hours=1) if expired else now + dt.timedelta(hours=1))
        self.sas_issued.append(sas)
        return sas


def _model_resource(path: str, version: str, properties: dict) -> dict:
    now = dt.datetime.now(dt.timezone.utc).isoformat()
    return {"id": path, "name": version, "type": "Microsoft.MachineLearningServices/workspaces/models/versions",
            "properties": {"flavors": {}, "stage": "Development", "jobName": None, **properties,
                           "provisioningState": "Succeeded"},
            "systemData": {"createdAt": now, "createdBy": "fake", "createdByType": "User", "lastModifiedAt": now}}


class _ArmHandler(_JsonHandler):
    owner: FakeArm

    def forbidden(self, action: str, scope: str) -> None:
        self.reply(403, arm_error(
            "AuthorizationFailed",
            f"The client 'learner@example.com' with object id '11111111-1111-1111-1111-111111111111' does not "
            f"have authorization to perform action '{action}' over scope '{scope}' or the scope is invalid. If "
            f"access was recently granted, please refresh your credentials."))

    def route(self) -> None:
        arm = self.owner
        parts = urlsplit(self.path)
        path, query = parts.path, parse_qs(parts.query)
        raw = self.read_body()
        body = json.loads(raw) if raw else None
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with arm.lock:
            arm.requests.append(Request(self.command, path, query, body, token))

        if path == "/metadata/endpoints":
            return self.reply(200, [{
                "name": "FakeCloud", "portal": "https://portal.fake.test/", "resourceManager": arm.url,
                "authentication": {"loginEndpoint": "https://login.fake.test/", "audiences": [arm.url]},
                "suffixes": {"storage": arm.storage_endpoint}}])
        if not token or (arm.accepted_tokens is not None and token not in arm.accepted_tokens):
            return self.reply(401, arm_error("InvalidAuthenticationToken", "The access token is invalid."))
        m = re.match(WS_RE, path)
        if not m:
            return self.reply(404, arm_error("NotFoundInFake", f"{self.command} {path}"))
        ws_id, rest = m.group(0), path[m.end():]
        if (m["sub"], m["rg"], m["ws"]) not in arm.workspaces:
            return self.reply(404, arm_error(
                "ResourceNotFound", f"The Resource 'Microsoft.MachineLearningServices/workspaces/{m['ws']}' under "
                                    f"resource group '{m['rg']}' was not found."))
        datastore = {
            "id": f"{ws_id}/datastores/{DATASTORE}", "name": DATASTORE,
            "type": "Microsoft.MachineLearningServices/workspaces/datastores",
            "properties": {"datastoreType": "AzureBlob", "accountName": ACCOUNT, "containerName": arm.container,
                           "endpoint": arm.storage_endpoint, "protocol": "https", "isDefault": True,
                           "credentials": {"credentialsType": "AccountKey"}}}

        if rest == "/datastores" and self.command == "GET":
            if "datastores" in arm.forbid:
                return self.forbidden("Microsoft.MachineLearningServices/workspaces/datastores/read", ws_id)
            return self.reply(200, {"value": [datastore]})
        if rest == f"/datastores/{DATASTORE}" and self.command == "GET":
            return self.reply(200, datastore)
        if rest == f"/datastores/{DATASTORE}/listSecrets" and self.command == "POST":
            if "listSecrets" in arm.forbid:
                return self.forbidden("Microsoft.MachineLearningServices/workspaces/datastores/listsecrets/action",
                                      f"{ws_id}/datastores/{DATASTORE}")
            if arm.list_secrets_error:
                status, code, message = arm.list_secrets_error
                return self.reply(status, arm_error(code, message))
            with arm.lock:
                expired = arm.expired_sas != 0
                if arm.expired_sas > 0:
                    arm.expired_sas -= 1
            return self.reply(200, {"secretsType": "Sas", "sasToken": arm.mint_sas(expired)})

        mv = re.fullmatch(r"/models/([^/]+)/versions(?:/([^/]+))?", rest)
        if mv:
            name, version = mv.group(1), mv.group(2)
            if self.command == "GET" and "models.read" in arm.forbid:
                return self.forbidden("Microsoft.MachineLearningServices/workspaces/models/versions/read", ws_id)
            not_found = arm_error("UserError", f"Could not find asset with name {name}",
                                  [{"code": "ModelNotFound", "message": "not found"}])
            if version is None and self.command == "GET":
                found = [v for (n, _), v in arm.models.items() if n == name]
                if not found:
                    return self.reply(404, not_found)
                found.sort(key=lambda v: v["systemData"]["createdAt"], reverse=True)
                return self.reply(200, {"value": found})
            old = arm.models.get((name, version))
            if self.command == "GET":
                return self.reply(200, old) if old else self.reply(404, not_found)
            if self.command == "PUT":
                if "models.write" in arm.forbid:
                    return self.forbidden("Microsoft.MachineLearningServices/workspaces/models/versions/write",
                                          f"{ws_id}/models/{name}")
                if old and old["properties"]["modelUri"] != body["properties"]["modelUri"]:
                    return self.reply(400, arm_error("UserError", "Asset paths cannot be updated."))
                arm.models[(name, version)] = _model_resource(ws_id + rest, version, body["properties"])
                return self.reply(200 if old else 201, arm.models[(name, version)])
        self.reply(404, arm_error("NotFoundInFake", f"{self.command} {path}"))

    do_GET = do_PUT = do_POST = do_DELETE = route


# --- device code -----------------------------------------------------------------------------------------------

def _b64url(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


@dataclass
class FakeAuthority:
    """Entra ID for `DeviceCodeCredential(authority=<this>, disable_instance_discovery=True)`."""

    certs: object
    pending_polls: int = 1
    #: "ok", or an OAuth error that ends the flow (e.g. "expired_token", "authorization_declined")
    outcome: str = "ok"
    user_code: str = "ABCD-EFGH"
    verification_uri: str = "https://microsoft.com/devicelogin"
    access_token: str = "fake-device-code-token"

    def __post_init__(self):
        handler = type("FakeAuthorityHandler", (_AuthorityHandler,), {"owner": self})
        self.server = _tls_server(handler, self.certs)
        self.port = self.server.server_address[1]
        self.polls = 0
        self.grants: list[str] = []

    @property
    def host(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def token_response(self, client_id: str, tenant: str) -> dict:
        tid = "22222222-2222-2222-2222-222222222222"
        now = int(time.time())
        id_token = ".".join([_b64url({"alg": "none", "typ": "JWT"}), _b64url({
            "iss": f"{self.host}/{tid}/v2.0", "sub": "learner", "aud": client_id, "tid": tid, "oid": "learner-oid",
            "preferred_username": "learner@example.com", "iat": now, "nbf": now, "exp": now + 3600}), ""])
        return {"token_type": "Bearer", "access_token": self.access_token, "expires_in": 3600,
                "ext_expires_in": 3600, "refresh_token": "fake-refresh-token", "id_token": id_token,
                "client_info": _b64url({"uid": "learner-oid", "utid": tid}), "scope": "openid profile offline_access"}


class _AuthorityHandler(_JsonHandler):
    owner: FakeAuthority

    def route(self) -> None:
        auth = self.owner
        path = urlsplit(self.path).path
        form = parse_qs(self.read_body().decode())
        m = re.fullmatch(r"/([^/]+)/(?:v2\.0/\.well-known/openid-configuration|oauth2/v2\.0/(devicecode|token))",
                         path)
        if not m:
            return self.reply(404, {"error": "not_found"})
        tenant, endpoint = m.group(1), m.group(2)
        base = f"{auth.host}/{tenant}"
        if endpoint is None:
            return self.reply(200, {
                "issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode"})
        if endpoint == "devicecode":
            return self.reply(200, {
                "device_code": "fake-device-code", "user_code": auth.user_code,
                "verification_uri": auth.verification_uri, "expires_in": 900, "interval": 1,
                "message": f"To sign in, open {auth.verification_uri} and enter the code {auth.user_code}."})
        grant = (form.get("grant_type") or [""])[0]
        auth.grants.append(grant)
        client_id = (form.get("client_id") or [""])[0]
        if grant.endswith("device_code"):
            auth.polls += 1
            if auth.polls <= auth.pending_polls:
                return self.reply(400, {"error": "authorization_pending",
                                        "error_description": "AADSTS70016: pending"})
            if auth.outcome != "ok":
                return self.reply(400, {"error": auth.outcome, "error_description": f"AADSTS: {auth.outcome}"})
        return self.reply(200, auth.token_response(client_id, tenant))

    do_GET = do_POST = route


# --- network drops ----------------------------------------------------------------------------------------------

class DropProxy:
    """Relays TCP to `target_port`; cuts a connection (RST) once it has carried `drop_after` bytes upstream.

    `drops` is how many connections to cut (-1: every one); the TLS inside passes through untouched.
    """

    def __init__(self, target_port: int, *, drop_after: int = 1_500_000, drops: int = 1):
        self.target_port, self.drop_after, self.drops = target_port, drop_after, drops
        self.cut = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        self.closed = False
        threading.Thread(target=self._accept, daemon=True, name="DropProxy").start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _take_drop(self) -> bool:
        with self.lock:
            if self.drops == 0:
                return False
            if self.drops > 0:
                self.drops -= 1
            self.cut += 1
            return True

    def _serve(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.target_port))
        state = {"sent": 0, "will_drop": None}

        def kill() -> None:
            for s in (client, upstream):
                try:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    s.close()
                except OSError:
                    pass

        def pump(src, dst, upstream_dir: bool) -> None:
            try:
                while True:
                    data = src.recv(65536)
                    if not data:
                        break
                    if upstream_dir:
                        state["sent"] += len(data)
                        if state["sent"] > self.drop_after:
                            if state["will_drop"] is None:
                                state["will_drop"] = self._take_drop()
                            if state["will_drop"]:
                                kill()
                                return
                    dst.sendall(data)
            except OSError:
                pass
            finally:
                for s in (src, dst):
                    try:
                        s.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass

        threading.Thread(target=pump, args=(upstream, client, False), daemon=True).start()
        pump(client, upstream, True)

    def close(self) -> None:
        self.closed = True
        self.listener.close()
