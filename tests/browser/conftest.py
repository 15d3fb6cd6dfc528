from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator:
    """Mark a browser test that failed, so its page fixture can save a screenshot before closing."""
    report = yield
    if report.when == "call" and report.failed:
        item.failed = True
    return report
