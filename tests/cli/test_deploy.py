from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from pathlib import Path

import pytest
from click.testing import Result

from chalicelib.execute.funcfile import FuncFile, load_func_file
from tests.cli.peer import FnPeer, RunFn, write

FUNC_YAML = """\
# my function
name: hello
version: 0.0.1
runtime: python
entrypoint: python3 func.py
format: json
type: async
timeout: 60
config:
  GREETING: hi
"""


def copy_builder(src: Path, dest: Path) -> FuncFile:
    """Stands in for fnq.build.function.build_function: the build output is the source."""
    shutil.copytree(src, dest, dirs_exist_ok=True)
    return load_func_file(dest)


def accept_bundles(peer: FnPeer) -> None:
    """The core's upload protocol: unknown digests 404 on GET, then the PUT stores them."""
    peer.on("GET", "/v1/bundles/sha256/*", 404, body={"error": {"message": "Bundle not found"}})
    peer.on("PUT", "/v1/bundles/sha256/*", body={"message": "Bundle stored", "bundle": {}})


@pytest.fixture
def hello(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, peer: FnPeer) -> Path:
    accept_bundles(peer)
    directory = tmp_path / "hello"
    write(directory / "func.yaml", FUNC_YAML)
    write(directory / "func.py", "print('hi')\n")
    monkeypatch.chdir(directory)
    return directory


def deploy(fn: RunFn, *args: str) -> Result:
    return fn("deploy", *args, builder=copy_builder)


def test_deploy_uploads_a_new_bundle_then_puts_the_route(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    peer.on("PUT", "/v1/apps/myapp/routes/hello", body={"message": "Route successfully created", "route": {}})

    result = fn("deploy", "--local", "--app", "myapp", builder=copy_builder)

    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "Deploying hello to app: myapp at path: /hello\n"
        "Bumped to version 0.0.2\n"
        "Updating route /hello using image hello:0.0.2...\n"
    )
    assert result.stderr == "Building bundle hello:0.0.2 ...\n"
    get_bundle, put_bundle, put_route = peer.requests
    digest = hashlib.sha256(put_bundle.body).hexdigest()
    assert (get_bundle.method, get_bundle.path) == ("GET", f"/v1/bundles/sha256/{digest}")
    assert (put_bundle.method, put_bundle.path) == ("PUT", f"/v1/bundles/sha256/{digest}")
    assert put_bundle.headers["Content-Type"] == "application/zip"
    assert (put_route.method, put_route.path) == ("PUT", "/v1/apps/myapp/routes/hello")
    assert put_route.json() == {
        "route": {
            "path": "/hello",
            "image": "hello:0.0.2",
            "bundle": f"sha256:{digest}",
            "type": "async",
            "format": "json",
            "timeout": 60,
            "config": {"GREETING": "hi"},
        }
    }
    bundled = zipfile.ZipFile(io.BytesIO(put_bundle.body))
    assert sorted(bundled.namelist()) == ["func.py", "func.yaml"]
    assert "version: 0.0.2" in bundled.read("func.yaml").decode()


def test_deploy_bumps_only_the_version_line_of_func_yaml(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    peer.on("PUT", "/v1/apps/myapp/routes/hello", body={"route": {}})

    deploy(fn, "--app", "myapp")
    deploy(fn, "--app", "myapp")

    assert (hello / "func.yaml").read_text() == FUNC_YAML.replace("0.0.1", "0.0.3")


def test_deploy_skips_the_upload_when_the_server_has_the_bundle(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    peer.on("PUT", "/v1/apps/myapp/routes/hello", body={"route": {}})
    deploy(fn, "--app", "myapp")
    digest = peer.requests[1].path.rsplit("/", 1)[1]
    # Same files again (the version line back as it was): same bytes, same digest.
    (hello / "func.yaml").write_text(FUNC_YAML)
    found = {"bundle": {"digest": f"sha256:{digest}", "size": len(peer.requests[1].body)}}
    peer.on("GET", f"/v1/bundles/sha256/{digest}", body=found)
    peer.requests.clear()

    result = fn("deploy", "--app", "myapp", "-v", builder=copy_builder)

    assert [r.method for r in peer.requests] == ["GET", "PUT"]
    assert peer.requests[1].path == "/v1/apps/myapp/routes/hello"
    assert f"Bundle sha256:{digest} (" in result.stderr and "is already on the server" in result.stderr


def test_deploy_reads_the_app_name_from_app_yaml(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    write(hello / "app.yaml", "name: fromfile\n")
    peer.on("PUT", "/v1/apps/fromfile/routes/hello", body={"route": {}})

    result = deploy(fn)

    assert "Deploying hello to app: fromfile at path: /hello\n" in result.stdout


def test_deploy_without_an_app_name_prints_fns_hint(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    result = fn("deploy", builder=copy_builder)

    assert (result.exit_code, result.stderr) == (
        1,
        "ERROR: app name must be provided, try `--app APP_NAME`.\n",
    )
    assert peer.requests == []


def test_deploy_outside_a_function_directory_fails(
    fn: RunFn, peer: FnPeer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)

    result = fn("deploy", "--app", "myapp", builder=copy_builder)

    assert (result.exit_code, result.stderr) == (1, "ERROR: No function file found.\n")


def test_deploy_uses_the_path_from_func_yaml_when_set(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    (hello / "func.yaml").write_text(FUNC_YAML + "path: /greet/en\n")
    peer.on("PUT", "/v1/apps/myapp/routes/greet/en", body={"route": {}})

    result = fn("deploy", "--app", "myapp", builder=copy_builder)

    assert result.stdout.startswith("Deploying hello to app: myapp at path: /greet/en\n")
    assert peer.requests[-1].json()["route"]["path"] == "/greet/en"


def test_deploy_gives_a_func_yaml_without_version_the_first_one(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    (hello / "func.yaml").write_text("name: hello\nruntime: python\n")
    peer.on("PUT", "/v1/apps/myapp/routes/hello", body={"route": {}})

    result = deploy(fn, "--app", "myapp")

    assert "Bumped to version 0.0.1\n" in result.stdout
    assert (hello / "func.yaml").read_text() == "name: hello\nversion: 0.0.1\nruntime: python\n"
    assert peer.requests[-1].json() == {
        "route": {
            "path": "/hello",
            "image": "hello:0.0.1",
            "bundle": peer.requests[-1].json()["route"]["bundle"],
        }
    }


def test_deploy_reports_the_servers_refusal_of_a_bundle(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    peer.script.pop(("PUT", "/v1/bundles/sha256/*"))
    peer.on("PUT", "/v1/bundles/sha256/*", 413, body={"error": {"message": "Bundle too large"}})

    result = fn("deploy", "--app", "myapp", builder=copy_builder)

    assert (result.exit_code, result.stderr.splitlines()[-1]) == (1, "ERROR: Bundle too large")
    assert "Updating route" not in result.stdout
    assert [r.method for r in peer.requests] == ["GET", "PUT"]


def test_deploy_all_deploys_every_function_below(
    fn: RunFn, peer: FnPeer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "app.yaml", "name: myapp\n")
    write(tmp_path / "one" / "func.yaml", "name: one\nversion: 0.0.1\nruntime: python\n")
    write(tmp_path / "two" / "func.yaml", "name: two\nversion: 0.0.1\nruntime: python\n")
    write(tmp_path / "node_modules" / "x" / "func.yaml", "name: x\n")
    accept_bundles(peer)
    peer.on("PUT", "/v1/apps/myapp/routes/one", body={"route": {}})
    peer.on("PUT", "/v1/apps/myapp/routes/two", body={"route": {}})
    monkeypatch.chdir(tmp_path)

    result = fn("deploy", "--all", builder=copy_builder)

    assert result.exit_code == 0, result.stderr
    assert [r.path for r in peer.requests if "/routes/" in r.path] == [
        "/v1/apps/myapp/routes/one",
        "/v1/apps/myapp/routes/two",
    ]


def test_deploy_refuses_a_version_that_is_not_semver(fn: RunFn, peer: FnPeer, hello: Path) -> None:
    (hello / "func.yaml").write_text("name: hello\nversion: latest\n")

    result = deploy(fn, "--app", "myapp")

    assert result.stderr.splitlines()[-1] == (
        'ERROR: invalid version "latest" in func.yaml: expected MAJOR.MINOR.PATCH'
    )
