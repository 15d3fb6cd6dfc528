"""End-to-end browser test: a real Daphne server, a real chromium, the demo assistant and its MCP tools.

The server runs as a subprocess on its own SQLite file, so this test never touches pytest-django's
database: it logs in as a normal user, starts a conversation with the demo assistant, asks for the
`draw_dash` tool and checks that the tool card and the answer appear live and survive a reload.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect, sync_playwright

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = REPO_ROOT / ".venv" / "bin"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
USERNAME = "alice"
PASSWORD = "alice-password-1"
SERVER_START_TIMEOUT = 30.0
UI_TIMEOUT_MS = 30_000

CREATE_USER = (
    "from django.contrib.auth import get_user_model; "
    f"get_user_model().objects.create_user({USERNAME!r}, password={PASSWORD!r})"
)


@dataclass(frozen=True)
class DaphneServer:
    url: str
    log: Path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _server_env(var_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DATABASE_URL", None)
    env.update({"SWITCHBOARD_VAR_DIR": str(var_dir), "DEBUG": "1", "PYTHONUNBUFFERED": "1"})
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    result = subprocess.run(
        [str(VENV_BIN / "python"), "manage.py", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        pytest.fail(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")


def _tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _wait_for_health(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"daphne exited with code {process.returncode}:\n{_tail(log)}")
        try:
            with urllib.request.urlopen(f"{url}/health/", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.1)
    pytest.fail(f"daphne did not answer /health/ within {SERVER_START_TIMEOUT} s:\n{_tail(log)}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.fixture(scope="module")
def daphne_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaphneServer]:
    var_dir = tmp_path_factory.mktemp("switchboard-var")
    env = _server_env(var_dir)
    _manage(env, "migrate", "--noinput")
    _manage(env, "setup_demo")
    _manage(env, "shell", "-c", CREATE_USER)

    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = var_dir / "daphne.log"
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            [str(VENV_BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=REPO_ROOT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_for_health(url, process, log)
        yield DaphneServer(url=url, log=log)
    finally:
        _stop(process)


@pytest.fixture
def page(daphne_server: DaphneServer) -> Iterator[Page]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(base_url=daphne_server.url)
            page.set_default_timeout(UI_TIMEOUT_MS)
            expect.set_options(timeout=UI_TIMEOUT_MS)
            yield page
        finally:
            browser.close()


def _report_failure(page: Page, server: DaphneServer, name: str) -> None:
    """Save a screenshot into test-artifacts/ and print the server log's tail; never raise."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    path = ARTIFACTS_DIR / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}.png"
    try:
        page.screenshot(path=str(path), full_page=True)
        sys.stderr.write(f"\nScreenshot: {path}\n")
    except PlaywrightError as error:
        sys.stderr.write(f"\nNo screenshot: {error}\n")
    sys.stderr.write(f"Server log tail:\n{_tail(server.log)}\n")


def _log_in(page: Page) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", USERNAME)
    page.fill("#id_password", PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("/")


def _start_conversation(page: Page, assistant: str) -> None:
    page.select_option("select[name=assistant]", label=_option_label(page, assistant))
    page.get_by_role("button", name="New conversation").click()
    page.wait_for_url("**/conversations/*/")


def _option_label(page: Page, assistant: str) -> str:
    """The option's full label, which may carry the assistant's description after its name."""
    option = page.locator("select[name=assistant] option", has_text=assistant).first
    return option.inner_text().strip()


def _send(page: Page, text: str) -> None:
    message_input = page.locator("#message-input")
    expect(message_input).to_be_enabled()
    message_input.fill(text)
    message_input.press("Enter")


def _tool_card(page: Page, tool_name: str) -> Locator:
    return page.locator(".tool-card").filter(has=page.locator(".tool-name", has_text=tool_name))


def _expect_completed_tool(page: Page, tool_name: str, output: str) -> None:
    card = _tool_card(page, tool_name)
    expect(card).to_have_count(1)
    expect(card).to_have_class("tool-card tool-completed")
    # The result sits in a <details> that is closed once the call completes: check text, not visibility.
    expect(card.locator("pre.tool-output")).to_have_text(output)


def _expect_answer(page: Page, text: str, *, server_rendered: bool = False) -> None:
    answer = page.locator(".message-assistant", has_text=text)
    expect(answer).to_have_count(1)
    if server_rendered:
        # The live stream fills a plain-text bubble; only the server's template renders Markdown.
        expect(answer.locator(".markdown")).to_contain_text(text)


@pytest.mark.browser
@pytest.mark.timeout(120)
def test_it_runs_a_tool_live_and_keeps_it_after_reload(page: Page, daphne_server: DaphneServer) -> None:
    try:
        _log_in(page)
        _start_conversation(page, "Demo assistant")

        _send(page, "/draw_dash")
        _expect_completed_tool(page, "draw_dash", "~")
        _expect_answer(page, "~")

        page.reload()
        expect(page.locator(".message-user", has_text="/draw_dash")).to_have_count(1)
        _expect_completed_tool(page, "draw_dash", "~")
        _expect_answer(page, "~", server_rendered=True)
    except Exception:
        _report_failure(page, daphne_server, "test_chat_browser")
        raise
