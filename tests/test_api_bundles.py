"""Bundle upload over HTTP: content-addressed, and unsafe zips refused with 400 and a message."""

from __future__ import annotations

import hashlib
import io
import json
import stat
import zipfile

import pytest

from tests.conftest import Stack


def zip_of(*entries: tuple[str, bytes, int]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            archive.writestr(info, data)
    return buffer.getvalue()


def put(stack: Stack, data: bytes, digest: str | None = None) -> tuple[int, dict[str, object]]:
    hexdigest = digest or hashlib.sha256(data).hexdigest()
    response = stack.request(
        "PUT", f"/v1/bundles/sha256/{hexdigest}", data, {"content-type": "application/zip"}
    )
    return response.status_code, json.loads(response.body)


FILE = stat.S_IFREG | 0o644
LINK = stat.S_IFLNK | 0o777


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            (("../../etc/cron.d/evil", b"x", FILE),),
            "Invalid bundle: path escapes the bundle '../../etc/cron.d/evil'",
        ),
        ((("/etc/passwd", b"x", FILE),), "Invalid bundle: absolute path '/etc/passwd'"),
        ((("link", b"/etc/shadow", LINK),), "Invalid bundle: symlink 'link' points outside the bundle"),
    ],
    ids=["zip-slip", "absolute-path", "outside-symlink"],
)
def test_a_malicious_bundle_is_refused_with_400_and_a_message(
    stack: Stack, entries: tuple[tuple[str, bytes, int], ...], message: str
) -> None:
    status, body = put(stack, zip_of(("func.yaml", b"name: x\n", FILE), *entries))
    assert status == 400
    assert str(body["error"]["message"]).startswith(message), body  # type: ignore[index]


def test_a_body_that_does_not_match_its_digest_or_is_no_zip_is_refused(stack: Stack) -> None:
    status, body = put(stack, zip_of(("func.yaml", b"name: x\n", FILE)), digest="0" * 64)
    assert status == 400 and str(body["error"]["message"]).startswith("Bundle digest mismatch")  # type: ignore[index]
    status, body = put(stack, b"not a zip")
    assert (status, body) == (400, {"error": {"message": "Invalid bundle: not a zip file"}})


def test_a_stored_bundle_is_found_by_its_digest_and_storing_it_again_is_harmless(stack: Stack) -> None:
    data = zip_of(("func.yaml", b"name: x\n", FILE))
    hexdigest = hashlib.sha256(data).hexdigest()
    assert stack.json("GET", f"/v1/bundles/sha256/{hexdigest}") == (
        404,
        {"error": {"message": "Bundle not found"}},
    )
    assert put(stack, data) == (
        200,
        {"message": "Bundle stored", "bundle": {"digest": f"sha256:{hexdigest}", "size": len(data)}},
    )
    assert put(stack, data)[0] == 200
    assert (
        stack.json("GET", f"/v1/bundles/sha256/{hexdigest}")[1]["bundle"]["digest"] == f"sha256:{hexdigest}"
    )
