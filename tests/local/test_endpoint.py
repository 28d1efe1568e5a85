"""The embedded AWS endpoint keeps connections open between requests, and frames each answer.

Driven over real sockets (http.client and boto3) against moto's server application, as the API
and the worker drive it under `fn start`.
"""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from fnq.local.endpoint import EmbeddedEndpoint
from fnq.local.inprocess import DYNAMODB_CONTENT_TYPE, DYNAMODB_TARGET, authorization
from fnq.local.resources import FAKE_KEY

REGION = "eu-west-3"  # moto's backends are shared in a process: a region of this module's own


@pytest.fixture
def endpoint() -> Iterator[EmbeddedEndpoint]:
    started = EmbeddedEndpoint()
    started.start()
    yield started
    started.stop()


def dynamodb(connection: http.client.HTTPConnection, operation: str, body: bytes) -> tuple[int, Any]:
    connection.request(
        "POST",
        "/",
        body,
        {
            "X-Amz-Target": DYNAMODB_TARGET + operation,
            "Content-Type": DYNAMODB_CONTENT_TYPE,
            "Authorization": authorization(FAKE_KEY, REGION, "dynamodb"),
        },
    )
    response = connection.getresponse()
    data = response.read()
    return response.status, json.loads(data) if data else None


def local_port(connection: http.client.HTTPConnection) -> int:
    assert connection.sock is not None
    return int(connection.sock.getsockname()[1])


def test_requests_share_one_connection_even_after_a_refusal_or_an_unread_body(
    endpoint: EmbeddedEndpoint,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    assert dynamodb(connection, "ListTables", b"{}") == (200, {"TableNames": []})
    port = local_port(connection)
    status, answer = dynamodb(connection, "DescribeTable", b'{"TableName": "missing"}')
    assert status == 400 and "ResourceNotFoundException" in answer["__type"]
    # A body ListTables has no use for (moto never reads it): its bytes never leak into the next
    # request on the connection.
    connection.request("POST", "/", b"x" * 10_000, {"Content-Type": "text/plain"})
    connection.getresponse().read()  # whatever moto answers to it, read whole
    assert dynamodb(connection, "ListTables", b"{}") == (200, {"TableNames": []})
    assert local_port(connection) == port  # the same connection all along
    connection.close()


def test_boto3_reuses_its_connection_and_head_and_metadata_answer_as_moto_s_server(
    endpoint: EmbeddedEndpoint,
) -> None:
    s3: Any = boto3.client(
        "s3",
        endpoint_url=endpoint.url,
        region_name=REGION,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
    )
    opened: list[int] = []
    s3.meta.events.register("before-send", lambda **_: opened.append(len(endpoint_connections(endpoint))))
    s3.create_bucket(Bucket="keepalive-bucket", CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket="keepalive-bucket", Key="a_b", Body=b"hello", Metadata={"under_score": "kept"})
    head = s3.head_object(Bucket="keepalive-bucket", Key="a_b")
    assert head["ContentLength"] == 5 and head["Metadata"] == {"under_score": "kept"}
    assert s3.get_object(Bucket="keepalive-bucket", Key="a_b")["Body"].read() == b"hello"
    with pytest.raises(s3.exceptions.ClientError):
        s3.head_object(Bucket="keepalive-bucket", Key="missing")
    assert s3.list_objects_v2(Bucket="keepalive-bucket")["KeyCount"] == 1
    assert opened[1:] and set(opened[1:]) == {1}  # after the first request, one connection serves all


def endpoint_connections(endpoint: EmbeddedEndpoint) -> list[Any]:
    return list(endpoint._server._connections)


def test_a_stopped_endpoint_ends_its_open_connections(endpoint: EmbeddedEndpoint) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", endpoint.port, timeout=10)
    assert dynamodb(connection, "ListTables", b"{}")[0] == 200
    endpoint.stop()
    with pytest.raises((http.client.HTTPException, OSError)):
        dynamodb(connection, "ListTables", b"{}")
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", endpoint.port), timeout=2).close()
    connection.close()


def test_a_client_that_asks_to_close_is_answered_and_closed(endpoint: EmbeddedEndpoint) -> None:
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=10) as raw:
        raw.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        answer = b""
        while chunk := raw.recv(65536):  # HTTP/1.0: the server closes after the answer
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 ") and b"Connection: close" in head
    assert f"Content-Length: {len(body)}".encode() in head


def test_a_client_that_waits_for_100_continue_gets_it_once_then_the_answer(
    endpoint: EmbeddedEndpoint,
) -> None:
    body = b"{}"
    head = (
        "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nExpect: 100-continue\r\n"
        f"X-Amz-Target: {DYNAMODB_TARGET}ListTables\r\nContent-Type: {DYNAMODB_CONTENT_TYPE}\r\n"
        f"Authorization: {authorization(FAKE_KEY, REGION, 'dynamodb')}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", endpoint.port), timeout=5) as raw:
        raw.sendall(head.encode())
        assert raw.recv(65536) == b"HTTP/1.1 100 Continue\r\n\r\n"  # before the body is sent
        raw.sendall(body)
        reply = raw.makefile("rb")
        assert reply.readline().startswith(b"HTTP/1.1 200 ")
        headers = {}
        while (line := reply.readline().decode("latin-1").strip()) != "":
            name, _, value = line.partition(":")
            headers[name.lower()] = value.strip()
        assert json.loads(reply.read(int(headers["content-length"]))) == {"TableNames": []}
