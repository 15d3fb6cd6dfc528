from __future__ import annotations

import re
from datetime import timedelta

import agents
import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from observability.models import Span, Trace
from tests.admin_urls import admin_url
from tests.observability.conftest import new_trace_id, run_trace

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def traced(store, run):
    """A stored trace of `run`: an agent with a model call and a tool call that failed."""
    trace_id = new_trace_id()
    with run_trace(run, trace_id=trace_id, status="failed"):
        with agents.agent_span(name="Tracer"):
            with agents.generation_span(model="offline") as span:
                span.span_data.usage = {"input_tokens": 11, "output_tokens": 4}
            with agents.function_span("wait", input='{"seconds": 5}') as span:
                span.set_error({"message": "Error running tool", "data": {"error": "timed out"}})
    store.force_flush()
    return Trace.objects.get(pk=trace_id)


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _url(run) -> str:
    return reverse("observability:run_trace", args=[run.conversation_id, run.pk])


def test_it_shows_the_owner_a_waterfall_with_totals(alice, run, traced):
    response = _client(alice).get(_url(run))
    assert response.status_code == 200
    html = response.content.decode()
    assert _url(run) == f"/conversations/{run.conversation_id}/runs/{run.pk}/trace/"
    assert "11 in · 4 out" in html  # totals and the model call's tokens
    assert html.count('class="wf-row wf-kind-') == traced.spans.count()
    # Nested by parent: the model call is indented under the agent.
    assert 'wf-name wf-depth-1">\n        <span class="wf-label">model offline' in html
    failed = re.search(r'<li class="wf-row wf-kind-tool wf-failed">.*?</li>', html, re.DOTALL).group(0)
    assert 'class="wf-badge">failed<' in failed and "Error running tool" in failed
    assert re.search(r'<rect class="wf-bar" x="\d+" y="1" width="\d+" height="10"/>', html)


def test_it_uses_no_inline_style_or_script(alice, run, traced):
    response = _client(alice).get(_url(run))
    html = response.content.decode()
    assert "style=" not in html and "<style" not in html and "<script" not in html
    assert "style-src 'self';" in response["Content-Security-Policy"]


@pytest.mark.parametrize("actor", ["bob", "charlie"])
def test_it_hides_the_trace_from_everyone_but_the_owner(request, actor, run, traced):
    response = _client(request.getfixturevalue(actor)).get(_url(run))
    assert response.status_code == 404
    assert traced.trace_id.encode() not in response.content


def test_it_sends_anonymous_visitors_to_log_in(run, traced):
    response = _client().get(_url(run))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_it_shows_any_runs_trace_to_a_superuser(superuser, run, traced):
    assert _client(superuser).get(_url(run)).status_code == 200


def test_it_finds_no_run_under_another_conversation(alice, run, traced, conversation):
    from chat.models import Conversation

    other = Conversation.objects.create(owner=alice, assistant=conversation.assistant)
    assert _client(alice).get(reverse("observability:run_trace", args=[other.pk, run.pk])).status_code == 404


def test_it_says_so_when_a_run_has_no_trace(alice, run):
    response = _client(alice).get(_url(run))
    assert response.status_code == 200 and b"No trace was recorded" in response.content


# --- The admin ---------------------------------------------------------------------------------------------------


def test_it_lists_traces_for_superusers_with_filters_and_search(superuser, run, traced):
    client = _client(superuser)
    listing = client.get("/admin/observability/trace/")
    assert listing.status_code == 200
    html = listing.content.decode()
    assert traced.trace_id in html and _url(run) in html  # the link to the waterfall
    for title in ("By duration", "By failed tool calls", "By user", "By assistant"):
        assert title in html
    assert traced.trace_id in client.get("/admin/observability/trace/", {"tool_failures": "yes"}).content.decode()
    assert traced.trace_id not in client.get("/admin/observability/trace/", {"tool_failures": "no"}).content.decode()
    assert traced.trace_id in client.get("/admin/observability/trace/", {"duration": "lt1"}).content.decode()
    assert traced.trace_id not in client.get("/admin/observability/trace/", {"duration": "gt30"}).content.decode()
    assert traced.trace_id in client.get("/admin/observability/trace/", {"user": traced.user_id}).content.decode()
    assert traced.trace_id in client.get("/admin/observability/trace/", {"q": run.pk}).content.decode()
    assert traced.trace_id in client.get("/admin/observability/trace/", {"q": run.conversation_id}).content.decode()
    assert traced.trace_id not in client.get("/admin/observability/trace/", {"q": "run_nothing"}).content.decode()
    detail = client.get(admin_url(traced))
    assert detail.status_code == 200 and b"wait" in detail.content  # read-only, with its spans inline


def test_it_filters_traces_by_slow_duration_and_by_server(superuser, run, traced):
    slow = Trace.objects.create(trace_id=new_trace_id(), run=run, started_at=timezone.now(), duration_ms=45_000)
    Span.objects.create(trace=slow, span_id="span_1", kind="tool", name="add", server="demo", started_at=timezone.now())
    client = _client(superuser)
    html = client.get("/admin/observability/trace/", {"duration": "gt30"}).content.decode()
    assert slow.trace_id in html and traced.trace_id not in html
    assert "By MCP server" in client.get("/admin/observability/trace/").content.decode()
    html = client.get("/admin/observability/trace/", {"server": "demo"}).content.decode()
    assert slow.trace_id in html and traced.trace_id not in html


def test_it_opens_a_trace_whose_id_reads_like_an_admin_escape(superuser, run):
    # `_40` is how the admin escapes "@": its own links escape the id, so the page is found.
    trace = Trace.objects.create(trace_id=f"trace_40{new_trace_id()[8:]}", run=run, started_at=timezone.now())
    assert _client(superuser).get(admin_url(trace)).status_code == 200


def test_it_keeps_the_trace_admin_read_only(superuser, traced):
    client = _client(superuser)
    assert client.get("/admin/observability/trace/add/").status_code == 403
    response = client.post(admin_url(traced), {"status": "completed"})
    assert response.status_code == 403
    assert client.post(admin_url(traced, "delete"), {"post": "yes"}).status_code == 403
    assert Trace.objects.get(pk=traced.trace_id).status == "failed"


def test_it_keeps_staff_who_are_not_superusers_out_of_the_trace_admin(charlie, traced):
    client = _client(charlie)
    assert client.get("/admin/observability/trace/").status_code == 403
    assert b"Observability" not in client.get("/admin/").content


# --- Retention -----------------------------------------------------------------------------------------------------


def _aged(run, days: int) -> Trace:
    trace = Trace.objects.create(trace_id=new_trace_id(), run=run, started_at=timezone.now() - timedelta(days=days))
    Span.objects.create(trace=trace, span_id="span_a", kind="custom", name="run.claim", started_at=trace.started_at)
    return trace


def test_it_deletes_traces_older_than_the_retention_with_cleanup(run, settings, capsys):
    settings.TRACE_RETENTION_DAYS = 30
    old, recent = _aged(run, 31), _aged(run, 29)
    call_command("cleanup", "--dry-run")
    assert "Would delete 1 trace(s) over 30 day(s) old." in capsys.readouterr().out
    assert Trace.objects.filter(pk=old.pk).exists()
    call_command("cleanup")
    assert "Deleted 1 trace(s) over 30 day(s) old." in capsys.readouterr().out
    assert not Trace.objects.filter(pk=old.pk).exists() and not Span.objects.filter(trace_id=old.pk).exists()
    assert Trace.objects.filter(pk=recent.pk).exists()


def test_it_keeps_traces_when_the_retention_is_zero(run, settings, capsys):
    settings.TRACE_RETENTION_DAYS = 0
    old = _aged(run, 400)
    call_command("cleanup")
    assert "Traces are kept (retention 0)." in capsys.readouterr().out
    assert Trace.objects.filter(pk=old.pk).exists()


def test_it_keeps_a_runs_trace_unlinked_when_the_run_is_deleted(run, traced):
    # Its spans may still be on their way while the conversation is deleted; the delete must not fail on them.
    # The trace holds no content, and TRACE_RETENTION_DAYS removes it like any other.
    run.delete()
    traced.refresh_from_db()
    assert traced.run_id is None
