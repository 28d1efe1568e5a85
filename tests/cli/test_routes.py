from __future__ import annotations

from tests.cli.peer import FnPeer, RunFn

ROUTE = {
    "app_name": "myapp",
    "path": "/asyncfn",
    "image": "fnproject/hello:0.0.1",
    "memory": 128,
    "type": "async",
    "format": "json",
    "timeout": 30,
    "idle_timeout": 30,
}


def test_routes_list_prints_a_tab_aligned_table_with_endpoints(fn: RunFn, peer: FnPeer) -> None:
    peer.on(
        "GET",
        "/v1/apps/myapp/routes",
        body={
            "routes": [ROUTE, {**ROUTE, "path": "/syncfn", "image": "fnproject/hello:0.0.2"}],
            "next_cursor": "",
        },
    )
    host = peer.url.removeprefix("http://")

    result = fn("routes", "list", "myapp")

    # Byte for byte what Fn prints (fn-api.md §6.3): Go's tabwriter pads with tabs.
    assert result.stdout == (
        "path\t\timage\t\t\tendpoint\n"
        f"/asyncfn\tfnproject/hello:0.0.1\t{host}/r/myapp/asyncfn\n"
        f"/syncfn\t\tfnproject/hello:0.0.2\t{host}/r/myapp/syncfn\n"
    )


def test_routes_list_follows_the_cursor(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp/routes", body={"routes": [ROUTE], "next_cursor": "L2FzeW5jZm4"})
    peer.on("GET", "/v1/apps/myapp/routes?cursor=L2FzeW5jZm4", body={"routes": [], "next_cursor": ""})

    fn("routes", "list", "myapp")

    assert peer.seen == ["GET /v1/apps/myapp/routes", "GET /v1/apps/myapp/routes?cursor=L2FzeW5jZm4"]


def test_routes_list_of_a_missing_app_prints_the_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/nope/routes", 404, body={"error": {"message": "App not found"}})

    assert fn("routes", "list", "nope").stderr == "ERROR: App not found\n"


def test_routes_create_posts_every_flag_in_gos_field_order(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/v1/apps/myapp/routes", body={"message": "Route successfully created", "route": ROUTE})

    result = fn(
        "routes", "create", "myapp", "asyncfn", "fnproject/hello:0.0.1",
        "--type", "async", "-m", "256", "--timeout", "30", "--idle-timeout", "60",
        "--format", "http", "--config", "K=V", "--headers", "X-A=1;2",
    )  # fmt: skip

    assert (result.exit_code, result.stdout) == (0, "/asyncfn created with fnproject/hello:0.0.1\n")
    assert peer.requests[0].body == (
        b'{"route":{"config":{"K":"V"},"format":"http","headers":{"X-A":["1","2"]},"idle_timeout":60,'
        b'"image":"fnproject/hello:0.0.1","memory":256,"path":"/asyncfn","timeout":30,"type":"async"}}\n'
    )


def test_routes_create_accepts_any_image_name_because_fnq_runs_bundles(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/v1/apps/myapp/routes", body={"route": {**ROUTE, "path": "/hello", "image": "hello"}})

    assert fn("routes", "create", "myapp", "/hello", "hello").stdout == "/hello created with hello\n"


def test_routes_create_without_an_image_is_refused_before_sending(fn: RunFn, peer: FnPeer) -> None:
    result = fn("routes", "create", "myapp", "/hello")

    assert (result.exit_code, result.stderr, peer.requests) == (1, "ERROR: no image specified\n", [])


def test_routes_create_of_an_existing_route_prints_the_conflict(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/v1/apps/myapp/routes", 409, body={"error": {"message": "Route already exists"}})

    assert fn("routes", "c", "myapp", "/hello", "img").stderr == "ERROR: Route already exists\n"


def test_routes_update_patches_only_the_given_flags(fn: RunFn, peer: FnPeer) -> None:
    peer.on("PATCH", "/v1/apps/myapp/routes/asyncfn", body={"route": ROUTE})

    result = fn("routes", "update", "myapp", "/asyncfn", "--image", "fnproject/hello:0.0.3")

    assert result.stdout == "myapp asyncfn updated\n"
    assert peer.requests[0].body == b'{"route":{"image":"fnproject/hello:0.0.3"}}\n'


def test_routes_update_of_a_missing_route_prints_the_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("PATCH", "/v1/apps/myapp/routes/nope", 404, body={"error": {"message": "Route not found"}})

    assert fn("routes", "update", "myapp", "/nope", "-m", "64").stderr == "ERROR: Route not found\n"


def test_routes_inspect_prints_the_route_as_indented_json(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp/routes/a/b", body={"route": {"path": "/a/b", "image": "x"}})

    result = fn("routes", "inspect", "myapp", "/a/b")

    assert result.stdout == '{\n\t"image": "x",\n\t"path": "/a/b"\n}\n'
    assert fn("routes", "inspect", "myapp", "/a/b", "image").stdout == '"x"\n'


def test_routes_delete_prints_fns_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("DELETE", "/v1/apps/myapp/routes/asyncfn", body={"message": "Route deleted"})

    assert fn("routes", "delete", "myapp", "/asyncfn").stdout == "myapp asyncfn deleted\n"


def test_routes_delete_of_a_missing_route_prints_the_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("DELETE", "/v1/apps/myapp/routes/nope", 404, body={"error": {"message": "Route not found"}})

    result = fn("routes", "d", "myapp", "nope")

    assert (result.exit_code, result.stderr) == (1, "ERROR: Route not found\n")


def test_an_empty_route_path_is_cleaned_as_fns_cli_cleans_it(fn: RunFn, peer: FnPeer) -> None:
    # Fn's WithoutSlash(""): path.Clean gives ".", so Fn asks for the route "." and prints it;
    # fnq's CLI used to special-case "" as "/" and print nothing there.
    peer.on("DELETE", "/v1/apps/myapp/routes/.", body={"message": "Route deleted"})

    assert fn("routes", "delete", "myapp", "").stdout == "myapp . deleted\n"
    assert peer.seen == ["DELETE /v1/apps/myapp/routes/."]
