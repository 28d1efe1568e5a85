"""One `fn start` and one Chromium for the dashboard's browser tests; in CI none of them is skipped.

The stack requires a token (so the page must ask for it), allows one attempt per call and brings
a held message back after 2 s (so a call whose code went missing is dead within seconds).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.e2e.conftest import pytest_runtest_makereport  # noqa: F401  (a skip in CI fails)
from tests.e2e.support import serving
from tests.local.support import PYTHON, REPO, Http, Process, free_port, process_env
from tests.reliability.conftest import TunedFnStart
from tests.ui.browser import Dashboard, chromium, require_chromium

TOKEN = "dashboard-s3cret"
VISIBILITY_SECONDS = 2


class DashboardStack(TunedFnStart):
    """`fn start` with FNQ_API_TOKEN set, one attempt per call, and a short visibility timeout."""

    def __init__(self, port: int) -> None:
        argv = [PYTHON, "-m", "fnq.local", "--port", str(port), "--ephemeral"]
        argv += ["--visibility-timeout", str(VISIBILITY_SECONDS)]
        env = process_env({"FNQ_API_TOKEN": TOKEN, "FNQ_MAX_ATTEMPTS": "1"})
        Process.__init__(self, argv, env, cwd=REPO, new_session=True)
        self.url = f"http://localhost:{port}"

    def http(self) -> Http:
        return Http(self.url, token=TOKEN)


@pytest.fixture(scope="module")
def local_stack() -> Iterator[DashboardStack]:
    require_chromium()  # no stack for tests that cannot run
    started = DashboardStack(free_port())
    with serving(started):
        yield started


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Dashboard]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as driver:
        yield Dashboard(driver, "")


@pytest.fixture
def dashboard(browser: Dashboard, local_stack: DashboardStack) -> Dashboard:
    """The dashboard at the address `fn start` printed, signed in, its network log emptied."""
    page = Dashboard(browser.driver, local_stack.banner_value("dashboard"))
    page.open()
    page.wait(lambda: page.visible("#token-form") or page.heading() == "Apps")
    if page.visible("#token-form"):
        page.sign_in(TOKEN)
    page.wait(lambda: page.heading() == "Apps")
    page.requested_urls()
    return page
