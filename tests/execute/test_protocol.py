"""The json format's lines, without processes."""

from __future__ import annotations

import json

import pytest

from chalicelib.execute.protocol import ProtocolError, decode_response, encode_request
from tests.execute.support import invocation


def test_a_request_is_one_line_even_when_the_body_has_newlines() -> None:
    line = encode_request(invocation(body=b"a\nb\n"))

    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["body"] == "a\nb\n"


def test_a_body_that_is_not_utf8_is_passed_with_replacement_characters() -> None:
    assert json.loads(encode_request(invocation(body=b"ok \xff")))["body"] == "ok \ufffd"


def test_a_minimal_answer_means_200_with_no_headers() -> None:
    response = decode_response(b'{"body": "hi", "protocol": {"status_code": 0}}')

    assert (response.body, response.status_code) == (b"hi", 200)
    assert (response.headers, response.content_type) == ({}, "")


def test_single_header_values_become_lists() -> None:
    response = decode_response(b'{"body": "", "protocol": {"headers": {"X-One": "1", "X-Two": ["2", 3]}}}')

    assert response.headers == {"X-One": ["1"], "X-Two": ["2", "3"]}


def test_a_lone_surrogate_in_the_body_does_not_break_anything() -> None:
    response = decode_response(b'{"body": "a\\ud800b"}')

    assert response.body == "a\ufffdb".encode()


@pytest.mark.parametrize(
    "line",
    [b"not json", b"[1, 2]", b'{"body": 5}', b'{"protocol": {"status_code": 999}}', b'{"body": "\xff"}'],
)
def test_anything_else_is_a_protocol_error(line: bytes) -> None:
    with pytest.raises(ProtocolError, match=r"^invalid json response from function"):
        decode_response(line)
