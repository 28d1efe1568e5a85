"""A real headless Chromium (Debian's, through its chromedriver) and the dashboard as a page object.

The browser can reach loopback only: every host name but localhost resolves to nothing and every
other address goes to a proxy that is not there, so the dashboard is always tested offline, as it
must work. Its network log is kept, so a test can list every request the page made.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

from tests.e2e.support import require

T = TypeVar("T")
WAIT_SECONDS = 30.0
WINDOW = (1280, 900)
# Flags that work here as root (see the machine notes): no sandbox, no GPU, and no background
# traffic to Google, which this machine's closed network would refuse at every start.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    f"--window-size={WINDOW[0]},{WINDOW[1]}",
    # Offline but for loopback: names other than localhost do not resolve, and any address is sent
    # to a closed port as its proxy (Chromium never proxies loopback).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost",
    "--proxy-server=http://127.0.0.1:9",
]


def require_chromium() -> tuple[str, str]:
    """The chromium and chromedriver programs; skips (fails in CI) when they are not installed."""
    for program in ("chromium", "chromedriver"):
        require(program, f"{program} is not installed (Debian: apt-get install chromium chromium-driver)")
    return str(shutil.which("chromium")), str(shutil.which("chromedriver"))


@contextmanager
def chromium(profile: Path) -> Iterator[webdriver.Chrome]:
    """A headless Chromium with a fresh profile in `profile`, quit afterwards."""
    browser, driver_path = require_chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL", "browser": "ALL"})
    # The driver's path is given, so Selenium Manager never looks for (or downloads) another.
    driver = webdriver.Chrome(options=options, service=Service(executable_path=driver_path))
    try:
        yield driver
    finally:
        driver.quit()


class Dashboard:
    """The dashboard at `url` (its /ui address) in `driver`, read the way a person reads it."""

    def __init__(self, driver: webdriver.Chrome, url: str) -> None:
        self.driver = driver
        self.url = url

    # -------------------------------------------------------------- moving
    def open(self, fragment: str = "/") -> None:
        """Load the page afresh at `#fragment` (from another page first: going to the same address
        with another fragment would only move within the loaded document)."""
        self.driver.get("about:blank")
        self.driver.get(f"{self.url}#{fragment}")

    def go(self, fragment: str) -> None:
        """Move within the loaded page, as a click on a link does."""
        self.driver.execute_script("location.hash = arguments[0]", fragment)

    def sign_in(self, token: str) -> None:
        self.wait(lambda: self.visible("#token"))
        field = self.driver.find_element(By.ID, "token")
        field.send_keys(token)
        field.submit()

    def forget_token(self) -> None:
        self.driver.execute_script("sessionStorage.clear()")

    # ------------------------------------------------------------- reading
    def wait(self, condition: Callable[[], T], timeout: float = WAIT_SECONDS) -> T:
        """What `condition` answers once it is truthy; fails after `timeout` with what the page shows."""
        waiting = WebDriverWait(
            self.driver, timeout, poll_frequency=0.1, ignored_exceptions=[StaleElementReferenceException]
        )
        try:
            return waiting.until(lambda _: condition())
        except TimeoutException as exc:
            raise AssertionError(f"the page never got there; it shows:\n{self.text()}") from exc

    # The page redraws itself while it refreshes: each read below is one script, so it sees one
    # state of the page (an element found, then read, may have been replaced in between).
    def visible(self, selector: str) -> bool:
        return bool(
            self.script(
                "const e = document.querySelector(arguments[0]); return !!e && e.checkVisibility();", selector
            )
        )

    def text(self, selector: str = "body") -> str:
        return str(self.script("return document.querySelector(arguments[0])?.innerText ?? ''", selector))

    def heading(self) -> str:
        return self.text("main h1")

    def call_statuses(self) -> dict[str, str]:
        """Call id → status, as the app's calls table shows them."""
        statuses: dict[str, str] = self.script(
            """const rows = document.querySelectorAll("tr[data-call]");
               return Object.fromEntries([...rows].map(
                 (row) => [row.dataset.call, row.querySelector(".call-status").textContent]));"""
        )
        return statuses

    def field(self, name: str) -> str:
        """The text beside `name` in a call's details."""
        value = self.script(
            """for (const dt of document.querySelectorAll("dl.call dt"))
                 if (dt.textContent === arguments[0]) return dt.nextElementSibling.textContent;
               return "";""",
            name,
        )
        return str(value)

    def log(self) -> str:
        return str(self.script('return document.querySelector("pre.log")?.textContent ?? ""'))

    def choose(self, name: str, value: str) -> None:
        Select(self.driver.find_element(By.CSS_SELECTOR, f"select[name={name}]")).select_by_value(value)

    def press(self, label: str) -> None:
        for button in self.driver.find_elements(By.TAG_NAME, "button"):
            if button.text == label and button.is_displayed():
                button.click()
                return
        raise AssertionError(f"no button {label!r}; the page shows:\n{self.text()}")

    def script(self, source: str, *args: Any) -> Any:
        return self.driver.execute_script(source, *args)

    def requested_urls(self) -> list[str]:
        """Every URL the browser asked for since the last look (the performance log drains)."""
        urls = []
        for entry in self.driver.get_log("performance"):  # type: ignore[no-untyped-call]
            message = json.loads(entry["message"])["message"]
            if message["method"] == "Network.requestWillBeSent":
                urls.append(message["params"]["request"]["url"])
        return urls

    def screenshot(self, path: Path) -> None:
        assert self.driver.save_screenshot(str(path)), path
