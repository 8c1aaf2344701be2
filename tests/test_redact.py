"""Secrets passed by mistake (issue 15, item 6) are never echoed or stored: one scrubber for the whole lab."""

from __future__ import annotations

import pytest

from olive_lab.cli import main
from olive_lab.steps import azure_target, redact

STORAGE_KEY = "A" * 40 + "b" * 46 + "=="  # 64 bytes in base64, as a storage account key is
SECRETS = {
    "sas": ("https://acct.blob.core.windows.net/c/t.jsonl?sv=2024-05-04&se=2027-01-01&sp=r&sig=Zm9vYmFyYmF6%2B",
            "Zm9vYmFyYmF6%2B"),
    "connection string": ("DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c2VjcmV0a2V5MTIz;"
                          "EndpointSuffix=core.windows.net", "c2VjcmV0a2V5MTIz"),
    "bearer": ("Authorization: Bearer eyJ0eXAiOiJKV1QiLCJhbGciOi.eyJhdWQiOiJodHRwczovL21h.c2lnbmF0dXJl",
               "eyJhdWQiOiJodHRwczovL21h"),
    "jwt alone": ("token eyJ0eXAiOiJKV1QiLCJhbGciOi.eyJhdWQiOiJodHRwczovL21h.c2lnbmF0dXJl", "c2lnbmF0dXJl"),
    "url password": ("https://alice:hunter2-secret@example.com/data.jsonl", "hunter2-secret"),
    "hugging face token": ("HF_TOKEN is hf_abcdefghijklmnopqrstuvwxyzABCDEF1234", "hf_abcdefghijklmnopqrstuvwxyz"),
    "storage key": (f"key {STORAGE_KEY} here", STORAGE_KEY),
    "client secret": ('{"client_secret": "s3cr3t-value-123"}', "s3cr3t-value-123"),
    "password query": ("https://example.com/x?user=a&password=pa55word-xyz", "pa55word-xyz"),
    "shared access key": ("Endpoint=sb://x/;SharedAccessKeyName=k;SharedAccessKey=QUJDREVGRw==", "QUJDREVGRw=="),
}


@pytest.mark.parametrize("name", SECRETS)
def test_scrub_removes_the_secret_and_keeps_the_rest(name):
    text, secret = SECRETS[name]
    clean = redact.scrub(text)
    assert secret not in clean and "REDACTED" in clean
    assert redact.secrets_in(text)


def test_a_sas_query_without_its_signature_is_still_seen_as_one():
    assert redact.secrets_in("https://a.blob.core.windows.net/c/t.jsonl?sv=2024&se=2027-01-01&sp=r")
    assert not redact.secrets_in("/home/me/data/sig_travel.jsonl")
    assert not redact.secrets_in("microsoft/Phi-3.5-mini-instruct")


def test_redact_cleans_every_string_of_a_record():
    record = {"data": SECRETS["sas"][0], "argv": ["olive", "--data", SECRETS["sas"][0]], "n": 3,
              "nested": {"model": SECRETS["url password"][0]}, "none": None}
    clean = redact.redact(record)
    assert SECRETS["sas"][1] not in str(clean) and SECRETS["url password"][1] not in str(clean)
    assert clean["n"] == 3 and clean["none"] is None and clean["argv"][:2] == ["olive", "--data"]


def test_the_upload_uses_the_same_scrubber():
    assert azure_target.scrub is redact.scrub and azure_target.remember_secret is redact.remember_secret
    assert azure_target.ScrubFilter is redact.ScrubFilter


ARGUMENTS = [
    ("run", "--profile", "cpu", "--data", SECRETS["sas"][0]),
    ("data", "--data", SECRETS["sas"][0]),
    ("data", SECRETS["sas"][0]),
    ("status", "--profile", "cpu", "--model", SECRETS["sas"][0]),
    ("command", "--profile", "cpu", "--model", SECRETS["url password"][0]),
    ("chat", "--profile", "cpu", "--prompt", "hi", "--data", SECRETS["connection string"][0]),
    ("upload", "--folder", SECRETS["sas"][0]),
    ("upload", "--description", SECRETS["storage key"][0]),
    ("upload", "--tag", f"source={SECRETS['sas'][0]}"),
    ("run", "--profile", "cpu", "--workdir-placeholder"),
]


@pytest.mark.parametrize("argv", ARGUMENTS, ids=[" ".join(a[:1] + a[-2:-1]) for a in ARGUMENTS])
def test_a_secret_in_an_argument_is_refused_unechoed_and_unstored(argv, tmp_path, capsys):
    workdir = tmp_path / "lab"
    workdir.mkdir()
    if argv[-1] == "--workdir-placeholder":  # the work folder itself given as a URL with a password
        argv, secret = (*argv[:-1], "--workdir", SECRETS["url password"][0]), SECRETS["url password"][1]
    else:
        argv, secret = (*argv, "--workdir", str(workdir)), next(s for t, s in SECRETS.values() if t in " ".join(argv))
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert code == 2
    assert "looks like a secret" in err and "REDACTED" in err
    assert secret not in out + err
    assert list(workdir.iterdir()) == []  # nothing stored: no lab.json, no state


def test_state_files_never_hold_a_secret(tmp_path):
    """Defence in depth: whatever reaches the state writer is scrubbed before it is on disk."""
    from olive_lab.steps.workspace import write_json

    sas = "https://acct.blob.core.windows.net/c/data.jsonl?sv=2024-01-01&se=2030-01-01&sp=r&sig=abcdEFGH1234%2Bxyz%3D"
    write_json(tmp_path / "lab.json", {"data": sas, "argv": ["olive", "--data", sas]})
    text = (tmp_path / "lab.json").read_text()
    assert "abcdEFGH1234" not in text and "acct.blob.core.windows.net" in text
