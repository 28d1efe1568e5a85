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


BILLION_LAUGHS = (
    b"name: x\n"
    + b"l0: &l0 ["
    + b",".join([b'"lol"'] * 10)
    + b"]\n"
    + b"".join(f"l{i}: &l{i} [{','.join([f'*l{i - 1}'] * 10)}]\n".encode() for i in range(1, 8))
)


@pytest.mark.parametrize(
    ("func_yaml", "message"),
    [
        (b"name: x\nmemory: abc\n", "func.yaml: memory must be a whole number from 0 to 8192, not 'abc'"),
        (b"name: x\nmemory: .inf\n", "func.yaml: memory must be a whole number from 0 to 8192, not inf"),
        (
            b"name: x\ntimeout: 1e999\n",
            "func.yaml: timeout must be a whole number from 0 to 3600, not '1e999'",
        ),
        (b"name: x\nconfig: [1, 2]\n", "func.yaml: config must be a mapping of names to strings, not [1, 2]"),
        (b"name: x\nformat: http\n", "func.yaml: format must be 'default' or 'json', not 'http'"),
        (
            b"name: x\nentrypoint: python3 'func.py\n",
            'func.yaml: entrypoint "python3 \'func.py" cannot be parsed: No closing quotation',
        ),
        (BILLION_LAUGHS, "func.yaml: invalid YAML: aliases (*l0) are not allowed"),
        (b"name: [unclosed\n", "func.yaml: invalid YAML"),
        (b"- just\n- a list\n", "func.yaml: expected a mapping of fields, got list"),
    ],
    ids=[
        "memory-abc",
        "memory-inf",
        "timeout-1e999",
        "config-list",
        "format",
        "entrypoint",
        "aliases",
        "yaml",
        "list",
    ],
)
def test_a_bundle_whose_func_yaml_is_wrong_is_refused_at_upload_naming_the_field(
    stack: Stack, func_yaml: bytes, message: str
) -> None:
    status, body = put(stack, zip_of(("func.yaml", func_yaml, FILE)))

    assert status == 400
    assert str(body["error"]["message"]).startswith(message), body  # type: ignore[index]


def test_a_bundle_without_func_yaml_or_with_an_oversized_one_is_refused(stack: Stack) -> None:
    status, body = put(stack, zip_of(("func.py", b"print(1)\n", FILE)))
    assert (status, body) == (400, {"error": {"message": "Invalid bundle: no func.yaml at its top level"}})

    status, body = put(stack, zip_of(("func.yaml", b"name: x\n" + b"#" * 70_000 + b"\n", FILE)))
    assert (status, body) == (400, {"error": {"message": "func.yaml: larger than 65536 bytes"}})


def test_a_bundle_whose_entry_does_not_match_its_crc_is_refused_at_upload(stack: Stack) -> None:
    # GIVEN a stored (uncompressed) entry whose bytes are changed after its CRC was written
    data = bytearray(zip_of(("func.yaml", b"name: x\n", FILE), ("func.py", b"print('hello')\n", FILE)))
    at = data.index(b"print('hello')")
    data[at] = ord("P")

    status, body = put(stack, bytes(data))

    assert status == 400
    assert str(body["error"]["message"]).startswith("Invalid bundle: entry 'func.py' is corrupt"), body  # type: ignore[index]
