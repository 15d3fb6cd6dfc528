"""The audit log: tool calls, changes to providers, MCP servers and tokens, logins; read-only; cleaned up."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from assistants.models import Provider
from chat.models import Conversation, Message, Run, RunStep
from core.models import AuditEntry
from core.tokens import token_create, token_revoke
from mcp_servers.config_io import config_apply, config_plan
from tests.ws import collect_until, ws_connect

pytestmark = pytest.mark.django_db(transaction=True)

SECRET = "sk-audit-secret-value-123"
TERMINAL = ("thread.run.completed", "thread.run.failed", "thread.run.cancelled", "thread.run.incomplete")


@pytest.fixture
def root(django_user_model):
    return django_user_model.objects.create_superuser("root", password="root-password-1")


async def _tool_turn(user, assistant) -> None:
    conversation = await Conversation.objects.acreate(owner=user, assistant=assistant)
    ws = await ws_connect(conversation.pk, user)
    await ws.send_json_to({"type": "message.create", "content": '/add {"a": 2, "b": 3}'})
    frames = await collect_until(ws, *TERMINAL)
    await ws.disconnect()
    assert frames[-1]["event"] == "thread.run.completed"


async def test_it_records_a_tool_call_with_its_outcome_and_duration_but_not_its_arguments(alice, demo_assistant):
    await _tool_turn(alice, demo_assistant)

    entry = await AuditEntry.objects.aget(action=AuditEntry.Action.TOOL_CALL)
    step = await RunStep.objects.aget(type=RunStep.Type.TOOL_CALLS)
    assert (entry.user_id, entry.username, entry.target_type, entry.target) == (alice.pk, "alice", "tool", "add")
    assert entry.details["assistant"] == demo_assistant.pk
    assert entry.details["server"] == "demo"
    assert entry.details["outcome"] == "completed"
    assert entry.details["duration_ms"] == step.duration_ms
    assert entry.details["argument_names"] == ["a", "b"]
    assert "arguments" not in entry.details


async def test_it_keeps_tool_arguments_when_configured(alice, demo_assistant, settings):
    settings.SWITCHBOARD = {**settings.SWITCHBOARD, "AUDIT_TOOL_ARGUMENTS": True}
    await _tool_turn(alice, demo_assistant)
    entry = await AuditEntry.objects.aget(action=AuditEntry.Action.TOOL_CALL)
    assert entry.details["arguments"] == {"a": 2, "b": 3}


def test_it_records_provider_changes_by_field_name_never_by_value(client, root):
    client.force_login(root)
    form = {
        "name": "Vendor", "preset": "", "kind": "openai", "api_style": "responses", "base_url": "",
        "api_key": SECRET, "default_model": "gpt-test", "timeout": "60", "max_retries": "2", "enabled": "on",
        "prices-TOTAL_FORMS": "0", "prices-INITIAL_FORMS": "0",
    }  # fmt: skip
    client.post(reverse("admin:assistants_provider_add"), form)
    provider = Provider.objects.get(name="Vendor")
    client.post(reverse("admin:assistants_provider_change", args=[provider.pk]), {**form, "api_key": SECRET + "2"})
    client.post(reverse("admin:assistants_provider_delete", args=[provider.pk]), {"post": "yes"})

    entries = list(AuditEntry.objects.filter(target_type="provider").order_by("id"))
    assert [e.action for e in entries] == ["created", "changed", "deleted"]
    assert all(e.username == "root" and e.target == "Vendor" for e in entries)
    assert entries[1].details["fields"] == ["api_key"]
    assert SECRET not in json.dumps([e.details for e in entries])


def test_it_records_mcp_servers_an_import_creates_and_changes(root):
    config_apply(config_plan(json.dumps({"mcpServers": {"files": {"command": "npx", "args": ["a"]}}})), user=root)
    config_apply(config_plan(json.dumps({"mcpServers": {"files": {"command": "npx", "args": ["b"]}}})))

    created, changed = AuditEntry.objects.filter(target_type="MCP server").order_by("id")
    assert (created.action, created.username, created.target) == ("created", "root", "files")
    assert (changed.action, changed.user, changed.details["fields"]) == ("changed", None, ["args"])


def test_it_records_tokens_created_and_revoked(alice):
    token, raw = token_create(user=alice, name="laptop")
    token_revoke(user=alice, token_id=token.pk)

    entries = list(AuditEntry.objects.filter(target_type="API token").order_by("id"))
    assert [(e.action, e.username, e.target_id) for e in entries] == [
        ("created", "alice", str(token.pk)),
        ("changed", "alice", str(token.pk)),
    ]
    assert raw not in json.dumps([e.details for e in entries]) + "".join(e.target for e in entries)


def test_it_records_logins_and_failed_logins_without_the_password(client, alice):
    client.post(reverse("login"), {"username": "alice", "password": "wrong-password"})
    client.post(reverse("login"), {"username": "alice", "password": "alice-password-1"})

    failed, ok = AuditEntry.objects.filter(target_type="user").order_by("id")
    assert (failed.action, failed.user, failed.target) == ("login_failed", None, "alice")
    assert (ok.action, ok.user_id) == ("login", alice.pk)
    assert "wrong-password" not in json.dumps([failed.details, ok.details])


def test_it_shows_the_log_read_only_and_to_superusers_only(client, root, charlie, alice):
    token_create(user=alice, name="x")
    entry = AuditEntry.objects.get()
    client.force_login(root)
    assert client.get(reverse("admin:core_auditentry_changelist")).status_code == 200
    assert client.get(reverse("admin:core_auditentry_change", args=[entry.pk])).status_code == 200
    assert client.get(reverse("admin:core_auditentry_add")).status_code == 403
    assert client.post(reverse("admin:core_auditentry_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    client.post(reverse("admin:core_auditentry_change", args=[entry.pk]), {"target": "forged"})
    assert AuditEntry.objects.get(pk=entry.pk).target == entry.target

    client.force_login(charlie)  # staff, not a superuser
    assert client.get(reverse("admin:core_auditentry_changelist")).status_code == 403


def test_it_cleans_up_old_conversations_and_audit_entries_but_not_recent_or_running_ones(alice, offline_provider):
    old = timezone.now() - timedelta(days=40)
    stale, running, _ = (Conversation.objects.create(owner=alice, title=t) for t in ("stale", "running", "new"))
    for conversation in (stale, running):
        run = Run.objects.create(conversation=conversation, status=Run.Status.COMPLETED)
        Message.objects.create(conversation=conversation, role="user", content="hi", run=run)
        RunStep.objects.create(run=run, type=RunStep.Type.MESSAGE_CREATION)
    Run.objects.create(conversation=running, status=Run.Status.IN_PROGRESS)
    Conversation.objects.filter(pk__in=[stale.pk, running.pk]).update(updated_at=old)
    token_create(user=alice, name="x")
    AuditEntry.objects.update(created_at=old)
    token_create(user=alice, name="y")

    out = StringIO()
    call_command("cleanup", "--conversation-days", "30", "--audit-days", "30", "--dry-run", stdout=out)
    assert "Would delete 1 conversation" in out.getvalue()
    assert Conversation.objects.count() == 3

    call_command("cleanup", "--conversation-days", "30", "--audit-days", "30", stdout=StringIO())
    assert set(Conversation.objects.values_list("title", flat=True)) == {"running", "new"}
    assert not Run.objects.filter(conversation_id=stale.pk).exists()
    assert not Message.objects.filter(conversation_id=stale.pk).exists()
    assert not RunStep.objects.filter(run__conversation_id=stale.pk).exists()
    assert list(AuditEntry.objects.values_list("target", flat=True)) == [str(alice.api_tokens.get(name="y"))]


def test_it_keeps_conversations_when_retention_is_zero(alice):
    Conversation.objects.create(owner=alice, title="forever")
    Conversation.objects.update(updated_at=timezone.now() - timedelta(days=3650))
    out = StringIO()
    call_command("cleanup", stdout=out)
    assert "Conversations are kept" in out.getvalue()
    assert Conversation.objects.count() == 1
