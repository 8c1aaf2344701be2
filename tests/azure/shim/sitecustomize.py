"""Test-only DNS shim: resolve every *.localhost name to 127.0.0.1 (glibc here does not).

azure-ai-ml builds storage URLs as https://<account>.blob.<suffix>, so Azurite is reached as
devstoreaccount1.blob.localhost:<port>; Azurite reads the account name from that host. Put this folder on
PYTHONPATH to apply it to a subprocess; the test process applies `install()` itself.
"""

import socket

_real_getaddrinfo = socket.getaddrinfo


def _getaddrinfo(host, *args, **kwargs):
    if isinstance(host, str) and host.endswith(".localhost"):
        host = "127.0.0.1"
    return _real_getaddrinfo(host, *args, **kwargs)


def install() -> None:
    socket.getaddrinfo = _getaddrinfo


def uninstall() -> None:
    socket.getaddrinfo = _real_getaddrinfo


install()
