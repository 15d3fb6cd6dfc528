"""Bench data made straight through the ORM: users, signed-in sessions, assistants, conversations.

Import it only once Django is set up; `python -m bench.prepare` is the command-line entry.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.auth.hashers import make_password
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.utils import timezone
from django.utils.crypto import get_random_string

from assistants.models import Assistant, Provider
from chat.models import Conversation
from mcp_servers.models import MCPServer

BACKEND = "django.contrib.auth.backends.ModelBackend"
SESSION_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789"


def sessions_create(users: list[Any]) -> list[str]:
    """One signed-in session per user, written in bulk (what a login would store)."""
    store = SessionStore()
    expire = timezone.now() + timedelta(days=1)
    rows, keys = [], []
    for user in users:
        key = get_random_string(32, SESSION_CHARS)
        data = {SESSION_KEY: str(user.pk), BACKEND_SESSION_KEY: BACKEND, HASH_SESSION_KEY: user.get_session_auth_hash()}
        rows.append(Session(session_key=key, session_data=store.encode(data), expire_date=expire))
        keys.append(key)
    Session.objects.bulk_create(rows, batch_size=500)
    return keys


def users_create(prefix: str, count: int) -> list[Any]:
    User = get_user_model()
    # An unusable password: hashing 1,000 real ones would take minutes and measure nothing.
    User.objects.bulk_create(
        [User(username=f"{prefix}{i:05d}", password=make_password(None)) for i in range(count)], batch_size=500
    )
    return list(User.objects.filter(username__startswith=prefix).order_by("username"))


def assistants_create(*, python: str, root: str, mcp: dict[str, str], fake_url: str) -> dict[str, Assistant]:
    """The assistants every part of the bench talks to, by role."""
    offline, _ = Provider.objects.get_or_create(
        name="Bench offline", defaults={"kind": Provider.Kind.OFFLINE, "default_model": "offline"}
    )
    assistants = {
        "plain": Assistant.objects.create(name="Bench plain", provider=offline, instructions="Be brief."),
        "demo": Assistant.objects.create(name="Bench demo", provider=offline, instructions="Be brief."),
    }
    stdio = MCPServer.objects.create(
        name="bench-stdio",
        transport=MCPServer.Transport.STDIO,
        command=python,
        args=["-m", "mcp_servers.demo"],
        cwd=root,
    )
    assistants["demo"].mcp_servers.add(stdio)
    servers = {"stdio": stdio}
    if mcp.get("streamable_http"):
        servers["streamable_http"] = MCPServer.objects.create(
            name="bench-http", transport=MCPServer.Transport.STREAMABLE_HTTP, url=mcp["streamable_http"]
        )
    if mcp.get("websocket"):
        servers["websocket"] = MCPServer.objects.create(
            name="bench-ws", transport=MCPServer.Transport.WEBSOCKET, url=mcp["websocket"]
        )
    for kind, server in servers.items():
        assistant = Assistant.objects.create(name=f"Bench tool {kind}", provider=offline, instructions="Be brief.")
        assistant.mcp_servers.add(server)
        assistants[f"tool:{kind}"] = assistant
    if fake_url:
        for style in (Provider.ApiStyle.CHAT_COMPLETIONS, Provider.ApiStyle.RESPONSES):
            kind = (
                Provider.Kind.OPENAI_COMPATIBLE if style == Provider.ApiStyle.CHAT_COMPLETIONS else Provider.Kind.OPENAI
            )
            provider = Provider.objects.create(
                name=f"Bench fake {style}",
                kind=kind,
                api_style=style,
                base_url=fake_url,
                api_key="sk-bench-not-a-real-key",
                default_model="fake-model",
                max_retries=0,
            )
            assistants[f"fake:{style}"] = Assistant.objects.create(
                name=f"Bench fake {style}", provider=provider, instructions="Be brief."
            )
            if style == Provider.ApiStyle.CHAT_COMPLETIONS and "streamable_http" in servers:
                # The peers' tool turn: the fake model with the demo server over streamable HTTP, as they have it.
                tool = Assistant.objects.create(name="Bench peer tool", provider=provider, instructions="Be brief.")
                tool.mcp_servers.add(servers["streamable_http"])
                assistants["peer:tool"] = tool
    return assistants


def bench_data_create(spec: dict[str, Any]) -> dict[str, Any]:
    """Create everything `spec` asks for; return thread ids and session keys.

    spec: users (how many concurrent users, each with one conversation on the `users_assistant` role, the plain
    assistant unless given), threads ({assistant role: how many conversations for the first user}), mcp, fake_url,
    python, root.
    """
    assistants = assistants_create(
        python=spec["python"], root=spec["root"], mcp=spec.get("mcp") or {}, fake_url=spec.get("fake_url") or ""
    )
    users = users_create("bench", max(1, spec.get("users", 1)))
    keys = sessions_create(users)
    plain = assistants["plain"]
    theirs = assistants[spec.get("users_assistant") or "plain"]
    conversations = Conversation.objects.bulk_create(
        [Conversation(owner=user, assistant=theirs, title="bench") for user in users], batch_size=500
    )
    threads: dict[str, list[str]] = {}
    for role, count in (spec.get("threads") or {}).items():
        # Roles that name no assistant (warm-up, profile) talk to the plain one; missing transports are skipped.
        assistant = assistants.get(role) or (None if ":" in role else plain)
        if assistant is None:
            continue
        rows = [Conversation(owner=users[0], assistant=assistant, title=role) for _ in range(count)]
        threads[role] = [c.pk for c in Conversation.objects.bulk_create(rows)]
    return {
        "cookie": settings.SESSION_COOKIE_NAME,
        "sessions": [{"session": key, "thread": c.pk} for key, c in zip(keys, conversations, strict=True)],
        "threads": threads,
        "servers": {s.transport: s.pk for s in MCPServer.objects.filter(name__startswith="bench-")},
    }
