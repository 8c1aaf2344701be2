"""Throughput of the upload step to Azurite for a 1 GB model folder (not a test; run by hand).

    python bench/upload_azurite.py [--gb 1] [--concurrency 4 8 16] [--runs 1]

Starts real Azurite (TLS) and the fake ARM from tests/azure, builds a folder shaped like the optimized model with
one big `model/model.onnx.data`, and runs `olive_lab.steps.upload.upload` (hash, upload with the real
azure-storage-blob, register through azure-ai-ml) once per block-concurrency setting. Prints one line per run
and writes bench/results/upload_azurite.json. Loopback only: this measures the client and Azurite, not a network.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "azure"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="size of model.onnx.data in GB (10^9 bytes)")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[4, 8, 16],
                        help="parallel 4 MiB blocks per file to try (the step uses MAX_CONCURRENCY)")
    parser.add_argument("--runs", type=int, default=1, help="runs per setting")
    args = parser.parse_args()

    import trustme
    from azure.core.credentials import AccessToken

    from aml_fakes import RESOURCE_GROUP, SUBSCRIPTION, WORKSPACE, FakeArm
    from aml_fixtures import SHIM_DIR, Azurite, Certs, azurite_binary, make_model_folder
    from olive_lab.steps import upload as up
    from olive_lab.steps.upload import storage

    binary = azurite_binary()
    if not binary:
        print("azurite-blob is not installed: bash tests/azure/install-azurite.sh", file=sys.stderr)
        return 2
    sys.path.insert(0, str(SHIM_DIR))
    import sitecustomize  # noqa: F401 - the *.localhost DNS shim

    class Token:
        def get_token(self, *scopes, **kwargs):
            return AccessToken("bench", int(time.time()) + 3600)

    results = []
    with tempfile.TemporaryDirectory(prefix="olive-lab-bench-") as tmp:
        tmp = Path(tmp)
        ca = trustme.CA()
        server = ca.issue_cert("localhost", "*.blob.localhost", "127.0.0.1")
        certs = Certs(tmp / "ca.pem", tmp / "cert.pem", tmp / "key.pem")
        ca.cert_pem.write_to_path(str(certs.ca))
        certs.cert.write_bytes(b"".join(b.bytes() for b in server.cert_chain_pems))
        server.private_key_pem.write_to_path(str(certs.key))
        os.environ["REQUESTS_CA_BUNDLE"] = str(certs.ca)

        azurite = Azurite(binary, certs, tmp)
        arm = FakeArm(certs)
        os.environ["ARM_CLOUD_METADATA_URL"] = arm.metadata_url
        try:
            size = int(args.gb * 1e9)
            t0 = time.monotonic()
            folder = make_model_folder(tmp / "model", big=size, seed=os.urandom(997))
            print(f"built a {size / 1e9:.2f} GB folder in {time.monotonic() - t0:.1f} s", flush=True)
            for concurrency in args.concurrency:
                for run in range(args.runs):
                    storage.MAX_CONCURRENCY = concurrency
                    arm.reset(storage_endpoint=azurite.endpoint, container=azurite.new_container())
                    phases: dict[str, float] = {}

                    def status(text: str, phases=phases) -> None:
                        phases[text.split()[0]] = time.monotonic()

                    result = up.upload(up.UploadRequest(
                        subscription_id=SUBSCRIPTION, resource_group=RESOURCE_GROUP, workspace=WORKSPACE,
                        folder=folder), Token(), None, threading.Event(), on_status=status)
                    hash_s = phases["Checking"] - phases["Hashing"]
                    mb_s = result.uploaded_bytes / result.upload_seconds / 1e6
                    row = {"concurrency": concurrency, "run": run, "bytes": result.bytes,
                           "hash_s": round(hash_s, 2), "upload_s": round(result.upload_seconds, 2),
                           "total_s": round(result.seconds, 2), "upload_MB_per_s": round(mb_s, 1)}
                    results.append(row)
                    print(f"concurrency {concurrency:>2}: hash {hash_s:5.1f} s, upload {result.upload_seconds:5.1f} s "
                          f"= {mb_s:6.1f} MB/s, whole step {result.seconds:5.1f} s", flush=True)
                    for name in list(azurite.blobs(arm.container)):  # keep the disk use to one copy
                        azurite.service.get_container_client(arm.container).delete_blob(name)
        finally:
            azurite.stop()
            arm.server.shutdown()

    out = ROOT / "bench" / "results" / "upload_azurite.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                               "azurite": os.popen(f"{binary} --version").read().strip(),
                               "runs": results}, indent=2) + "\n")
    print(f"wrote {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
