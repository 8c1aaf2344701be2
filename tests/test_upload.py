"""The upload step's parts that need no Azure: where values come from, naming rules, the model folder, sign-in
messages, secrets kept out of text and logs, and the CLI's refusals. The end-to-end runs are in
test_upload_e2e.py."""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

import pytest

from olive_lab.cli import main
from olive_lab.steps import azure_auth, azure_target
from olive_lab.steps import upload as up
from olive_lab.steps.upload.content import datastore_path, hash_folder
from olive_lab.steps.workspace import StepState, Workspace

FAKE_BIN = Path(__file__).parent / "azure" / "bin"
SUB = "00000000-0000-0000-0000-000000000000"
SUB2 = "11111111-1111-1111-1111-111111111111"


def write_config(folder: Path, **data) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.json"
    path.write_text(json.dumps(data))
    return path


# --- where the values come from ---------------------------------------------------------------------------------

def test_first_source_wins_per_value_and_says_where(tmp_path):
    azure_dir = tmp_path / "azcfg"
    azure_dir.mkdir()
    (azure_dir / "azureProfile.json").write_bytes(b"\xef\xbb\xbf" + json.dumps({"subscriptions": [
        {"id": SUB2, "name": "other", "isDefault": False},
        {"id": "cli-sub", "name": "Lab subscription", "isDefault": True}]}).encode())
    (azure_dir / "config").write_text("[defaults]\ngroup = cli-rg\nworkspace = cli-ws\n")
    project = tmp_path / "project"
    config = write_config(project / ".azureml", subscription_id="cfg-sub", resource_group="cfg-rg",
                          workspace_name="cfg-ws")
    env = {"AZURE_CONFIG_DIR": str(azure_dir), "OLIVE_LAB_WORKSPACE": "env-ws", "CI_RESOURCE_GROUP": "ci-rg"}

    t = up.resolve_target({"resource_group": "flag-rg", "workspace": ""}, start=project, env=env)

    assert (t.resource_group.value, t.resource_group.source) == ("flag-rg", azure_target.EXPLICIT)
    assert (t.workspace.value, t.workspace.source, t.workspace.detail) == ("env-ws", azure_target.ENVIRONMENT,
                                                                          "OLIVE_LAB_WORKSPACE")
    assert (t.subscription_id.value, t.subscription_id.source, t.subscription_id.detail) == (
        "cfg-sub", azure_target.CONFIG_FILE, str(config))
    assert t.missing() == []

    no_config = up.resolve_target({}, start=tmp_path / "elsewhere", env=env)
    assert (no_config.resource_group.value, no_config.resource_group.source) == ("ci-rg",
                                                                                 azure_target.COMPUTE_INSTANCE)
    assert no_config.subscription_id.value == "cli-sub"
    assert no_config.subscription_id.source == azure_target.AZURE_CLI
    assert "Lab subscription" in no_config.subscription_id.detail

    only_cli = up.resolve_target({}, start=tmp_path / "elsewhere", env={"AZURE_CONFIG_DIR": str(azure_dir)})
    assert only_cli.values() == {"subscription_id": "cli-sub", "resource_group": "cli-rg", "workspace": "cli-ws"}
    assert only_cli.workspace.detail.endswith("config [defaults] workspace")


def test_nothing_found_lists_how_to_set_each_value(tmp_path):
    t = up.resolve_target({}, start=tmp_path, env={"AZURE_CONFIG_DIR": str(tmp_path / "none")})
    assert t.missing() == ["subscription_id", "resource_group", "workspace"]
    problems = " ".join(t.problems())
    assert "AZURE_SUBSCRIPTION_ID" in problems and "az configure --defaults group=" in problems


def test_broken_config_is_skipped_with_a_note(tmp_path):
    (tmp_path / "config.json").write_text('{"subscription_id": "x"}')
    t = up.resolve_target({}, start=tmp_path, env={"AZURE_CONFIG_DIR": str(tmp_path / "none")})
    assert t.subscription_id.value is None
    assert "lacks resource_group, workspace_name" in t.notes[0]


@pytest.mark.parametrize("layout", ["plain-here", "azureml-in-parent-beats-plain-here", "aml_config-deep",
                                    "scope-format", "project-json"])
def test_config_search_matches_the_sdk(tmp_path, monkeypatch, layout):
    pytest.importorskip("azure.ai.ml")
    from azure.ai.ml import MLClient

    start = tmp_path / "a" / "b" / "c"
    start.mkdir(parents=True)
    if layout == "plain-here":
        write_config(start, subscription_id="s1", resource_group="r1", workspace_name="w1")
    elif layout == "azureml-in-parent-beats-plain-here":
        write_config(start, subscription_id="plain", resource_group="plain", workspace_name="plain")
        write_config(tmp_path / "a" / ".azureml", subscription_id="s2", resource_group="r2", workspace_name="w2")
    elif layout == "aml_config-deep":
        write_config(tmp_path / "aml_config", subscription_id="s3", resource_group="r3", workspace_name="w3")
    elif layout == "scope-format":
        write_config(start, Scope=f"/subscriptions/{SUB}/resourceGroups/rg4/providers/"
                                  "Microsoft.MachineLearningServices/workspaces/ws4")
    else:
        (start / "project.json").write_text(json.dumps(
            {"subscription_id": "s5", "resource_group": "r5", "workspace_name": "w5"}))
    for name in ("ARM_CLOUD_METADATA_URL", "AZUREML_CURRENT_CLOUD"):
        monkeypatch.delenv(name, raising=False)

    ml = MLClient.from_config(credential=object(), path=start)
    os.environ.pop("AZUREML_CURRENT_CLOUD", None)
    ours = azure_target.read_workspace_config(azure_target.find_workspace_config(start))

    assert ours == {"subscription_id": ml.subscription_id, "resource_group": ml.resource_group_name,
                    "workspace": ml.workspace_name}


# --- naming rules and the folder --------------------------------------------------------------------------------

def request(**fields) -> up.UploadRequest:
    base = dict(subscription_id=SUB, resource_group="olive-lab-rg", workspace="olive-lab-ws", version="1")
    return up.UploadRequest(**{**base, **fields})


def test_a_good_request_has_no_problems():
    assert up.validate_request(request()) == []
    assert up.validate_request(request(version=None, name="ft_for-travel2", resource_group="rg.(x)")) == []


@pytest.mark.parametrize("fields, expected", [
    ({"name": ""}, "The model name is empty"),
    ({"name": "ft for travel"}, "characters Azure ML does not allow in model names: ' '"),
    ({"name": "ft.for.travel"}, "'-' and '_' only, e.g. 'ft-for-travel'"),
    ({"name": "-ft"}, "start with a letter or digit"),
    ({"name": "x" * 256}, "at most 255"),
    ({"version": "1 2"}, "cannot be part of an Azure ML asset version: ' '"),
    ({"version": "1:2"}, "':'"),
    ({"version": " "}, "The version is empty"),
    ({"version": ".1"}, "must start with a letter or digit"),
    ({"subscription_id": None}, "The subscription is not set: pass --subscription"),
    ({"subscription_id": "my-sub"}, "a subscription id is a GUID"),
    ({"resource_group": "rg."}, "do not end in '.'"),
    ({"workspace": "ws"}, "workspace names have 3-33"),
    ({"workspace": None}, "OLIVE_LAB_WORKSPACE"),
    ({"tags": {"": "x"}}, "A tag has an empty key"),
])
def test_each_broken_rule_says_what_and_how(fields, expected):
    problems = up.validate_request(request(**fields))
    assert len(problems) == 1, problems
    assert expected in problems[0]


def test_model_folder_check_names_what_is_missing(tmp_path):
    assert "does not exist" in up.check_model_folder(tmp_path / "nope")[0]
    (tmp_path / "empty").mkdir()
    assert "is empty" in up.check_model_folder(tmp_path / "empty")[0]
    part = tmp_path / "part" / "model"
    part.mkdir(parents=True)
    (part / "genai_config.json").write_text("{}")
    (part / "model.onnx").write_bytes(b"x")
    assert up.check_model_folder(tmp_path / "part") == [
        f"The model folder {tmp_path / 'part'} has no adapter file (adapter_weights.onnx_adapter): run the "
        "optimize step first (`olive-lab run`), or give the folder that `olive auto-opt` wrote (--folder)."]
    (part / "adapter_weights.onnx_adapter").write_bytes(b"x")
    assert up.check_model_folder(tmp_path / "part") == []
    only_data = tmp_path / "data"
    only_data.mkdir()
    (only_data / "model.onnx.data").write_bytes(b"x")
    assert len(up.check_model_folder(only_data)) == 3


def test_folder_digest_follows_names_and_content(tmp_path):
    folder = tmp_path / "m"
    (folder / "sub").mkdir(parents=True)
    (folder / "a.bin").write_bytes(b"a")
    (folder / "sub" / "b.bin").write_bytes(b"b")
    files, digest = hash_folder(folder, threading.Event())
    assert [f.rel for f in files] == ["a.bin", "sub/b.bin"]
    assert hash_folder(folder, threading.Event())[1] == digest
    (folder / "sub" / "b.bin").rename(folder / "sub" / "c.bin")
    assert hash_folder(folder, threading.Event())[1] != digest
    cancelled = threading.Event()
    cancelled.set()
    with pytest.raises(up.UploadCancelled):
        hash_folder(folder, cancelled)


def test_model_paths_compare_short_and_long_forms():
    short = "azureml://datastores/workspaceblobstore/paths/olive-lab/abc/onnx-ao"
    long = ("azureml://subscriptions/s/resourcegroups/r/workspaces/w/datastores/WorkspaceBlobStore/paths/"
            "olive-lab/abc/onnx-ao/")
    assert datastore_path(short) == datastore_path(long)
    assert datastore_path(short) != datastore_path(long.replace("abc", "abd"))


def test_version_exists_error_offers_the_next_free_version():
    exc = up.VersionExistsError("ft-for-travel", "1", "3")
    assert exc.exit_code == 2 and exc.next_free == "3"
    assert "--version 3" in exc.advice


# --- secrets ----------------------------------------------------------------------------------------------------

SAS = "?sv=2026-10-06&se=2026-01-01T00%3A00%3A00Z&sp=racwl&sr=c&sig=AbCdEf0123456789%2Bxyz%3D"


def test_scrub_removes_sas_signatures_keys_and_tokens():
    text = (f"PUT https://acct.blob.core.windows.net/c/b{SAS} failed; Authorization: Bearer eyJ0eXAi.abc.def; "
            "DefaultEndpointsProtocol=https;AccountKey=c2VjcmV0a2V5;EndpointSuffix=x {\"accessToken\": \"tok123\"}")
    clean = azure_target.scrub(text)
    for secret in ("AbCdEf0123456789", "eyJ0eXAi", "c2VjcmV0a2V5", "tok123"):
        assert secret not in clean
    assert "sv=2026-10-06" in clean  # the harmless parts stay readable

    azure_target.remember_secret("opaque-secret-value")
    assert "opaque-secret-value" not in azure_target.scrub("x opaque-secret-value y")


def test_log_records_are_scrubbed_before_any_handler(caplog):
    azure_target.scrub_logs()
    caplog.set_level(logging.DEBUG)
    logging.getLogger("urllib3.connectionpool").debug('%s://%s:%s "%s %s %s" %s %s', "https", "acct.blob", 443,
                                                      "PUT", f"/c/blob{SAS}", "HTTP/1.1", 201, 0)
    assert "AbCdEf0123456789" not in caplog.text
    assert "sig=REDACTED" in caplog.text


def test_state_file_never_holds_a_secret(tmp_path):
    ws = Workspace.at(tmp_path)
    error = up.NetworkError(f"Lost the connection: HTTPSConnectionPool(host='a', port=443): url: /c/b{SAS}",
                            "Run it again.")
    up.record_upload(ws, request(), error=error, started_at=time.time())
    text = ws.state_path("upload").read_text()
    assert "AbCdEf0123456789" not in text
    saved = StepState.load(ws, "upload")
    assert (saved.status, saved.exit_code, saved.advice) == ("failed", 1, "Run it again.")


def test_lab_tags_carry_profile_base_model_and_step_fingerprints(tmp_path):
    ws = Workspace.at(tmp_path)
    StepState("optimize", fingerprint="f-opt").save(ws)
    StepState("finetune", fingerprint="f-ft").save(ws)
    StepState("upload", fingerprint="ignored").save(ws)
    StepState("chat").save(ws)
    tags = up.lab_tags(ws, profile="cpu", base_model="tiny")
    assert tags == {"olive-lab.source": "olive-lab", "olive-lab.profile": "cpu", "olive-lab.base-model": "tiny",
                    "olive-lab.fingerprint.finetune": "f-ft", "olive-lab.fingerprint.optimize": "f-opt"}


# --- sign-in ----------------------------------------------------------------------------------------------------

def labels(credential) -> list[str]:
    return [label for label, _ in credential.chain]


def test_credential_chain_has_managed_identity_only_where_its_environment_is():
    pytest.importorskip("azure.identity")
    assert labels(up.make_credential(env={})) == ["Azure CLI"]
    assert labels(up.make_credential(lambda *a: None, env={})) == ["Azure CLI", "device code"]
    assert labels(up.make_credential(lambda *a: None, env={"MSI_ENDPOINT": "http://x"})) == [
        "Azure CLI", "managed identity", "device code"]
    assert labels(up.make_credential(lambda *a: None, device_code_only=True, env={})) == ["device code"]


def test_a_private_authority_skips_instance_discovery():
    assert azure_auth._authority_kwargs({}) == {}
    assert azure_auth._authority_kwargs({"AZURE_AUTHORITY_HOST": "login.microsoftonline.us"})[
        "disable_instance_discovery"] is False
    assert azure_auth._authority_kwargs({"AZURE_AUTHORITY_HOST": "https://127.0.0.1:8443"})[
        "disable_instance_discovery"] is True


class Fails:
    calls = 0

    def get_token(self, *scopes, **kwargs):
        Fails.calls += 1
        raise RuntimeError("no luck here")


class Works:
    calls = 0

    def get_token(self, *scopes, **kwargs):
        from azure.core.credentials import AccessToken

        Works.calls += 1
        return AccessToken("t", int(time.time()) + 3600)


def test_chain_moves_on_after_any_failure_and_keeps_the_winner():
    pytest.importorskip("azure.core")
    credential = azure_auth.LabCredential([("first", Fails()), ("second", Works())])
    credential.get_token("scope")
    credential.get_token("scope")
    assert credential.source == "second"
    assert (Fails.calls, Works.calls) == (1, 2)


def test_signed_out_cli_gives_the_login_fix(monkeypatch):
    pytest.importorskip("azure.identity")
    monkeypatch.setenv("PATH", f"{FAKE_BIN}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_AZ_MODE", "signed-out")
    with pytest.raises(up.AzureLoginError) as failed:
        up.check_credential(up.make_credential(env={}))
    assert failed.value.exit_code == 3
    assert "Please run 'az login'" in failed.value.message
    assert "az login --use-device-code" in failed.value.advice

    monkeypatch.setenv("FAKE_AZ_MODE", "signed-in")
    credential = up.make_credential(env={})
    up.check_credential(credential)
    assert credential.source == "Azure CLI"


def test_missing_cli_points_to_device_code(monkeypatch, tmp_path):
    pytest.importorskip("azure.identity")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(up.AzureLoginError) as failed:
        up.check_credential(up.make_credential(env={}))
    assert "Azure CLI not found" in failed.value.message
    assert failed.value.advice == azure_auth.NO_CLI_ADVICE


# --- the command line refuses bad input before calling Azure ----------------------------------------------------

def test_cli_refuses_bad_names_and_missing_folder_with_exit_2(tmp_path, capsys):
    code = main(["upload", "--workdir", str(tmp_path), "--subscription", SUB, "--resource-group", "rg",
                 "--workspace", "ws", "--name", "ft for travel"])
    assert code == 2
    err = capsys.readouterr().err
    assert "model name 'ft for travel'" in err
    assert "workspace 'ws' is not a valid name" in err
    assert "models/phi/onnx-ao does not exist" in err


def test_cli_refuses_a_tag_without_a_value(tmp_path, capsys):
    assert main(["upload", "--workdir", str(tmp_path), "--tag", "novalue"]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err


def test_cli_says_where_each_value_came_from(tmp_path, monkeypatch, capsys):
    azure_dir = tmp_path / "azcfg"
    azure_dir.mkdir()
    (azure_dir / "azureProfile.json").write_text(json.dumps(
        {"subscriptions": [{"id": SUB, "name": "Lab", "isDefault": True}]}), encoding="utf-8-sig")
    (azure_dir / "config").write_text("[defaults]\nworkspace = cli-ws\n")
    for name in ("AZURE_SUBSCRIPTION_ID", "OLIVE_LAB_RESOURCE_GROUP", "OLIVE_LAB_WORKSPACE", "CI_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_CONFIG_DIR", str(azure_dir))
    monkeypatch.setenv("CI_RESOURCE_GROUP", "ci-rg")

    code = main(["upload", "--workdir", str(tmp_path / "lab")])  # no model folder: stops before Azure

    out = capsys.readouterr().out
    assert code == 2
    profile = azure_dir / "azureProfile.json"
    assert f"Subscription    {SUB}  from Azure CLI ({profile}, default subscription 'Lab')" in out
    assert "Resource group  ci-rg  from compute instance (CI_RESOURCE_GROUP)" in out
    assert f"Workspace       cli-ws  from Azure CLI ({azure_dir / 'config'} [defaults] workspace)" in out
    assert "Model           ft-for-travel:(next free version)" in out
