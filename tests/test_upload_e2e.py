"""The upload end to end: real azure-ai-ml and azure-storage-blob against real Azurite (TLS) and the fake ARM.

Black-box where it can be: `olive-lab upload` runs as a subprocess with only ARM_CLOUD_METADATA_URL,
REQUESTS_CA_BUNDLE, PYTHONPATH (a *.localhost DNS shim) and a fake `az` on PATH. Branches that need a fast retry
policy or a cancel at a precise moment call `upload()` in this process, set up the same way.
Skipped, with the reason, only when `azurite-blob` is not installed (`bash tests/azure/install-azurite.sh`).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "azure"))
from aml_fakes import DATASTORE, DropProxy  # noqa: E402
from aml_fixtures import *  # noqa: E402,F401,F403 - fixtures
from aml_fixtures import RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, make_model_folder  # noqa: E402

from olive_lab.steps import upload as up  # noqa: E402

WS_ID = (f"/subscriptions/{SUBSCRIPTION}/resourceGroups/{RESOURCE_GROUP}/providers/"
         f"Microsoft.MachineLearningServices/workspaces/{WORKSPACE}")
MODEL_FILES = {"model/adapter_weights.onnx_adapter", "model/genai_config.json", "model/model.onnx",
               "model/model.onnx.data", "model/tokenizer.json"}


def olive_lab_cmd() -> list[str]:
    script = Path(sys.executable).with_name("olive-lab")
    return [str(script)] if script.exists() else [sys.executable, "-m", "olive_lab"]


@pytest.fixture
def lab(tmp_path, aml_env):
    """A lab work folder holding the optimized model where the lab writes it (models/phi/onnx-ao)."""
    workdir = tmp_path / "lab"
    make_model_folder(workdir / "models" / "phi")
    return workdir


def run_cli(env: dict, workdir: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([*olive_lab_cmd(), "upload", "--workdir", str(workdir), *args], env=env,
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)


def target_args(*extra: str) -> list[str]:
    return ["--subscription", SUBSCRIPTION, "--resource-group", RESOURCE_GROUP, "--workspace", WORKSPACE, *extra]


def assert_no_secrets(arm, *texts: str) -> None:
    """None of the SAS tokens the fake handed out (nor their signatures) appear in `texts`."""
    assert arm.sas_issued, "the test expected the upload to fetch a SAS"
    for sas in arm.sas_issued:
        signature = [part for part in sas.lstrip("?").split("&") if part.startswith("sig=")][0][4:]
        for text in texts:
            assert signature not in text
            assert sas not in text


def state(workdir: Path) -> dict:
    return json.loads((workdir / ".olive-lab" / "state" / "upload.json").read_text())


class StaticToken:
    """A credential for in-process calls (the CLI tests use the fake `az`)."""

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        return AccessToken("static-test-token", int(time.time()) + 3600)


def request(folder: Path, **fields) -> up.UploadRequest:
    return up.UploadRequest(subscription_id=SUBSCRIPTION, resource_group=RESOURCE_GROUP, workspace=WORKSPACE,
                            folder=folder, **fields)


def fast_retry(total: int = 2):
    from azure.storage.blob import LinearRetry

    return LinearRetry(backoff=0.2, random_jitter_range=0, retry_total=total)


# --- the happy path, black-box ----------------------------------------------------------------------------------

def test_cli_uploads_files_and_registers_the_model(arm, azurite, lab, aml_env):
    (lab / ".azureml").mkdir()
    (lab / ".azureml" / "config.json").write_text(json.dumps(
        {"subscription_id": "ignored-because-env-wins", "resource_group": "ignored", "workspace_name": WORKSPACE}))
    env = {**aml_env, "AZURE_SUBSCRIPTION_ID": SUBSCRIPTION}

    proc = run_cli(env, lab, "--resource-group", RESOURCE_GROUP, "--version", "1", "--tag", "run=e2e")

    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "from --resource-group" in out
    assert "from environment (AZURE_SUBSCRIPTION_ID)" in out
    assert f"from config.json ({lab / '.azureml' / 'config.json'})" in out
    assert "with Azure CLI" in out
    assert f"Registered azureml:ft-for-travel:1 in workspace {WORKSPACE}" in out
    assert f"asset id   {WS_ID}/models/ft-for-travel/versions/1" in out
    assert f"/model/ft-for-travel:1/details?wsid=/subscriptions/{SUBSCRIPTION}/resourcegroups/" in out

    # The files, under the content-addressed prefix, with their own hashes; identical bytes.
    blobs = azurite.blobs(arm.container)
    prefixes = {name.split("/")[1] for name in blobs}
    assert len(prefixes) == 1
    digest = prefixes.pop()
    prefix = f"olive-lab/{digest}/onnx-ao/"
    assert set(blobs) == {prefix + name for name in MODEL_FILES}
    source = lab / "models" / "phi" / "onnx-ao"
    for name in MODEL_FILES:
        assert azurite.read(arm.container, prefix + name) == (source / name).read_bytes()
        assert blobs[prefix + name][1]["sha256"]

    # The registration: one PUT, last, pointing at that folder.
    puts = arm.model_puts()
    assert len(puts) == 1
    assert [r for r in arm.requests if r.path != "/metadata/endpoints"][-1] is puts[0]  # registered last
    assert puts[0].path == f"{WS_ID}/models/ft-for-travel/versions/1"
    body = puts[0].body["properties"]
    assert body["modelUri"] == (f"azureml://subscriptions/{SUBSCRIPTION}/resourcegroups/{RESOURCE_GROUP}/workspaces/"
                                f"{WORKSPACE}/datastores/{DATASTORE}/paths/olive-lab/{digest}/onnx-ao")
    assert body["modelType"] == "custom_model"
    assert body["description"] == up.DEFAULT_DESCRIPTION
    assert body["tags"]["run"] == "e2e"
    assert body["tags"]["olive-lab.content-sha256"] == digest
    assert {r.token for r in arm.requests if r.token} == {"fake-cli-token"}

    saved = state(lab)
    assert saved["status"] == "done"
    assert saved["outputs"]["asset_id"] == f"{WS_ID}/models/ft-for-travel/versions/1"
    assert_no_secrets(arm, proc.stdout, proc.stderr, json.dumps(saved))


def test_rerun_with_the_same_files_registers_nothing_new(arm, azurite, lab, aml_env):
    assert run_cli(aml_env, lab, *target_args("--version", "1")).returncode == 0
    blob_count = len(azurite.blobs(arm.container))
    arm.requests.clear()

    again = run_cli(aml_env, lab, *target_args("--version", "1"))
    next_free = run_cli(aml_env, lab, *target_args())  # no version: finds the files already registered as 1

    for proc in (again, next_free):
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "Already registered: azureml:ft-for-travel:1" in proc.stdout
    assert arm.model_puts() == []
    assert len(azurite.blobs(arm.container)) == blob_count


def test_version_taken_by_other_files_offers_the_next_free_one(arm, azurite, lab, aml_env):
    arm.seed_model("ft-for-travel", "1", "azureml://subscriptions/x/resourcegroups/y/workspaces/z/datastores/"
                                         "workspaceblobstore/paths/LocalUpload/other/onnx-ao")

    taken = run_cli(aml_env, lab, *target_args("--version", "1"))

    assert taken.returncode == 2, taken.stdout + taken.stderr
    assert "Version 1 of model 'ft-for-travel' already exists" in taken.stderr
    assert "next free version, 2" in taken.stderr
    assert azurite.blobs(arm.container) == {}  # refused before anything was sent
    assert arm.model_puts() == []

    auto = run_cli(aml_env, lab, *target_args())
    assert auto.returncode == 0, auto.stdout + auto.stderr
    assert "Registered azureml:ft-for-travel:2" in auto.stdout
    assert [p.path.rsplit("/", 1)[1] for p in arm.model_puts()] == ["2"]


# --- sign-in ----------------------------------------------------------------------------------------------------

def test_not_signed_in_says_how_to_sign_in(arm, lab, aml_env):
    proc = run_cli({**aml_env, "FAKE_AZ_MODE": "signed-out"}, lab, *target_args())

    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Not signed in to Azure" in proc.stderr
    assert "az login --use-device-code" in proc.stderr
    assert "--device-code" in proc.stderr
    assert [r for r in arm.requests if r.path != "/metadata/endpoints"] == []
    assert state(lab)["status"] == "failed"
    assert state(lab)["exit_code"] == 3


def test_device_code_sign_in_against_a_local_authority(arm, azurite, lab, aml_env, fake_authority):
    env = {**aml_env, "FAKE_AZ_MODE": "signed-out", "AZURE_AUTHORITY_HOST": fake_authority.host}

    proc = run_cli(env, lab, *target_args("--device-code"))

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "open https://microsoft.com/devicelogin and enter the code ABCD-EFGH" in proc.stderr
    assert "with device code" in proc.stdout
    assert fake_authority.polls >= 2  # pending first, then the token
    assert {r.token for r in arm.requests if r.token} == {"fake-device-code-token"}
    assert "fake-device-code-token" not in proc.stdout + proc.stderr
    assert len(arm.model_puts()) == 1


def test_device_code_that_expires_is_a_clear_sign_in_error(arm, lab, aml_env, fake_authority):
    fake_authority.outcome = "expired_token"
    env = {**aml_env, "AZURE_AUTHORITY_HOST": fake_authority.host}

    proc = run_cli(env, lab, *target_args("--device-code"))

    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert "Device-code sign-in did not finish" in proc.stderr
    assert "within 15 minutes" in proc.stderr
    assert arm.model_puts() == []


# --- Azure says no ----------------------------------------------------------------------------------------------

def test_forbidden_names_the_missing_role(arm, azurite, lab, aml_env):
    arm.forbid = {"listSecrets"}

    proc = run_cli(aml_env, lab, *target_args())

    assert proc.returncode == 3, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())
    assert '"AzureML Data Scientist"' in err
    assert "workspaces/datastores/listsecrets/action" in err
    assert "listSecrets" in err
    assert f"--scope {WS_ID}" in err
    assert azurite.blobs(arm.container) == {}


def test_forbidden_registration_keeps_the_files_for_the_rerun(arm, azurite, lab, aml_env):
    arm.forbid = {"models.write"}
    denied = run_cli(aml_env, lab, *target_args("--version", "1"))
    assert denied.returncode == 3, denied.stdout + denied.stderr
    assert "workspaces/models/versions/write" in " ".join(denied.stderr.split())
    assert "ft-for-travel" not in {name for name, _ in arm.models}
    uploaded = azurite.blobs(arm.container)
    assert len(uploaded) == len(MODEL_FILES)

    arm.forbid = set()
    granted = run_cli(aml_env, lab, *target_args("--version", "1"))

    assert granted.returncode == 0, granted.stdout + granted.stderr
    assert "5 of 5 files were already there" in granted.stdout
    assert azurite.blobs(arm.container) == uploaded


def test_list_secrets_failure_is_reported(arm, azurite, lab, aml_env):
    arm.list_secrets_error = (400, "UserError", "Unable to get the credentials of datastore workspaceblobstore.")

    proc = run_cli(aml_env, lab, *target_args())

    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())
    assert "storage credentials of the workspace's default datastore (listSecrets)" in err
    assert "Unable to get the credentials of datastore workspaceblobstore." in err
    assert azurite.blobs(arm.container) == {}


def test_unknown_workspace_is_a_usage_error(arm, lab, aml_env):
    proc = run_cli(aml_env, lab, "--subscription", SUBSCRIPTION, "--resource-group", RESOURCE_GROUP,
                   "--workspace", "no-such-ws")

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "Azure found no workspace 'no-such-ws'" in proc.stderr
    assert "az ml workspace list" in proc.stderr


# --- storage trouble --------------------------------------------------------------------------------------------

def test_expired_sas_is_replaced_once(arm, azurite, model_folder, aml_env):
    arm.expired_sas = 1

    result = up.upload(request(model_folder), StaticToken())

    assert result.version == "1"
    assert len(arm.calls("POST", "listSecrets")) == 2
    assert len(azurite.blobs(arm.container)) == len(MODEL_FILES)


def test_sas_that_stays_expired_is_a_clear_error_without_the_sas(arm, azurite, lab, aml_env):
    arm.expired_sas = -1

    proc = run_cli(aml_env, lab, *target_args())

    assert proc.returncode == 1, proc.stdout + proc.stderr
    err = " ".join(proc.stderr.split())
    assert "Storage refused the workspace's access token (SAS)" in err
    assert "expired at" in err and "date -u" in err
    assert arm.model_puts() == []
    assert_no_secrets(arm, proc.stdout, proc.stderr, json.dumps(state(lab)))


def test_network_drop_mid_upload_is_retried(arm, azurite, model_folder, aml_env):
    proxy = DropProxy(azurite.port, drop_after=2_000_000, drops=1)
    arm.storage_endpoint = f"localhost:{proxy.port}"
    try:
        result = up.upload(request(model_folder), StaticToken(), storage_retry=fast_retry())
    finally:
        proxy.close()

    assert proxy.cut == 1
    assert result.uploaded_bytes == result.bytes
    source = model_folder / "model" / "model.onnx.data"
    assert azurite.read(arm.container, f"olive-lab/{result.content_sha256}/onnx-ao/model/model.onnx.data") == \
        source.read_bytes()


def test_network_that_stays_down_fails_clearly_and_the_rerun_resumes(arm, azurite, model_folder, aml_env, caplog):
    caplog.set_level(logging.DEBUG)
    proxy = DropProxy(azurite.port, drop_after=2_000_000, drops=-1)
    arm.storage_endpoint = f"localhost:{proxy.port}"
    started = time.monotonic()
    try:
        with pytest.raises(up.NetworkError) as failure:
            up.upload(request(model_folder), StaticToken(), storage_retry=fast_retry(2))
    finally:
        proxy.close()

    assert time.monotonic() - started < 60
    assert proxy.cut >= 3  # the first try and two retries
    assert "Lost the connection to storage" in failure.value.message
    assert "retries (2 of them)" in failure.value.message
    assert "run the same upload again" in failure.value.advice
    assert arm.model_puts() == []
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert "sig=" in logged or "PUT" in logged  # urllib3 did log the requests...
    assert_no_secrets(arm, str(failure.value), logged)  # ...with the signature scrubbed

    arm.storage_endpoint = azurite.endpoint
    result = up.upload(request(model_folder), StaticToken())
    assert result.skipped_files >= 3  # the small files before model.onnx.data were kept
    assert result.uploaded_bytes < result.bytes
    assert len(arm.model_puts()) == 1


def test_cancel_mid_upload_registers_nothing_and_the_rerun_finishes(arm, azurite, tmp_path, aml_env):
    folder = make_model_folder(tmp_path, big=24 * 1024 * 1024)
    cancel = threading.Event()
    seen: list[tuple[int, int, str]] = []

    def on_progress(done, total, name):
        seen.append((done, total, name))
        if name == "model/model.onnx.data" and done > 4 * 1024 * 1024:
            cancel.set()

    with pytest.raises(up.UploadCancelled) as stopped:
        up.upload(request(folder), StaticToken(), on_progress, cancel)

    assert "nothing was registered" in stopped.value.message
    assert arm.model_puts() == []
    assert seen[-1][0] < seen[-1][1]
    done = up.upload(request(folder), StaticToken(), on_progress, threading.Event())
    assert done.version == "1"
    assert done.skipped_files >= 2


def test_progress_is_byte_level_and_monotonic_per_file(arm, azurite, tmp_path, aml_env):
    folder = make_model_folder(tmp_path, big=20 * 1024 * 1024)
    seen: list[tuple[int, int, str]] = []
    lock = threading.Lock()

    def on_progress(done, total, name):
        with lock:
            seen.append((done, total, name))

    result = up.upload(request(folder), StaticToken(), on_progress, threading.Event())

    big = [done for done, _, name in seen if name == "model/model.onnx.data"]
    assert len(set(big)) >= 5  # 4 MiB blocks, not one jump per file
    assert seen[-1][0] == seen[-1][1] == result.bytes
    assert all(total == result.bytes for _, total, _ in seen)


def test_no_secret_in_logs_of_a_whole_upload(arm, azurite, model_folder, aml_env, caplog):
    caplog.set_level(logging.DEBUG)

    result = up.upload(request(model_folder), StaticToken())

    assert result.version == "1"
    assert_no_secrets(arm, "\n".join(r.getMessage() for r in caplog.records), repr(result))


@pytest.mark.slow
def test_cli_uploads_the_real_optimized_model_of_the_cpu_lab(cpu_lab, arm, azurite, aml_env, tmp_path):
    """The folder the real `olive auto-opt` wrote passes the folder check and lands whole, tagged with the run."""
    import shutil

    workdir = tmp_path / "cpu-lab-copy"  # a copy: the shared session lab stays as other tests expect it
    shutil.copytree(cpu_lab.workdir, workdir, ignore=shutil.ignore_patterns(".hf", ".cache", ".olive-cache"))

    proc = run_cli(aml_env, workdir, *target_args())

    assert proc.returncode == 0, proc.stdout + proc.stderr
    source = workdir / "models" / "phi" / "onnx-ao"
    files = {p.relative_to(source).as_posix() for p in source.rglob("*") if p.is_file()}
    blobs = azurite.blobs(arm.container)
    assert {name.split("/onnx-ao/", 1)[1] for name in blobs} == files
    tags = arm.model_puts()[0].body["properties"]["tags"]
    assert tags["olive-lab.profile"] == "cpu"
    assert tags["olive-lab.base-model"] == "tiny"
    assert {"olive-lab.fingerprint.optimize", "olive-lab.fingerprint.finetune"} <= set(tags)
