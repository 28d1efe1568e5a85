"""The dashboard in a real headless Chromium against `fn start`: what a person sees and can do.

One `fn start` (token required) and one browser for the module; each test uses apps of its own.
Set FNQ_UI_SCREENSHOT=docs/dashboard.png to write the README's screenshot from this run.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from selenium.common.exceptions import WebDriverException

from chalicelib.settings import DEFAULT_REGION
from fnq.local.resources import FAKE_KEY
from tests.e2e.support import HELLO_WORLD, Tutorial
from tests.local.support import HELLO, Http
from tests.reliability.conftest import deploy
from tests.ui.browser import Dashboard
from tests.ui.conftest import TOKEN, DashboardStack
from tests.ui.stage import stage_prefix

pytestmark = pytest.mark.e2e

OPEN = {"queued", "running"}
FAILS = """
import sys
print("cannot reach the payments service", file=sys.stderr)
sys.exit(3)
"""
# What a hostile function might write, and what the page must show as text and never run.
MARKUP = "<script>window.pwned = 'script'</script><img src=x onerror=\"window.pwned = 'img'\">"
WRITES_MARKUP = f"""
import sys
print({MARKUP!r})
print({MARKUP!r}, file=sys.stderr)
"""


def submit(http: Http, app: str, name: str) -> str:
    status, headers, reply = http.call(app, name)
    assert status == 202, reply
    return headers["Fn_call_id"]


@dataclass
class Showcase:
    """An app with calls that ended both ways: for the filter test and the screenshot."""

    app: str
    succeeded: list[str]
    failed: list[str]


@pytest.fixture(scope="module")
def showcase(local_stack: DashboardStack, tmp_path_factory: pytest.TempPathFactory) -> Showcase:
    http = local_stack.http()
    functions = tmp_path_factory.mktemp("showcase")
    deploy(http, functions, "shop", "hello", HELLO, memory=64, timeout=10)
    deploy(http, functions, "shop", "checkout", FAILS, config={"REGION": "eu-west-1"}, max_retries=0)
    succeeded = [submit(http, "shop", "hello") for _ in range(3)]
    failed = [submit(http, "shop", "checkout") for _ in range(2)]
    for call_id in succeeded + failed:
        http.wait_for_call("shop", call_id)
    return Showcase("shop", succeeded, failed)


def test_the_page_asks_for_the_token_when_the_api_wants_one_and_keeps_it_for_the_tab(
    browser: Dashboard, local_stack: DashboardStack
) -> None:
    # GIVEN an API started with FNQ_API_TOKEN, and the dashboard's address from fn start's banner
    url = local_stack.banner_value("dashboard")
    assert url == f"{local_stack.url}/ui"
    assert local_stack.http().json("POST", "/v1/apps", {"app": {"name": "guarded"}})[0] == 200
    page = Dashboard(browser.driver, url)
    page.open()
    page.forget_token()

    # WHEN the page is opened without a token, THEN it asks for one and shows nothing else
    page.open()
    page.wait(lambda: page.visible("#token-form"))
    assert not page.visible("main")
    assert not page.visible("#token-refused")

    # WHEN a wrong token is given, THEN it says so and asks again
    page.sign_in("not-the-token")
    page.wait(lambda: page.visible("#token-refused"))

    # WHEN the right one is given, THEN the apps show, and a reload of the tab does not ask again
    page.sign_in(TOKEN)
    page.wait(lambda: "guarded" in page.text("main"))
    assert page.script("return sessionStorage.getItem('fnq.token')") == TOKEN
    page.open("/apps/guarded")
    page.wait(lambda: page.heading() == "guarded")
    assert not page.visible("#token-form")


def test_the_tutorials_call_shows_up_open_then_succeeds_without_a_reload_and_its_log_says_hello(
    dashboard: Dashboard, local_stack: DashboardStack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN the tutorial's function, deployed with `fn` (which sends FN_TOKEN), slowed down by
    # three seconds so that its open state lasts long enough to be seen
    monkeypatch.setenv("FN_TOKEN", TOKEN)
    tutorial = Tutorial(local_stack.url, tmp_path, app="tutorial")
    function = tutorial.init("python", "asyncfn")
    tutorial.make_async(function)
    source = (function / "func.py").read_text()
    slowed = source.replace("import json\n", "import json\nimport time\n", 1).replace(
        '    name = "World"\n', '    time.sleep(3)\n    name = "World"\n', 1
    )
    assert "import time\n" in slowed and "time.sleep(3)" in slowed, source
    (function / "func.py").write_text(slowed)
    tutorial.deploy(function)

    # WHEN the call is made and the app's page is looked at
    call_id = tutorial.call_async("/asyncfn")
    dashboard.go("/apps/tutorial")

    # THEN the call is listed queued or running, and later success, in the same document
    first = dashboard.wait(lambda: dashboard.call_statuses().get(call_id))
    assert first in OPEN, first
    dashboard.script("window.sameDocument = true")
    dashboard.wait(lambda: dashboard.call_statuses().get(call_id) == "success")
    assert dashboard.script("return window.sameDocument") is True

    # WHEN the call is opened, THEN its details and its log show
    dashboard.driver.find_element("link text", call_id).click()
    dashboard.wait(lambda: dashboard.log() == HELLO_WORLD)
    assert dashboard.heading() == call_id
    assert dashboard.field("status") == "success"
    assert dashboard.field("route") == "/asyncfn"
    assert dashboard.field("attempt") == "1"
    assert dashboard.field("duration").endswith(" ms")
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} UTC \(waited [\d.]+ m?s\)", dashboard.field("started")
    )
    assert len(dashboard.driver.find_elements("css selector", "main table tbody tr")) == 1  # attempts


def test_the_status_filter_shows_only_failed_calls(dashboard: Dashboard, showcase: Showcase) -> None:
    dashboard.go(f"/apps/{showcase.app}")
    everything = set(showcase.succeeded + showcase.failed)
    dashboard.wait(lambda: set(dashboard.call_statuses()) == everything)

    dashboard.choose("status", "error")

    dashboard.wait(lambda: set(dashboard.call_statuses()) == set(showcase.failed))
    assert set(dashboard.call_statuses().values()) == {"error"}
    assert "status=error" in dashboard.driver.current_url
    # and a failed call shows why
    dashboard.driver.find_element("link text", showcase.failed[0]).click()
    dashboard.wait(lambda: "cannot reach the payments service" in dashboard.log())
    assert dashboard.field("exit code") == "3"


def test_a_redrive_from_the_page_queues_a_dead_call_again(
    dashboard: Dashboard, local_stack: DashboardStack, tmp_path: Path
) -> None:
    # GIVEN two calls whose code went missing from the bucket: after their one allowed attempt
    # (FNQ_MAX_ATTEMPTS=1) the platform gives up on them and they are dead
    http = local_stack.http()
    digest = deploy(http, tmp_path, "orders", "restock", HELLO.replace("World", "Restocked"))
    s3 = boto3.client(
        "s3",
        endpoint_url=local_stack.aws_endpoint,
        aws_access_key_id=FAKE_KEY,
        aws_secret_access_key=FAKE_KEY,
        region_name=DEFAULT_REGION,
    )
    bucket, key = local_stack.banner_value("bucket"), f"bundles/sha256/{digest[7:]}.zip"
    bundle = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    s3.delete_object(Bucket=bucket, Key=key)
    dead = [submit(http, "orders", "restock") for _ in range(2)]
    for call_id in dead:
        call = http.wait_for_call("orders", call_id)
        assert (call["status"], call.get("dead")) == ("error", True), call
    # ... and the code is back
    s3.put_object(Bucket=bucket, Key=key, Body=bundle)

    # WHEN the first is redriven from its page
    dashboard.go(f"/apps/orders/calls/{dead[0]}")
    dashboard.wait(lambda: "dead" in dashboard.field("status"))
    dashboard.press("Redrive")

    # THEN the page shows it queued again at once, and then it succeeds
    dashboard.wait(lambda: "Call redriven" in dashboard.text("main"))
    assert dashboard.field("status").split()[0] in OPEN | {"success"}
    dashboard.wait(lambda: dashboard.field("status") == "success")
    dashboard.wait(lambda: "Hello Restocked" in dashboard.log())
    assert json.loads(dashboard.log()) == {"message": "Hello Restocked"}

    # WHEN the app's dead calls are redriven from the app's page, THEN the other one runs too
    dashboard.go("/apps/orders")
    dashboard.wait(lambda: dashboard.call_statuses().get(dead[1]) == "error")
    dashboard.press("Redrive dead calls")
    dashboard.wait(lambda: "Redrove 1 dead calls" in dashboard.text("main"))
    dashboard.wait(lambda: dashboard.call_statuses().get(dead[1]) == "success")
    assert http.wait_for_call("orders", dead[1])["status"] == "success"


def test_what_a_function_writes_is_shown_as_text_and_runs_nothing(
    dashboard: Dashboard, local_stack: DashboardStack, tmp_path: Path
) -> None:
    # GIVEN a function whose log, config and headers hold markup
    http = local_stack.http()
    markup = {"config": {"NOTE": MARKUP}, "headers": {"X-Note": [MARKUP]}}
    deploy(http, tmp_path, "hostile", "markup", WRITES_MARKUP, **markup)
    call_id = submit(http, "hostile", "markup")
    assert http.wait_for_call("hostile", call_id)["status"] == "success"
    # The page's own discipline is under test, not its Content-Security-Policy (which would also
    # stop an inline handler): the policy is switched off in this browser for this test.
    dashboard.driver.execute_cdp_cmd("Page.setBypassCSP", {"enabled": True})
    try:
        # WHEN the app and then the call are looked at
        dashboard.open("/apps/hostile")
        dashboard.wait(lambda: MARKUP in dashboard.text("main"))
        assert dashboard.text("main").count(MARKUP) == 2  # the route's config and its header
        assert_inert(dashboard)
        dashboard.go(f"/apps/hostile/calls/{call_id}")
        dashboard.wait(lambda: dashboard.field("status") == "success")

        # THEN the log shows the markup literally, and nothing of it became an element or ran
        assert dashboard.wait(lambda: dashboard.log()).count(MARKUP) == 2  # stdout and stderr
        assert_inert(dashboard)
    finally:
        dashboard.driver.execute_cdp_cmd("Page.setBypassCSP", {"enabled": False})


def assert_inert(page: Dashboard) -> None:
    elements = page.script(
        "return {scripts: document.scripts.length, images: document.images.length,"
        " pwned: typeof window.pwned}"
    )
    assert elements == {"scripts": 1, "images": 0, "pwned": "undefined"}, elements


def test_the_page_works_under_a_stage_path_with_every_other_origin_blocked(
    dashboard: Dashboard, local_stack: DashboardStack, showcase: Showcase
) -> None:
    # GIVEN the API behind a stage prefix, as API Gateway serves it at /api, in a browser that
    # can reach nothing but loopback
    with stage_prefix(local_stack.url) as stage:
        page = Dashboard(dashboard.driver, f"{stage}/ui")

        # WHEN the page is loaded at /api/ui/ and walked from the apps to a call's log
        dashboard.driver.get(f"{stage}/ui/")
        page.sign_in(TOKEN)  # another origin: another sessionStorage
        page.wait(lambda: "shop" in page.text("main"))
        assert page.driver.current_url.split("#")[0] == f"{stage}/ui"
        page.driver.find_element("link text", "shop").click()
        page.wait(lambda: set(showcase.succeeded) <= set(page.call_statuses()))
        page.driver.find_element("link text", showcase.succeeded[0]).click()
        page.wait(lambda: page.log() == '{"message": "Hello World"}\n')

        # THEN every request it made went to the stage, none elsewhere
        requested = page.requested_urls()
        assert requested, "the network log is empty"
        assert all(url.startswith(f"{stage}/") for url in requested), requested
        assert {f"{stage}/ui/app.js", f"{stage}/ui/style.css", f"{stage}/v1/apps/shop/calls"} <= {
            url.split("?")[0] for url in requested
        }

    # ... and the log does see a request for another origin, which this browser cannot reach
    with pytest.raises(WebDriverException, match=r"ERR_PROXY_CONNECTION_FAILED|ERR_NAME_NOT_RESOLVED"):
        dashboard.driver.get("http://example.com/")
    assert "http://example.com/" in page.requested_urls()


def test_the_readme_screenshot(dashboard: Dashboard, showcase: Showcase, tmp_path: Path) -> None:
    """The app's page, as the README shows it; FNQ_UI_SCREENSHOT=path writes it there too."""
    dashboard.go(f"/apps/{showcase.app}")
    dashboard.wait(lambda: set(dashboard.call_statuses()).issuperset(showcase.failed + showcase.succeeded))
    dashboard.wait(lambda: not set(dashboard.call_statuses().values()) & OPEN)
    target = Path(os.environ.get("FNQ_UI_SCREENSHOT") or tmp_path / "dashboard.png")
    dashboard.screenshot(target)
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
