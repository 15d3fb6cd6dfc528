"""MCP servers that want each user to sign in with OAuth, against a real one on loopback.

tests/fakes/oauth_mcp_server.py is built on the `mcp` SDK's server auth, with its own authorization server. Tests
that run a turn are async, so every query goes through the one thread sync_to_async shares (SQLite in memory
refuses writes from two threads at once).
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from asgiref.sync import async_to_sync, sync_to_async
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from assistants.models import Assistant
from chat.models import Conversation, Message
from mcp_servers.models import MCPServer, OAuthAccount, OAuthClient
from mcp_servers.oauth import PENDING_KEY, oauth_account_refresh, oauth_client_get, oauth_discover
from tests.mcp_servers.conftest import free_port, serve
from tests.mcp_servers.helpers import turn
from tests.mcp_servers.test_admin import add_form

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def oauth_url() -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "tests/fakes/oauth_mcp_server.py", "--port", str(port)]
    for _ in serve(argv, port=port):
        yield f"http://127.0.0.1:{port}/mcp"


@pytest.fixture(scope="module")
def oauth_sse_url() -> Iterator[str]:
    port = free_port()
    argv = [sys.executable, "tests/fakes/oauth_mcp_server.py", "--port", str(port), "--transport", "sse"]
    for _ in serve(argv, port=port):
        yield f"http://127.0.0.1:{port}/sse"


def fake_state(url: str) -> dict:
    return httpx2.get(url.replace("/mcp", "/_state")).json()


@pytest.fixture
def oauth_server(db, oauth_url):
    return MCPServer.objects.create(
        name="oauth-demo",
        transport=MCPServer.Transport.STREAMABLE_HTTP,
        url=oauth_url,
        everyone=True,
        connect_timeout=10,
    )


@pytest.fixture
def assistant(offline_provider, oauth_server):
    assistant = Assistant.objects.create(
        name="Signed-in assistant", provider=offline_provider, instructions="Be brief."
    )
    assistant.mcp_servers.add(oauth_server)
    return assistant


def logged_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def connect(client: Client, server: MCPServer) -> tuple[str, str]:
    """Connect the client's user through the real authorization server: (where the callback sent them, its message)."""
    url = reverse("mcp_oauth:connect", args=[server.pk])
    assert client.get(url).status_code == 200
    started = client.post(url)
    assert started.status_code == 302, started
    approved = httpx2.get(started["Location"], follow_redirects=False)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["location"])
    assert back.path == reverse("mcp_oauth:callback")
    done = client.get(f"{back.path}?{back.query}", follow=True)
    return done.redirect_chain[0][0], " ".join(str(m) for m in done.context["messages"])


def connect_as(user, server: MCPServer) -> tuple[str, str]:
    return connect(logged_in(user), server)


async def answer_of(conversation: Conversation) -> Message:
    return await Message.objects.filter(conversation=conversation, role=Message.Role.ASSISTANT).alatest("created_at")


def test_it_discovers_a_server_that_asks_for_sign_in(oauth_server, oauth_url):
    found = async_to_sync(oauth_discover)(server=oauth_server)
    base = oauth_url.removesuffix("/mcp")
    assert found.protected and found.issuer.rstrip("/") == base
    assert found.resource == oauth_url  # from its protected resource metadata (RFC 9728)
    assert found.server_metadata["authorization_endpoint"] == f"{base}/authorize"
    assert found.server_metadata["code_challenge_methods_supported"] == ["S256"]
    assert found.scope == "tools"


def test_a_server_moved_elsewhere_is_found_out_afresh(oauth_server):
    async_to_sync(oauth_discover)(server=oauth_server)
    assert async_to_sync(oauth_client_get)(server=oauth_server) is not None
    oauth_server.url = "http://127.0.0.1:1/elsewhere/mcp"
    assert async_to_sync(oauth_client_get)(server=oauth_server) is None


def test_it_finds_nothing_to_discover_on_a_server_that_does_not_ask(db):
    closed = MCPServer.objects.create(
        name="nobody", transport=MCPServer.Transport.STREAMABLE_HTTP, url=f"http://127.0.0.1:{free_port()}/mcp"
    )
    assert async_to_sync(oauth_discover)(server=closed) is None
    assert not OAuthClient.objects.filter(server=closed).exists()


def test_it_connects_an_account_with_pkce_and_the_resource(alice, oauth_server, oauth_url):
    landed, message = connect(logged_in(alice), oauth_server)
    assert landed == reverse("mcp_oauth:connection_list") and "Connected your account to oauth-demo" in message
    client = OAuthClient.objects.get(server=oauth_server)
    assert client.registered and client.client_id  # dynamic client registration (RFC 7591)
    state = fake_state(oauth_url)
    assert state["authorized"][-1] == {"resource": oauth_url, "challenge": True}
    assert state["grants"][-1]["type"] == "authorization_code"
    account = OAuthAccount.objects.get(user=alice, server=oauth_server)
    assert account.access_token.startswith("at-") and account.refresh_token.startswith("rt-")
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token, refresh_token FROM mcp_servers_oauthaccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()
    assert all(value.startswith("enc1:") and "at-" not in value and "rt-" not in value for value in stored)


def test_it_keeps_the_pkce_verifier_and_tokens_off_the_pages(alice, oauth_server):
    client = logged_in(alice)
    connect(client, oauth_server)
    account = OAuthAccount.objects.get(user=alice, server=oauth_server)
    page = client.get(reverse("mcp_oauth:connection_list")).content.decode()
    assert "oauth-demo" in page and "Revoke" in page
    assert account.access_token not in page and account.refresh_token not in page
    started = client.post(reverse("mcp_oauth:connect", args=[oauth_server.pk]))
    verifier = next(iter(client.session[PENDING_KEY].values()))["verifier"]
    assert verifier not in started["Location"] and "code_challenge_method=S256" in started["Location"]


def test_the_connect_page_lets_its_form_lead_to_the_authorization_server_only(alice, oauth_server, oauth_url):
    page = logged_in(alice).get(reverse("mcp_oauth:connect", args=[oauth_server.pk]))
    origin = oauth_url.removesuffix("/mcp")
    assert f"form-action 'self' {origin};" in page["Content-Security-Policy"]
    assert "default-src 'self'" in page["Content-Security-Policy"]


def test_it_returns_the_user_to_the_page_that_linked_to_connect_but_never_elsewhere(alice, oauth_server):
    chat = "http://testserver/conversations/thread_x/"
    for referer, landing in ((chat, chat), ("https://evil.example/", reverse("mcp_oauth:connection_list"))):
        client = logged_in(alice)
        url = reverse("mcp_oauth:connect", args=[oauth_server.pk])
        page = client.get(url, headers={"referer": referer}).content.decode()
        next_url = chat if referer == chat else ""
        assert (f'name="next" value="{next_url}"' in page) == bool(next_url)
        started = client.post(url, {"next": next_url} if next_url else {})
        approved = httpx2.get(started["Location"], follow_redirects=False)
        back = urlsplit(approved.headers["location"])
        assert client.get(f"{back.path}?{back.query}")["Location"] == landing


def test_it_refuses_a_callback_begun_in_another_session(alice, bob, oauth_server):
    started = logged_in(alice).post(reverse("mcp_oauth:connect", args=[oauth_server.pk]))
    approved = httpx2.get(started["Location"], follow_redirects=False)
    back = urlsplit(approved.headers["location"])
    answer = logged_in(bob).get(f"{back.path}?{back.query}", follow=True)
    assert "was not started here" in " ".join(str(m) for m in answer.context["messages"])
    assert not OAuthAccount.objects.exists()


def test_it_says_so_when_the_user_refuses_access_at_the_provider(alice, oauth_server):
    client = logged_in(alice)
    started = client.post(reverse("mcp_oauth:connect", args=[oauth_server.pk]))
    state = parse_qs(urlsplit(started["Location"]).query)["state"][0]
    answer = client.get(reverse("mcp_oauth:callback"), {"state": state, "error": "access_denied"}, follow=True)
    assert "did not grant access (access_denied)" in " ".join(str(m) for m in answer.context["messages"])
    assert not OAuthAccount.objects.exists()


def test_it_accepts_each_state_once(alice, oauth_server):
    client = logged_in(alice)
    started = client.post(reverse("mcp_oauth:connect", args=[oauth_server.pk]))
    approved = httpx2.get(started["Location"], follow_redirects=False)
    back = urlsplit(approved.headers["location"])
    client.get(f"{back.path}?{back.query}")
    OAuthAccount.objects.all().delete()
    again = client.get(f"{back.path}?{back.query}", follow=True)
    assert "was not started here" in " ".join(str(m) for m in again.context["messages"])
    assert not OAuthAccount.objects.exists()
    assert parse_qs(back.query)["state"]


async def test_a_run_calls_a_tool_with_the_users_own_token_and_never_anothers(alice, bob, oauth_server, assistant):
    await sync_to_async(connect_as)(alice, oauth_server)
    alice_grant = fake_state(oauth_server.url)["grants"][-1]["subject"]
    await sync_to_async(connect_as)(bob, oauth_server)
    bob_grant = fake_state(oauth_server.url)["grants"][-1]["subject"]
    mine = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    theirs = await Conversation.objects.acreate(owner=bob, assistant=assistant)
    for conversation, user in ((mine, alice), (theirs, bob)):
        frames = await turn(user, conversation, "/whoami {}")
        assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    alice_says, bob_says = (await answer_of(mine)).content, (await answer_of(theirs)).content
    assert f"You are {alice_grant}." in alice_says
    assert f"You are {bob_grant}." in bob_says and alice_grant not in bob_says


async def test_a_run_without_a_connection_says_so_with_the_connect_link(bob, oauth_server, assistant):
    # The server is not known to want sign-in yet: the run's failed connect discovers it.
    conversation = await Conversation.objects.acreate(owner=bob, assistant=assistant)
    frames = await turn(bob, conversation, "hello")
    run = frames[-1]["data"]
    assert run["status"] == "completed"
    link = reverse("mcp_oauth:connect", args=[oauth_server.pk])
    assert run["metadata"]["mcp_servers_skipped"] == (
        f"oauth-demo (needs you to sign in: connect your account first at {link})"
    )
    created = next(f for f in frames if f["event"] == "thread.message.created" and f["data"]["role"] == "assistant")
    assert link in created["data"]["metadata"]["warning"]
    drawn = next(f for f in frames if f["event"] == "thread.message.in_progress")["entry"]["html"]
    assert f'<a href="{link}">' in drawn  # a link on the answer, in the chat
    assert (await OAuthClient.objects.aget(server=oauth_server)).protected


async def test_a_run_signs_in_over_sse_too(alice, offline_provider, oauth_sse_url):
    server = await MCPServer.objects.acreate(
        name="oauth-sse", transport=MCPServer.Transport.SSE, url=oauth_sse_url, everyone=True, connect_timeout=10
    )
    assistant = await Assistant.objects.acreate(name="Over SSE", provider=offline_provider, instructions="Be brief.")
    await assistant.mcp_servers.aadd(server)
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    frames = await turn(alice, conversation, "/whoami {}")
    assert "oauth-sse (needs you to sign in" in frames[-1]["data"]["metadata"]["mcp_servers_skipped"]
    await sync_to_async(connect_as)(alice, server)
    frames = await turn(alice, conversation, "/whoami {}")
    assert frames[-1]["event"] == "thread.run.completed" and "mcp_servers_skipped" not in frames[-1]["data"]["metadata"]
    subject = httpx2.get(oauth_sse_url.replace("/sse", "/_state")).json()["grants"][-1]["subject"]
    assert f"You are {subject}." in (await answer_of(conversation)).content


async def test_it_refreshes_a_token_about_to_expire(alice, oauth_server, assistant):
    await sync_to_async(connect_as)(alice, oauth_server)
    account = await OAuthAccount.objects.aget(user=alice)
    old = account.access_token
    await OAuthAccount.objects.filter(pk=account.pk).aupdate(expires_at=timezone.now() + timedelta(seconds=5))
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    frames = await turn(alice, conversation, "/whoami {}")
    assert frames[-1]["event"] == "thread.run.completed"
    await account.arefresh_from_db()
    grant = fake_state(oauth_server.url)["grants"][-1]
    assert grant["type"] == "refresh_token"
    assert account.access_token != old and account.expires_at > timezone.now() + timedelta(minutes=30)
    assert f"You are {grant['subject']}." in (await answer_of(conversation)).content


async def test_no_token_or_client_secret_reaches_the_logs_or_the_frames(alice, oauth_server, assistant, caplog):
    await sync_to_async(connect_as)(alice, oauth_server)
    account = await OAuthAccount.objects.aget(user=alice)
    await OAuthAccount.objects.filter(pk=account.pk).aupdate(expires_at=timezone.now())  # refreshed on the way
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    with caplog.at_level(logging.DEBUG):
        frames = await turn(alice, conversation, "/whoami {}")
    assert frames[-1]["event"] == "thread.run.completed"
    refreshed = await OAuthAccount.objects.aget(pk=account.pk)
    client = await OAuthClient.objects.aget(server=oauth_server)
    secrets = [account.access_token, account.refresh_token, refreshed.access_token, refreshed.refresh_token]
    secrets.append(client.client_secret)
    sent = json.dumps(frames)
    for secret in secrets:
        assert secret and secret not in caplog.text and secret not in sent


async def test_a_refresh_that_another_process_won_uses_its_tokens(alice, oauth_server, oauth_url):
    await sync_to_async(connect_as)(alice, oauth_server)
    ours = await OAuthAccount.objects.aget(user=alice)
    client = await OAuthClient.objects.aget(server=oauth_server)
    # The other process refreshes first (the authorization server rotates the refresh token) and stores the result.
    theirs = httpx2.post(
        oauth_url.replace("/mcp", "/token"),
        data={"grant_type": "refresh_token", "refresh_token": ours.refresh_token, "client_id": client.client_id,
              "client_secret": client.client_secret, "resource": client.resource},
    ).json()  # fmt: skip
    await OAuthAccount.objects.filter(pk=ours.pk).aupdate(
        access_token=theirs["access_token"], refresh_token=theirs["refresh_token"]
    )
    ours.server = oauth_server
    refreshed = await oauth_account_refresh(ours)  # with the refresh token it read before: refused as used
    assert refreshed.access_token == theirs["access_token"]
    assert await OAuthAccount.objects.filter(pk=ours.pk).aexists()


async def test_it_refreshes_when_the_server_refuses_the_token(alice, oauth_server, assistant):
    await sync_to_async(connect_as)(alice, oauth_server)
    old = (await OAuthAccount.objects.aget(user=alice)).access_token
    httpx2.post(oauth_server.url.replace("/mcp", "/_expire"))
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    frames = await turn(alice, conversation, "/whoami {}")
    assert frames[-1]["event"] == "thread.run.completed"
    assert fake_state(oauth_server.url)["grants"][-1]["type"] == "refresh_token"
    assert (await OAuthAccount.objects.aget(user=alice)).access_token != old
    assert "You are account-" in (await answer_of(conversation)).content


async def test_a_grant_revoked_at_the_provider_asks_the_user_to_connect_again(alice, oauth_server, assistant):
    await sync_to_async(connect_as)(alice, oauth_server)
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    assert (await turn(alice, conversation, "/whoami {}"))[-1]["event"] == "thread.run.completed"
    httpx2.post(oauth_server.url.replace("/mcp", "/_forget"))
    # The live connection's token is refused, and so is its refresh: that call fails, the run goes on, and the
    # tokens are dropped.
    frames = await turn(alice, conversation, "/whoami {}")
    assert frames[-1]["event"] == "thread.run.completed", frames[-1]
    assert "You are" not in (await answer_of(conversation)).content
    assert not await OAuthAccount.objects.filter(user=alice).aexists()
    frames = await turn(alice, conversation, "/whoami {}")
    assert "needs you to sign in: connect your account first" in frames[-1]["data"]["metadata"]["mcp_servers_skipped"]


async def test_revoke_asks_first_then_deletes_the_tokens_and_revokes_them(alice, oauth_server, assistant):
    client = await sync_to_async(logged_in)(alice)
    await sync_to_async(connect)(client, oauth_server)
    conversation = await Conversation.objects.acreate(owner=alice, assistant=assistant)
    assert (await turn(alice, conversation, "/whoami {}"))[-1]["event"] == "thread.run.completed"
    url = reverse("mcp_oauth:revoke", args=[oauth_server.pk])
    confirm = await sync_to_async(client.get)(url)
    assert confirm.status_code == 200 and "Revoke" in confirm.content.decode()
    assert await OAuthAccount.objects.filter(user=alice).aexists()
    revoked_before = fake_state(oauth_server.url)["revoked"]
    assert (await sync_to_async(client.post)(url)).status_code == 302
    assert not await OAuthAccount.objects.filter(user=alice).aexists()
    assert fake_state(oauth_server.url)["revoked"] > revoked_before
    # The next run neither reuses the connection it had nor fails obscurely: it asks her to connect again.
    frames = await turn(alice, conversation, "/whoami {}")
    assert "needs you to sign in" in frames[-1]["data"]["metadata"]["mcp_servers_skipped"]


def test_bob_cannot_revoke_or_see_alices_account(alice, bob, oauth_server):
    connect(logged_in(alice), oauth_server)
    bobs = logged_in(bob)
    url = reverse("mcp_oauth:revoke", args=[oauth_server.pk])
    assert bobs.get(url).status_code == 404
    assert bobs.post(url).status_code == 404
    assert OAuthAccount.objects.filter(user=alice).exists()
    page = bobs.get(reverse("mcp_oauth:connection_list")).content.decode()
    assert "Not connected" in page and url not in page


def test_a_server_the_user_may_not_use_is_not_found(bob, oauth_url):
    private = MCPServer.objects.create(name="private", transport=MCPServer.Transport.STREAMABLE_HTTP, url=oauth_url)
    client = logged_in(bob)
    assert client.get(reverse("mcp_oauth:connect", args=[private.pk])).status_code == 404
    assert client.post(reverse("mcp_oauth:connect", args=[private.pk])).status_code == 404


def test_visitors_are_sent_to_log_in(oauth_server):
    for url in (
        reverse("mcp_oauth:connection_list"),
        reverse("mcp_oauth:connect", args=[oauth_server.pk]),
        reverse("mcp_oauth:callback"),
        reverse("mcp_oauth:revoke", args=[oauth_server.pk]),
    ):
        answer = Client().get(url)
        assert answer.status_code == 302 and answer["Location"].startswith(reverse("login")), url


def test_the_account_page_lists_the_users_connected_servers_with_revoke(alice, bob, oauth_server):
    connect(logged_in(alice), oauth_server)
    revoke = reverse("mcp_oauth:revoke", args=[oauth_server.pk])
    mine = logged_in(alice).get(reverse("core:account")).content.decode()
    assert "Connected MCP servers" in mine and "oauth-demo" in mine and revoke in mine
    theirs = logged_in(bob).get(reverse("core:account")).content.decode()
    assert "Connected MCP servers" in theirs and revoke not in theirs


# --- The admin's side ---------------------------------------------------------------------------------------------

CHANGELIST = "admin:mcp_servers_mcpserver_changelist"


def test_test_connection_finds_a_server_that_asks_each_user_to_sign_in(superuser, oauth_server):
    response = logged_in(superuser).post(
        reverse(CHANGELIST), {"action": "test_connection", "_selected_action": [oauth_server.pk]}, follow=True
    )
    (message,) = [str(m) for m in response.context["messages"]]
    assert "Asks each user to sign in with OAuth" in message
    assert reverse("mcp_oauth:connect", args=[oauth_server.pk]) in message
    assert OAuthClient.objects.get(server=oauth_server).protected
    changelist = logged_in(superuser).get(reverse(CHANGELIST)).content.decode()
    assert "Sign-in" in changelist and 'alt="True"' in changelist


def test_test_connection_checks_as_the_admin_once_connected(superuser, oauth_server):
    client = logged_in(superuser)
    connect(client, oauth_server)
    response = client.post(
        reverse(CHANGELIST), {"action": "test_connection", "_selected_action": [oauth_server.pk]}, follow=True
    )
    (message,) = [str(m) for m in response.context["messages"]]
    assert message.startswith("oauth-demo: connected and listed 1 tool(s)"), message


def test_a_superuser_enters_a_client_id_and_a_write_only_secret(superuser, oauth_server):
    client = logged_in(superuser)
    change = reverse("admin:mcp_servers_mcpserver_change", args=[oauth_server.pk])
    fields = add_form(name="oauth-demo", transport="streamable_http", url=oauth_server.url, everyone="on")
    saved = client.post(change, {**fields, "oauth_client_id": "switchboard", "oauth_client_secret": "s3cret-value"})
    assert saved.status_code == 302, saved.context["adminform"].form.errors
    entered = OAuthClient.objects.get(server=oauth_server)
    assert (entered.client_id, entered.client_secret, entered.registered) == ("switchboard", "s3cret-value", False)
    html = client.get(change).content.decode()
    assert "OAuth sign-in for each user" in html and 'value="switchboard"' in html and "A value is set" in html
    assert "s3cret-value" not in html
    # Saved again with the secret left empty: it is kept.
    assert client.post(change, {**fields, "oauth_client_id": "switchboard"}).status_code == 302
    assert OAuthClient.objects.get(server=oauth_server).client_secret == "s3cret-value"


def test_only_superusers_see_the_client(charlie, oauth_server):
    charlie.user_permissions.add(Permission.objects.get(codename="view_mcpserver"))
    OAuthClient.objects.create(server=oauth_server, client_id="switchboard", client_secret="s3cret-value")
    page = logged_in(charlie).get(reverse("admin:mcp_servers_mcpserver_change", args=[oauth_server.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Asks each user to sign in" in html
    assert "switchboard" not in html and "s3cret-value" not in html


def test_a_user_signs_in_with_the_client_an_administrator_entered(alice, oauth_server, oauth_url):
    # As an administrator would: register Switchboard at the authorization server by hand, then enter it.
    registered = httpx2.post(
        oauth_url.replace("/mcp", "/register"),
        json={"redirect_uris": ["http://testserver/mcp-servers/oauth/callback/"], "scope": "tools"},
    ).json()
    OAuthClient.objects.create(
        server=oauth_server, client_id=registered["client_id"], client_secret=registered["client_secret"]
    )
    before = fake_state(oauth_url)["registered"]
    landed, message = connect(logged_in(alice), oauth_server)
    assert "Connected your account to oauth-demo" in message
    assert fake_state(oauth_url)["registered"] == before  # Switchboard registered nothing itself
    assert OAuthClient.objects.get(server=oauth_server).client_id == registered["client_id"]
    assert OAuthAccount.objects.filter(user=alice, server=oauth_server).exists()
    assert Client().get(landed).status_code == 302  # the list is for signed-in users only
