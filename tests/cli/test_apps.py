from __future__ import annotations

from tests.cli.peer import FnPeer, RunFn

APP = {"name": "myapp", "config": {"DB_URL": "x", "A": "<b>"}, "created_at": "2018-03-20T18:11:17.123Z"}


def test_apps_list_prints_one_name_per_line_following_next_cursor(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps", body={"apps": [{"name": "myapp"}], "next_cursor": "bXlhcHA"})
    peer.on("GET", "/v1/apps?cursor=bXlhcHA", body={"apps": [{"name": "otherapp"}], "next_cursor": ""})

    result = fn("apps", "list")

    assert (result.exit_code, result.stdout) == (0, "myapp\notherapp\n")
    assert peer.seen == ["GET /v1/apps", "GET /v1/apps?cursor=bXlhcHA"]


def test_apps_list_stops_after_n_apps(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps", body={"apps": [{"name": "a"}, {"name": "b"}], "next_cursor": "Yg"})

    result = fn("apps", "list", "-n", "1")

    assert result.stdout == "a\n"
    assert peer.seen == ["GET /v1/apps"]


def test_apps_list_says_so_when_there_are_none(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps", body={"apps": [], "next_cursor": ""})

    assert fn("apps", "l").stdout == "no apps found\n"


def test_apps_list_stops_on_an_empty_page_even_with_a_cursor(fn: RunFn, peer: FnPeer) -> None:
    # Fn's CLI looped forever here (fn-api.md §6.2).
    peer.on("GET", "/v1/apps", body={"apps": [], "next_cursor": "again"})

    assert fn("apps", "list").stdout == "no apps found\n"
    assert peer.seen == ["GET /v1/apps"]


def test_apps_create_posts_the_app_and_prints_fns_two_space_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/v1/apps", body={"message": "App successfully created", "app": {"name": "newapp"}})

    result = fn("apps", "create", "newapp", "--config", "K=V")

    assert (result.exit_code, result.stdout) == (0, "Successfully created app:  newapp\n")
    request = peer.requests[0]
    assert request.body == b'{"app":{"config":{"K":"V"},"name":"newapp"}}\n'
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"


def test_apps_create_reports_a_conflict_as_fn_does(fn: RunFn, peer: FnPeer) -> None:
    peer.on("POST", "/v1/apps", 409, body={"error": {"message": "App already exists"}})

    result = fn("apps", "create", "myapp")

    assert (result.exit_code, result.stdout, result.stderr) == (1, "", "ERROR: App already exists\n")


def test_apps_inspect_prints_tab_indented_json_like_go(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp", body={"message": "Successfully loaded app", "app": APP})

    result = fn("apps", "inspect", "myapp")

    assert result.stdout == (
        "{\n"
        '\t"config": {\n\t\t"A": "\\u003cb\\u003e",\n\t\t"DB_URL": "x"\n\t},\n'
        '\t"created_at": "2018-03-20T18:11:17.123Z",\n'
        '\t"name": "myapp"\n'
        "}\n"
    )


def test_apps_inspect_prints_one_property_by_its_dotted_path(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp", body={"app": APP})

    assert fn("apps", "inspect", "myapp", "config.DB_URL").stdout == '"x"\n'
    assert fn("apps", "inspect", "myapp", "nope").stderr == "ERROR: failed to inspect field nope\n"


def test_apps_inspect_of_a_missing_app_prints_the_servers_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/nope", 404, body={"error": {"message": "App not found"}})

    result = fn("apps", "inspect", "nope")

    assert (result.exit_code, result.stderr) == (1, "ERROR: App not found\n")


def test_apps_update_patches_the_config(fn: RunFn, peer: FnPeer) -> None:
    peer.on("PATCH", "/v1/apps/myapp", body={"app": APP})

    result = fn("apps", "update", "myapp", "-c", "K=V")

    assert result.stdout == "app myapp updated\n"
    assert peer.requests[0].json() == {"app": {"config": {"K": "V"}}}


def test_apps_delete_prints_fns_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("DELETE", "/v1/apps/myapp", body={"message": "App deleted"})

    result = fn("apps", "delete", "myapp")

    assert result.stdout == "App myapp deleted\n"
    assert peer.requests[0].body == b""


def test_apps_delete_of_a_missing_app_fails_with_the_message(fn: RunFn, peer: FnPeer) -> None:
    peer.on("DELETE", "/v1/apps/nope", 404, body={"error": {"message": "App not found"}})

    assert fn("apps", "delete", "nope").stderr == "ERROR: App not found\n"


def test_apps_config_set_get_list_and_unset(fn: RunFn, peer: FnPeer) -> None:
    peer.on("PATCH", "/v1/apps/myapp", body={"app": APP})
    peer.on("GET", "/v1/apps/myapp", body={"app": APP})

    assert fn("apps", "config", "set", "myapp", "K", "V").stdout == "myapp updated K with V\n"
    assert fn("apps", "config", "get", "myapp", "DB_URL").stdout == "x\n"
    assert fn("apps", "config", "list", "myapp").stdout == "A=<b>\nDB_URL=x\n"
    assert fn("apps", "config", "unset", "myapp", "K").stdout == "removed key 'K' from app 'myapp' \n"
    assert [r.json() for r in peer.requests if r.method == "PATCH"] == [
        {"app": {"config": {"K": "V"}}},
        {"app": {"config": {"K": ""}}},
    ]


def test_apps_config_get_of_a_missing_key_fails(fn: RunFn, peer: FnPeer) -> None:
    peer.on("GET", "/v1/apps/myapp", body={"app": APP})

    assert fn("apps", "config", "get", "myapp", "NOPE").stderr == "ERROR: config key does not exist\n"


def test_apps_config_set_on_a_missing_app_says_what_failed(fn: RunFn, peer: FnPeer) -> None:
    peer.on("PATCH", "/v1/apps/nope", 404, body={"error": {"message": "App not found"}})

    result = fn("apps", "config", "set", "nope", "K", "V")

    assert result.stderr == "ERROR: error updating app configuration: App not found\n"


def test_a_config_pair_without_an_equals_sign_is_refused_before_sending(fn: RunFn, peer: FnPeer) -> None:
    result = fn("apps", "create", "myapp", "--config", "oops")

    assert (result.exit_code, result.stderr) == (1, "ERROR: invalid config 'oops': expected KEY=VALUE\n")
    assert peer.requests == []


def test_apps_callback_secret_prints_the_secret_and_rotates_it_when_asked(fn: RunFn, peer: FnPeer) -> None:
    reply = {"callback_secret": {"app_name": "myapp", "secret": "fnqcb_1"}}
    peer.on("GET", "/v1/apps/myapp/callback_secret", body=reply)
    peer.on("POST", "/v1/apps/myapp/callback_secret", body={"callback_secret": {"secret": "fnqcb_2"}})

    assert fn("apps", "callback-secret", "myapp").stdout == "fnqcb_1\n"
    assert fn("apps", "callback-secret", "myapp", "--rotate").stdout == "fnqcb_2\n"
    assert peer.seen == ["GET /v1/apps/myapp/callback_secret", "POST /v1/apps/myapp/callback_secret"]
