"""The usage pages: a user's own month (`/settings/usage/`), everyone's for staff (`/usage/`), and its CSV."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from chat.models import Quota, Usage
from core.models import AuditEntry

pytestmark = pytest.mark.django_db


def usage(user, *, tokens: int, cost: str = "0", assistant: str = "Helper", model: str = "m1", days_ago: int = 0):
    return Usage.objects.create(
        user=user, run_id=f"run_{user.pk}_{tokens}_{days_ago}", thread_id="thread_1", assistant_name=assistant,
        provider_name="Vendor", model=model, prompt_tokens=tokens // 2, completion_tokens=tokens - tokens // 2,
        total_tokens=tokens, cost=Decimal(cost), created_at=timezone.now() - timedelta(days=days_ago),
    )  # fmt: skip


def test_it_shows_a_user_their_own_usage_and_budget_only(client, alice, bob):
    usage(alice, tokens=300, cost="0.25", assistant="Researcher")
    usage(alice, tokens=200, cost="0.5", assistant="Researcher")
    usage(bob, tokens=999_999, assistant="Bobs bot")
    Quota.objects.create(user=alice, monthly_tokens=1000)
    client.force_login(alice)
    page = client.get("/settings/usage/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Researcher" in html and "Bobs bot" not in html and "999999" not in html
    assert "<strong>500</strong> of 1000 tokens" in html
    assert 'value="50"' in html  # the budget meter
    assert page.context["totals"]["cost"] == Decimal("0.75")
    assert "<rect" in html  # the chart has a bar for today


def test_it_needs_a_login(client):
    assert client.get("/settings/usage/").status_code == 302
    assert client.get("/usage/").status_code == 302


def test_it_shows_everyones_usage_to_staff_who_may_view_usage(client, alice, bob, charlie):
    usage(alice, tokens=300, model="m1")
    usage(bob, tokens=100, model="m2")
    AuditEntry.objects.create(
        action=AuditEntry.Action.TOOL_CALL, user=alice, details={"server": "demo", "outcome": "failed"}
    )
    AuditEntry.objects.create(
        action=AuditEntry.Action.TOOL_CALL, user=bob, details={"server": "demo", "outcome": "completed"}
    )
    client.force_login(alice)
    assert client.get("/usage/").status_code == 403  # not staff
    charlie.is_staff = True
    charlie.save()
    client.force_login(charlie)
    assert client.get("/usage/").status_code == 403  # staff, but may not view usage
    charlie.user_permissions.add(Permission.objects.get(codename="view_usage"))
    page = client.get("/usage/")
    assert page.status_code == 200
    tables = {key: rows for _title, key, rows in page.context["tables"]}
    assert [(row["label"], row["total_tokens"]) for row in tables["user"]] == [("alice", 300), ("bob", 100)]
    assert [row["label"] for row in tables["model"]] == ["m1", "m2"]
    assert page.context["servers"] == [{"label": "demo", "calls": 2, "failed": 1}]
    assert page.context["totals"]["total_tokens"] == 400


def test_it_exports_every_run_of_the_month_as_csv(client, superuser, alice):
    usage(alice, tokens=300, cost="0.125", assistant="=HYPERLINK(evil)")
    usage(alice, tokens=50, days_ago=40)  # last month or earlier: not in this month's export
    client.force_login(superuser)
    response = client.get("/usage/", {"format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["created_at", "user", "run_id"]
    assert len(rows) == 2
    assert rows[1][1] == "alice" and rows[1][4] == "'=HYPERLINK(evil)" and rows[1][11] == "0.125000"


def test_it_pages_by_month(client, alice):
    usage(alice, tokens=70, days_ago=45)
    client.force_login(alice)
    this_month = client.get("/settings/usage/").context
    earlier = (timezone.localtime() - timedelta(days=45)).strftime("%Y-%m")
    that_month = client.get("/settings/usage/", {"month": earlier}).context
    assert this_month["totals"]["total_tokens"] == 0 or this_month["totals"]["total_tokens"] != 70
    assert that_month["totals"]["total_tokens"] == 70
    assert client.get("/settings/usage/", {"month": "garbage"}).status_code == 200


def test_the_admins_run_list_links_to_the_usage_page(client, superuser):
    client.force_login(superuser)
    assert 'href="/usage/"' in client.get("/admin/chat/run/").content.decode()


def test_the_site_links_to_the_usage_pages_by_permission(client, alice, superuser):
    client.force_login(alice)
    page = client.get("/settings/usage/").content.decode()
    assert 'href="/settings/usage/"' in page and 'href="/usage/"' not in page
    client.force_login(superuser)
    assert 'href="/usage/"' in client.get("/settings/usage/").content.decode()
