"""Red-team finding 8: the chat socket's Origin check compares scheme, host and port, not the host name alone."""

from __future__ import annotations

import pytest
import websockets.sync.client
from channels.testing import WebsocketCommunicator
from websockets.exceptions import ConnectionClosed, InvalidStatus

from config.asgi import application
from core.origin import origin_allowed
from tests.live import daphne, site_create


async def _handshake(origin: str | None, host: str = "127.0.0.1:8000", scheme: str = "ws") -> bool:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    communicator = WebsocketCommunicator(application, "/ws/conversations/thread_x/", headers=headers)
    communicator.scope["scheme"] = scheme
    connected, _ = await communicator.connect(timeout=10)
    await communicator.disconnect()
    return connected


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("origin", "accepted"),
    [
        ("http://127.0.0.1:8000", True),
        ("http://127.0.0.1:9999", False),
        ("http://127.0.0.1", False),
        ("https://127.0.0.1:8000", False),
        ("http://evil.example:8000", False),
        ("null", False),
        (None, False),
    ],
)
async def test_it_accepts_the_chat_socket_only_from_the_sites_own_origin(origin, accepted):
    # Anonymous, so an accepted socket is then closed 4401 by the consumer: the handshake is what is tested.
    assert await _handshake(origin) is accepted


@pytest.mark.django_db(transaction=True)
async def test_it_refuses_a_host_outside_allowed_hosts_even_from_its_own_origin():
    assert await _handshake("http://evil.example:8000", host="evil.example:8000") is False


def test_it_follows_the_default_ports_and_csrf_trusted_origins(settings):
    assert origin_allowed(origin="http://127.0.0.1", host="127.0.0.1:80", scheme="http")
    assert origin_allowed(origin="https://localhost", host="localhost", scheme="https")
    assert not origin_allowed(origin="http://localhost:443", host="localhost", scheme="https")
    settings.ALLOWED_HOSTS = ["chat.example.com", "internal"]
    settings.CSRF_TRUSTED_ORIGINS = ["https://chat.example.com", "https://*.example.org"]
    # Behind a proxy that rewrites Host: the public origin is trusted explicitly, by scheme and port too.
    assert origin_allowed(origin="https://chat.example.com", host="internal:8001", scheme="http")
    assert origin_allowed(origin="https://a.example.org", host="internal:8001", scheme="http")
    assert not origin_allowed(origin="https://chat.example.com:8443", host="internal:8001", scheme="http")
    assert not origin_allowed(origin="http://chat.example.com", host="internal:8001", scheme="http")


def test_it_honours_the_forwarded_scheme_behind_a_tls_proxy(settings):
    from core.origin import request_scheme

    scope = {"scheme": "ws", "headers": [(b"x-forwarded-proto", b"https")]}
    assert request_scheme(scope) == "http"
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert request_scheme(scope) == "https"


@pytest.mark.timeout(120)
def test_it_refuses_another_ports_origin_on_a_real_daphne(tmp_path):
    site = site_create(tmp_path, users=())
    with daphne(site) as server:
        port = server.url.rsplit(":", 1)[1]
        url = f"ws://127.0.0.1:{port}/ws/conversations/thread_x/"
        with pytest.raises(InvalidStatus) as refused:
            websockets.sync.client.connect(url, origin="http://127.0.0.1:9999", open_timeout=10)
        assert refused.value.response.status_code == 403
        with websockets.sync.client.connect(url, origin=f"http://127.0.0.1:{port}", open_timeout=10) as socket:
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=10)
        assert closed.value.rcvd.code == 4401  # accepted, then told to log in
