"""Fn v1 routes: create, put (create or merge), patch, get, list, delete, and validation."""

from __future__ import annotations

import pytest

from tests.conftest import Stack


def test_post_creates_the_route_and_its_app_with_fn_defaults(stack: Stack) -> None:
    status, body = stack.json(
        "POST", "/v1/apps/myapp/routes", {"route": {"path": "/hello", "image": "hello:0.0.1"}}
    )
    assert status == 200
    assert body["message"] == "Route successfully created"
    route = body["route"]
    assert list(route)[:5] == ["app_name", "path", "image", "memory", "cpus"]
    assert (route["type"], route["format"], route["memory"], route["timeout"], route["idle_timeout"]) == (
        "sync",
        "default",
        128,
        30,
        30,
    )
    assert stack.json("GET", "/v1/apps/myapp")[0] == 200
    status, body = stack.json("POST", "/v1/apps/myapp/routes", {"route": {"path": "/hello", "image": "x:1"}})
    assert (status, body["error"]["message"]) == (409, "Route already exists")


def test_a_route_object_has_fns_fields_in_fns_order_with_empty_maps_left_out(stack: Stack) -> None:
    spec = {"image": "hello:0.0.1", "headers": {"X-A": ["1"]}, "config": {"A": "1"}}
    full = stack.json("PUT", "/v1/apps/myapp/routes/full", {"route": spec})[1]["route"]
    bare = stack.json("PUT", "/v1/apps/myapp/routes/bare", {"route": {"image": "bare:1"}})[1]["route"]

    head, tail = (
        ["app_name", "path", "image", "memory", "cpus"],
        ["type", "format", "timeout", "idle_timeout"],
    )
    fnq = ["bundle", "max_retries", "callback_url", "created_at", "updated_at"]
    assert list(full) == [*head, "headers", *tail, "config", *fnq]
    assert list(bare) == [*head, *tail, *fnq]


def test_put_creates_then_merges_like_fn(stack: Stack) -> None:
    spec = {"image": "hello:0.0.1", "config": {"A": "1", "B": "2"}, "headers": {"X-A": ["1"]}}
    status, body = stack.json("PUT", "/v1/apps/myapp/routes/hello", {"route": spec})
    assert (status, body["message"]) == (200, "Route successfully created")
    update = {"image": "hello:0.0.2", "config": {"A": ""}, "headers": {"X-A": []}, "type": "async"}
    status, body = stack.json("PUT", "/v1/apps/myapp/routes/hello", {"route": update})
    assert (status, body["message"]) == (200, "Route successfully updated")
    route = body["route"]
    assert (route["image"], route["config"], route["type"]) == ("hello:0.0.2", {"B": "2"}, "async")
    assert "headers" not in route


def test_multi_segment_paths_are_cleaned_and_served(stack: Stack) -> None:
    status, body = stack.json("PUT", "/v1/apps/myapp/routes/a/b/c", {"route": {"image": "x:1"}})
    assert (status, body["route"]["path"]) == (200, "/a/b/c")
    assert stack.json("GET", "/v1/apps/myapp/routes/a/b/c")[1]["route"]["path"] == "/a/b/c"
    status, body = stack.json(
        "POST", "/v1/apps/myapp/routes", {"route": {"path": "//x/./y/", "image": "x:1"}}
    )
    assert body["route"]["path"] == "/x/y"


def test_patch_never_creates_and_path_is_immutable(stack: Stack) -> None:
    status, body = stack.json("PATCH", "/v1/apps/myapp/routes/nope", {"route": {"image": "x:1"}})
    assert (status, body["error"]["message"]) == (404, "Route not found")
    stack.json("PUT", "/v1/apps/myapp/routes/hello", {"route": {"image": "x:1"}})
    status, body = stack.json("PATCH", "/v1/apps/myapp/routes/hello", {"route": {"path": "/other"}})
    assert (status, body["error"]["message"]) == (409, "Could not update - path is immutable")
    status, body = stack.json("PATCH", "/v1/apps/myapp/routes/hello", {"route": {"memory": 256}})
    assert (status, body["route"]["memory"]) == (200, 256)


@pytest.mark.parametrize(
    ("route", "message"),
    [
        ({"image": "x:1"}, "Missing route Path"),
        ({"path": "/h"}, "Missing route Image"),
        ({"path": "nope", "image": "x:1"}, "Invalid route path format"),
        ({"path": "/a/:id", "image": "x:1"}, "Dynamic URL is not allowed"),
        ({"path": "/h", "image": "x:1", "type": "later"}, "Invalid route Type"),
        (
            {"path": "/h", "image": "x:1", "format": "xml"},
            "Invalid route Format (fnq runs `default` and `json`)",
        ),
        (
            {"path": "/h", "image": "x:1", "timeout": 121},
            "timeout value is out of range. Sync should be between 0 and 120, "
            "async should be between 0 and 3600",
        ),
        (
            {"path": "/h", "image": "x:1", "memory": 9000},
            "memory value is out of range. It should be between 0 and 8192",
        ),
        (
            {"path": "/h", "image": "x:1", "idle_timeout": 4000},
            "idle_timeout value is out of range. It should be between 0 and 3600",
        ),
        (
            {"path": "/h", "image": "x:1", "bundle": "md5:abc"},
            "Invalid route bundle: expected sha256:<64 hex digits>",
        ),
        (
            {"path": "/h", "image": "x:1", "bundle": "sha256:" + "0" * 64},
            "Bundle not found: sha256:" + "0" * 64 + " (upload it first)",
        ),
    ],
)
def test_bad_routes_are_rejected_with_fn_messages(
    stack: Stack, route: dict[str, object], message: str
) -> None:
    status, body = stack.json("POST", "/v1/apps/myapp/routes", {"route": route})
    assert (status, body) == (400, {"error": {"message": message}})


def test_async_routes_may_run_up_to_an_hour(stack: Stack) -> None:
    status, _ = stack.json(
        "POST",
        "/v1/apps/a/routes",
        {"route": {"path": "/h", "image": "x:1", "type": "async", "timeout": 3600}},
    )
    assert status == 200


def test_routes_are_listed_with_a_cursor_and_deleted(stack: Stack) -> None:
    for name in ["r3", "r1", "r2"]:
        stack.json("PUT", f"/v1/apps/myapp/routes/{name}", {"route": {"image": "x:1"}})
    _status, page = stack.json("GET", "/v1/apps/myapp/routes?per_page=2")
    assert [r["path"] for r in page["routes"]] == ["/r1", "/r2"]
    _status, rest = stack.json("GET", f"/v1/apps/myapp/routes?per_page=2&cursor={page['next_cursor']}")
    assert ([r["path"] for r in rest["routes"]], rest["next_cursor"]) == (["/r3"], "")
    assert stack.json("DELETE", "/v1/apps/myapp/routes/r1") == (200, {"message": "Route deleted"})
    assert stack.json("DELETE", "/v1/apps/myapp/routes/r1")[1] == {"error": {"message": "Route not found"}}
    assert stack.json("GET", "/v1/apps/none/routes") == (404, {"error": {"message": "App not found"}})


def test_where_the_worker_cannot_run_an_hour_longer_async_timeouts_are_refused(stack: Stack) -> None:
    from dataclasses import replace

    from chalicelib import wiring

    wiring.install(wiring.build(replace(stack.settings, max_async_timeout=840)))
    route = {"path": "/h", "image": "x:1", "type": "async", "timeout": 900}
    assert stack.json("POST", "/v1/apps/a/routes", {"route": route}) == (
        400,
        {
            "error": {
                "message": "timeout value is out of range. "
                "Sync should be between 0 and 120, async should be between 0 and 840"
            }
        },
    )
    route["timeout"] = 840
    assert stack.json("POST", "/v1/apps/a/routes", {"route": route})[0] == 200


def test_a_sync_route_asking_for_more_than_the_api_can_serve_is_refused_naming_the_limit(
    stack: Stack,
) -> None:
    from dataclasses import replace

    from chalicelib import wiring

    wiring.install(wiring.build(replace(stack.settings, max_sync_timeout=25)))
    refused = (
        400,
        {
            "error": {
                "message": "timeout value is out of range. A sync route on this API may run at most 25 s "
                "(the API's time limit); make the route async to run longer"
            }
        },
    )
    route = {"path": "/s", "image": "x:1", "type": "sync", "timeout": 26}
    assert stack.json("POST", "/v1/apps/a/routes", {"route": route}) == refused
    assert stack.json("PUT", "/v1/apps/a/routes/s", {"route": route}) == refused
    # naming no timeout, a new sync route gets the cap instead of Fn's default of 30 s
    assert stack.json("PUT", "/v1/apps/a/routes/s", {"route": {"image": "x:1"}})[1]["route"]["timeout"] == 25
    # an update asking for more is refused too, and so is turning a long async route sync
    assert stack.json("PATCH", "/v1/apps/a/routes/s", {"route": {"timeout": 60}}) == refused
    slow = {"image": "x:1", "type": "async", "timeout": 100}
    assert stack.json("PUT", "/v1/apps/a/routes/slow", {"route": slow})[0] == 200
    assert stack.json("PATCH", "/v1/apps/a/routes/slow", {"route": {"type": "sync"}}) == refused
    route["timeout"] = 25
    assert stack.json("PUT", "/v1/apps/a/routes/s", {"route": route})[0] == 200
