"""pytest fixtures for the upload tests: TLS certificates, real Azurite, the fake ARM, env for in-process and
subprocess runs, and a small fake model folder.

Import with `from aml_fixtures import *` after putting tests/azure on sys.path (the test modules do it). Azurite
is the npm package (`bash tests/azure/install-azurite.sh`); without `azurite-blob` the tests that need it skip.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from aml_fakes import ACCOUNT, DEV_KEY, RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, FakeArm, FakeAuthority

HERE = Path(__file__).resolve().parent
SHIM_DIR = HERE / "shim"
FAKE_BIN = HERE / "bin"
AZURITE_HINT = "azurite-blob is not installed: run `bash tests/azure/install-azurite.sh` (needs Node.js and npm)"

#: Variables of the developer's own Azure setup that must not leak into a test.
HOST_VARS = ("AZURE_SUBSCRIPTION_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_ID", "AZURE_CLIENT_SECRET",
             "AZURE_AUTHORITY_HOST", "AZURE_CONFIG_DIR", "AZUREML_CURRENT_CLOUD", "ARM_CLOUD_METADATA_URL",
             "MSI_ENDPOINT", "MSI_SECRET", "IDENTITY_ENDPOINT", "IDENTITY_HEADER", "OLIVE_LAB_RESOURCE_GROUP",
             "OLIVE_LAB_WORKSPACE", "CI_RESOURCE_GROUP", "CI_WORKSPACE", "REQUESTS_CA_BUNDLE",
             "AZURE_TOKEN_CREDENTIALS", "FAKE_AZ_MODE", "FAKE_AZ_TOKEN")

__all__ = ["aml_certs", "dns_shim", "azurite", "fake_arm", "arm", "aml_env", "model_folder", "fake_authority",
           "Azurite", "make_model_folder", "subprocess_env", "SUBSCRIPTION", "RESOURCE_GROUP", "WORKSPACE"]


@dataclass(frozen=True)
class Certs:
    ca: Path
    cert: Path
    key: Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def azurite_binary() -> str | None:
    """$AZURITE_BLOB, azurite-blob on PATH, or where install-azurite.sh puts it when it cannot install globally."""
    local = Path.home() / ".local" / "bin" / "azurite-blob"
    return os.environ.get("AZURITE_BLOB") or shutil.which("azurite-blob") or (str(local) if local.exists() else None)


class Azurite:
    """A real azurite-blob on a free port, TLS, with its data in a temporary folder."""

    def __init__(self, binary: str, certs: Certs, workdir: Path):
        self.certs = certs
        self.port = free_port()
        self.log = workdir / "azurite.log"
        self.proc = subprocess.Popen(
            [binary, "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", str(workdir / "data"),
             "--silent", "--skipApiVersionCheck", "--disableTelemetry", "--cert", str(certs.cert),
             "--key", str(certs.key)],
            stdout=self.log.open("wb"), stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"Azurite did not start: {self.log.read_text(errors='replace')[-2000:]}")
                time.sleep(0.1)
        self.service = self._service()

    @property
    def endpoint(self) -> str:
        """The storage suffix a datastore names: the SDK builds https://<account>.blob.<endpoint>."""
        return f"localhost:{self.port}"

    def _service(self):
        from azure.storage.blob import BlobServiceClient

        return BlobServiceClient(f"https://{ACCOUNT}.blob.localhost:{self.port}",
                                 credential={"account_name": ACCOUNT, "account_key": DEV_KEY},
                                 connection_verify=str(self.certs.ca), retry_total=0)

    def new_container(self) -> str:
        name = f"azureml-blobstore-{uuid.uuid4().hex[:12]}"
        self.service.create_container(name)
        return name

    def blobs(self, container: str) -> dict[str, tuple[int, dict]]:
        """name -> (size, metadata) of every blob in `container`."""
        client = self.service.get_container_client(container)
        return {b.name: (b.size, dict(b.metadata or {})) for b in client.list_blobs(include=["metadata"])}

    def read(self, container: str, name: str) -> bytes:
        return self.service.get_blob_client(container, name).download_blob().readall()

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def make_model_folder(root: Path, *, big: int = 9 * 1024 * 1024, seed: bytes = b"olive") -> Path:
    """A folder shaped like `olive auto-opt --use_ort_genai` output, with small fake files.

    `model.onnx.data` is `big` bytes, so it goes up in 4 MiB blocks (progress, drops and cancel mid-file).
    """
    folder = root / "onnx-ao"
    model = folder / "model"
    model.mkdir(parents=True)
    (model / "genai_config.json").write_text('{"model": {"type": "phi3"}}\n')
    (model / "model.onnx").write_bytes(b"fake onnx graph " + seed)
    (model / "adapter_weights.onnx_adapter").write_bytes(b"fake adapter " + seed * 100)
    (model / "tokenizer.json").write_text('{"version": "1.0"}\n')
    block = (seed * 1024)[:1024]
    (model / "model.onnx.data").write_bytes((block * (big // len(block) + 1))[:big])
    return folder


def subprocess_env(arm: FakeArm, certs: Certs, azure_config_dir: Path, **extra: str) -> dict[str, str]:
    """The environment for running `olive-lab upload` against the fakes: 3 variables, a fake `az` on PATH."""
    env = {k: v for k, v in os.environ.items() if k not in HOST_VARS}
    env.update({
        "ARM_CLOUD_METADATA_URL": arm.metadata_url,
        "REQUESTS_CA_BUNDLE": str(certs.ca),
        "PYTHONPATH": os.pathsep.join([str(SHIM_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]),
        "PATH": os.pathsep.join([str(FAKE_BIN), os.environ.get("PATH", "")]),
        "AZURE_CONFIG_DIR": str(azure_config_dir),
        "NO_PROXY": "127.0.0.1,localhost,.localhost",  # a developer's proxy must not see loopback traffic
        "no_proxy": "127.0.0.1,localhost,.localhost",
        "NO_COLOR": "1",
        "COLUMNS": "120",
    })
    env.update(extra)
    return env


@pytest.fixture(scope="session")
def aml_certs(tmp_path_factory) -> Certs:
    trustme = pytest.importorskip("trustme", reason="trustme is needed for the TLS test certificates "
                                                    "(pip install -e '.[test]')")
    folder = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server = ca.issue_cert("localhost", "*.blob.localhost", "127.0.0.1")
    certs = Certs(folder / "ca.pem", folder / "cert.pem", folder / "key.pem")
    ca.cert_pem.write_to_path(str(certs.ca))
    certs.cert.write_bytes(b"".join(blob.bytes() for blob in server.cert_chain_pems))
    server.private_key_pem.write_to_path(str(certs.key))
    return certs


@pytest.fixture(scope="session")
def dns_shim():
    """The same *.localhost shim the subprocesses get through PYTHONPATH, in this process."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("olive_lab_test_dns_shim", SHIM_DIR / "sitecustomize.py")
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)  # installs it
    yield
    shim.uninstall()


@pytest.fixture(scope="session")
def azurite(aml_certs, dns_shim, tmp_path_factory):
    binary = azurite_binary()
    if not binary:
        pytest.skip(AZURITE_HINT)
    server = Azurite(binary, aml_certs, tmp_path_factory.mktemp("azurite"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_arm(aml_certs):
    arm = FakeArm(aml_certs)
    yield arm
    arm.server.shutdown()


@pytest.fixture
def arm(fake_arm, azurite):
    """The fake ARM, reset, pointing at a fresh Azurite container."""
    fake_arm.reset(storage_endpoint=azurite.endpoint, container=azurite.new_container())
    return fake_arm


@pytest.fixture
def aml_env(arm, aml_certs, tmp_path, monkeypatch):
    """This process set up like the subprocess env (for in-process calls); returns the subprocess env too."""
    azure_config_dir = tmp_path / "azure-config"
    azure_config_dir.mkdir()
    env = subprocess_env(arm, aml_certs, azure_config_dir)
    for name in HOST_VARS:
        monkeypatch.delenv(name, raising=False)
    for name in ("ARM_CLOUD_METADATA_URL", "REQUESTS_CA_BUNDLE", "PATH", "AZURE_CONFIG_DIR", "NO_PROXY", "no_proxy"):
        monkeypatch.setenv(name, env[name])
    yield env
    os.environ.pop("AZUREML_CURRENT_CLOUD", None)  # MLClient sets it process-wide


@pytest.fixture
def model_folder(tmp_path) -> Path:
    return make_model_folder(tmp_path / "models" / "phi")


@pytest.fixture
def fake_authority(aml_certs):
    authority = FakeAuthority(aml_certs)
    yield authority
    authority.server.shutdown()
