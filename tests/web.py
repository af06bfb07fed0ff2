"""Driving the service as its users do: `zhunru serve` in a subprocess (the real console script),
HTTP with urllib, pages in Debian's real Chromium through chromedriver (Selenium).

Screenshots go to $ZHUNRU_ARTIFACTS (default: test-artifacts/ in the repository), kept after the
run for a person to look at."""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
ZHUNRU = os.path.join(os.path.dirname(sys.executable), "zhunru")
ARTIFACTS = Path(os.environ.get("ZHUNRU_ARTIFACTS") or REPO / "test-artifacts")
PHONE = (390, 844)  # a common phone's CSS viewport


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A running `zhunru serve`; `base` is its URL; `password` the demo accounts' password."""

    def __init__(self, args: list[str], env: dict | None = None):
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([ZHUNRU, "serve", "--port", str(self.port), *args], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env={**os.environ, **(env or {})}, text=True)
        self.password = None
        if "--demo" in args:
            line = self.proc.stdout.readline()
            while line and "password" not in line:
                line = self.proc.stdout.readline()
            found = re.search(r"password for every account: (\S+)", line or "")
            if not found:
                self.stop()
                pytest.fail(f"zhunru serve --demo printed no password: {self.proc.stderr.read()}")
            self.password = found.group(1)
        for _ in range(300):
            try:
                if call(self.base, "GET", "/api/v1/health")[0] == 200:
                    return
            except OSError:
                time.sleep(0.1)
            if self.proc.poll() is not None:
                break
        self.stop()
        pytest.fail(f"zhunru serve did not start: {self.proc.stderr.read()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def call(base: str, method: str, path: str, body: bytes | dict | None = None, token: str | None = None,
         headers: dict | None = None) -> tuple[int, object]:
    """One HTTP request; (status, parsed JSON, or the text when it is not JSON)."""
    data = json.dumps(body, ensure_ascii=False).encode() if isinstance(body, dict) else body
    sent = {"Content-Type": "application/json", **(headers or {})}
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(base + path, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode("utf-8", "replace")


def zhunru(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The console script, as a subprocess."""
    return subprocess.run([ZHUNRU, *args], input=stdin, capture_output=True, text=True, timeout=120)


def add_account(db_url: str, name: str, role: str, scope: str | None = None, password: str = "correct-horse-1") -> str:
    """A new account and its API token (what `zhunru user add` and `zhunru user token` make;
    in process, as the CLI's own tests cover those commands)."""
    from zhunru.office.accounts import Accounts

    accounts = Accounts(db_url)
    try:
        accounts.add(name, role, password, scope=scope)
        return accounts.add_token(name, "test")
    finally:
        accounts.close()


# -- Chromium -------------------------------------------------------------------------------------
def chromium_paths() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if os.path.exists("/usr/bin/chromedriver") else None)
    return (browser, driver) if browser and driver else None


def chromium(size: tuple[int, int] = (1280, 900)):
    """A headless Chromium driven by Selenium (Debian's binary and its chromedriver; nothing is
    downloaded). Skips the test when they are not installed, except in CI, where it fails."""
    paths = chromium_paths()
    if paths is None:
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are needed (apt-get install chromium chromium-driver)")
        pytest.skip("chromium and chromium-driver are not installed")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service as DriverService

    options = webdriver.ChromeOptions()
    options.binary_location = paths[0]
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                f"--window-size={size[0]},{size[1]}", "--lang=zh-CN"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=DriverService(executable_path=paths[1]), options=options)
    driver.set_page_load_timeout(60)
    if size[0] < 600:  # a phone: the CSS viewport, not only the window
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                               {"width": size[0], "height": size[1], "deviceScaleFactor": 2, "mobile": True})
    return driver


def screenshot(driver, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    driver.save_screenshot(str(path))
    return path


def login(driver, base: str, name: str, password: str) -> None:
    """Log in through the form and wait for the page it leads to."""
    from selenium.webdriver.common.by import By

    driver.get(base + "/login")
    driver.find_element(By.ID, "name").send_keys(name)
    driver.find_element(By.ID, "password").send_keys(password)
    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]"))
    assert "/login" not in driver.current_url, driver.find_element(By.TAG_NAME, "main").text


def click_and_wait(driver, element, timeout: float = 30) -> None:
    """Click something that loads a new page, and wait until the old page is gone.
    chromedriver reports an element of a page just replaced either as stale or, at times, with
    "Node with given id does not belong to the document" (from the click itself, or while the
    old page is being checked): both mean the old page is gone."""
    from selenium.webdriver.support.ui import WebDriverWait

    page = driver.find_element("tag name", "html")
    if not _gone(element.click):
        WebDriverWait(driver, timeout).until(lambda _d: _gone(page.is_enabled))
    WebDriverWait(driver, timeout).until(lambda d: d.execute_script("return document.readyState") == "complete")


def _gone(touch) -> bool:
    """True if touching an element shows its page was replaced, False if the touch went through."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        touch()
        return False
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        if "does not belong to the document" in str(exc):
            return True
        raise


def logout(driver) -> None:
    from selenium.webdriver.common.by import By

    click_and_wait(driver, driver.find_element(By.CSS_SELECTOR, "form[action='/logout'] button"))


@pytest.fixture(scope="module")
def demo():
    """`zhunru serve --demo` for the module's tests."""
    server = Server(["--demo"])
    yield server
    server.stop()


@pytest.fixture
def browser():
    driver = chromium()
    yield driver
    driver.quit()


@pytest.fixture
def phone():
    driver = chromium(PHONE)
    yield driver
    driver.quit()
