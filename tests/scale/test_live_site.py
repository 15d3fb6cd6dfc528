"""A live Daphne stopping: on SIGTERM runs get SHUTDOWN_GRACE_SECONDS to finish, the rest expire, no MCP process
survives; killed outright, its runs are expired by another process. And a database locked for a moment by
another connection only delays a run. All on one SQLite site, made once for the module."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
from contextlib import closing

import pytest

from tests.live import daphne, site_create
from tests.scale.live_client import (
    TERMINAL,
    alive,
    chat_setup,
    chat_socket,
    children,
    collect_until,
    run_row,
    send,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    return site_create(tmp_path_factory.mktemp("shutdown"), users=("alice",))


async def _start_tool_run(server, cookie: str, thread_id: str, seconds: float) -> str:
    """Send `/wait` and return the run id once the tool call is under way on the MCP server."""
    async with chat_socket(server, cookie, thread_id) as ws:
        await send(ws, {"type": "message.create", "content": f'/wait {{"seconds": {seconds}}}'})
        frames = await collect_until(ws, "thread.run.step.in_progress")
    return next(f["data"]["id"] for f in frames if f["event"] == "thread.run.created")


def _terminate(process: subprocess.Popen, timeout: float = 20) -> int:
    process.send_signal(signal.SIGTERM)
    return process.wait(timeout=timeout)


async def test_it_expires_a_long_run_and_leaves_no_mcp_process_on_sigterm(site):
    with daphne(site, name="sigterm-long", env={"SHUTDOWN_GRACE_SECONDS": "1"}) as server:
        cookie, thread_id = chat_setup(server, site, "alice")
        run_id = await _start_tool_run(server, cookie, thread_id, 30)
        mcp_children = children(server.process.pid)
        assert mcp_children, "the demo MCP server should be a child of Daphne"

        _terminate(server.process)

    assert run_row(site, run_id)["status"] == "expired"
    assert not [pid for pid in mcp_children if alive(pid)]


async def test_it_lets_a_short_run_finish_within_the_grace_on_sigterm(site):
    with daphne(site, name="sigterm-short", env={"SHUTDOWN_GRACE_SECONDS": "15"}) as server:
        cookie, thread_id = chat_setup(server, site, "alice")
        run_id = await _start_tool_run(server, cookie, thread_id, 1)
        mcp_children = children(server.process.pid)

        _terminate(server.process)

    assert run_row(site, run_id)["status"] == "completed"
    assert not [pid for pid in mcp_children if alive(pid)]


async def test_it_expires_the_run_of_a_killed_process_and_the_conversation_works_at_once(site):
    fast = {"RUN_HEARTBEAT_SECONDS": "0.5", "RUN_STALE_SECONDS": "3"}
    with daphne(site, name="doomed", env=fast) as doomed, daphne(site, name="survivor", env=fast) as survivor:
        cookie, thread_id = chat_setup(doomed, site, "alice")
        run_id = await _start_tool_run(doomed, cookie, thread_id, 30)
        orphans = children(doomed.process.pid)
        doomed.process.kill()
        doomed.process.wait(timeout=10)
        for pid in orphans:  # the killed process could not stop its MCP server (unless it went with it)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)

        async with asyncio.timeout(20):
            while run_row(site, run_id)["status"] != "expired":
                await asyncio.sleep(0.2)  # the survivor's sweep runs on its own clock; nothing to await

        async with chat_socket(survivor, cookie, thread_id) as ws:
            await send(ws, {"type": "message.create", "content": "still there?"})
            frames = await collect_until(ws, *TERMINAL)
    assert frames[-1]["event"] == "thread.run.completed"
    assert run_row(site, run_id)["last_error_code"] == "expired"


async def test_it_finishes_a_run_while_another_connection_holds_the_database_locked(site):
    with daphne(site, name="locked") as server:
        cookie, thread_id = chat_setup(server, site, "alice")
        async with chat_socket(server, cookie, thread_id) as ws:
            await send(ws, {"type": "message.create", "content": '/wait {"seconds": 1}'})
            await collect_until(ws, "thread.run.step.in_progress")
            with closing(sqlite3.connect(site.var_dir / "db.sqlite3", isolation_level=None)) as locker:
                locker.execute("BEGIN EXCLUSIVE")
                await asyncio.sleep(1.5)  # the lock is the fault: hold it while the run wants to write
                locker.execute("COMMIT")
            frames = await collect_until(ws, *TERMINAL)
            await send(ws, {"type": "message.create", "content": "and after the lock?"})
            after = await collect_until(ws, *TERMINAL)

    assert frames[-1]["event"] == "thread.run.completed"
    assert after[-1]["event"] == "thread.run.completed"


CSP_PROBE = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI} ${event.sourceFile}:${event.lineNumber}`);
});
"""


@pytest.mark.browser
def test_it_breaks_no_csp_rule_in_a_real_browser(site):
    from playwright.sync_api import expect, sync_playwright

    with daphne(site, name="csp") as server, sync_playwright() as playwright:
        cookie, thread_id = chat_setup(server, site, "alice")
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--headless", "--no-sandbox"])
        try:
            context = browser.new_context(base_url=server.url)
            context.add_cookies([{"name": "sessionid", "value": cookie, "url": server.url}])
            context.add_init_script(CSP_PROBE)
            page = context.new_page()
            violations = []
            for path in ("/", "/assistants/", "/settings/tokens/", f"/conversations/{thread_id}/"):
                page.goto(path)
                page.wait_for_load_state("networkidle")
                violations += page.evaluate("window.__violations")
            # The live part too: a tool card, a streamed answer, the server's Markdown swapped in.
            answers = page.locator("#timeline .message-assistant")
            for count, text in enumerate(("/draw_dot {}", "**hello** csp"), start=1):
                page.fill("#message-input", text)
                page.press("#message-input", "Enter")
                expect(answers).to_have_count(count, timeout=30_000)
                expect(page.locator("#stop")).to_be_hidden(timeout=30_000)
            expect(page.locator("#timeline .tool-card")).to_have_count(1)
            expect(answers.last.locator("strong")).to_have_text("hello", timeout=30_000)
            violations += page.evaluate("window.__violations")
            # The probe works: an inline script is refused and reported.
            with contextlib.suppress(Exception):
                page.add_script_tag(content="window.__inline = 1")
            expect(page.locator("#timeline")).to_be_visible()
            probe = page.evaluate("[window.__violations.length, window.__inline === undefined]")
        finally:
            browser.close()
    assert violations == []
    assert probe == [1, True]
