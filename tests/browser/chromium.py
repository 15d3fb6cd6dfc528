"""A page in Debian's chromium, for browser tests that bring their own live server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Page, sync_playwright

from tests.browser.test_chat_browser import ARTIFACTS_DIR, CHROMIUM, CHROMIUM_ARGS


@contextmanager
def chromium_page(request: pytest.FixtureRequest, *, timeout_ms: int, base_url: str | None = None) -> Iterator[Page]:
    """A page of its own browser; a failed test leaves a screenshot of it in the artifacts."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(base_url=base_url)
        context.set_default_timeout(timeout_ms)
        page = context.new_page()
        try:
            yield page
        finally:
            if getattr(request.node, "failed", False):
                ARTIFACTS_DIR.mkdir(exist_ok=True)
                page.screenshot(path=str(ARTIFACTS_DIR / f"{request.node.name}.png"), full_page=True)
            context.close()
            browser.close()
