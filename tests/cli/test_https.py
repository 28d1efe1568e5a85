"""FN_API_URL with https is spoken over TLS (Fn always spoke plain http to the host)."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.cli.peer import FnPeer, handler_for

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def tls_peer(tmp_path: Path) -> Iterator[tuple[FnPeer, Path]]:
    if shutil.which("openssl") is None:
        pytest.skip("needs the openssl command to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    state = FnPeer()
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.url = f"https://localhost:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state, cert
    server.shutdown()
    server.server_close()


def test_an_https_fn_api_url_is_spoken_over_verified_tls(tls_peer: tuple[FnPeer, Path]) -> None:
    peer, cert = tls_peer
    peer.on("GET", "/v1/apps", body={"apps": [{"name": "secure"}], "next_cursor": ""})
    env = {**os.environ, "FN_API_URL": peer.url, "SSL_CERT_FILE": str(cert), "PYTHONPATH": str(ROOT)}

    done = subprocess.run(
        [sys.executable, "-m", "fnq.cli", "apps", "list"],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=30,
    )

    assert (done.returncode, done.stdout, done.stderr) == (0, b"secure\n", b"")


def test_an_untrusted_certificate_is_an_error_line(tls_peer: tuple[FnPeer, Path]) -> None:
    peer, _ = tls_peer
    env = {**os.environ, "FN_API_URL": peer.url, "PYTHONPATH": str(ROOT)}
    env.pop("SSL_CERT_FILE", None)

    done = subprocess.run(
        [sys.executable, "-m", "fnq.cli", "apps", "list"],
        capture_output=True,
        env=env,
        cwd=ROOT,
        timeout=30,
    )

    assert done.returncode == 1
    assert done.stderr.startswith(
        f'ERROR: Get "{peer.url}/v1/apps": tls: failed to verify certificate: '.encode()
    )
    assert b"Traceback" not in done.stderr
