"""A loopback HTTP proxy that adds `Authorization: Bearer <token>` to every request it forwards.

For MCP clients that cannot be given a header (the official conformance suite takes only a URL). Bodies
stream both ways, so SSE responses arrive as they are written; Host and the other headers go through as
sent, so the server judges them.
"""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import httpx2
import uvicorn
from starlette.requests import Request
from starlette.responses import StreamingResponse

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


def _app(upstream: str, token: str):
    client = httpx2.AsyncClient(timeout=httpx2.Timeout(300.0))

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        headers = [(k, v) for k, v in request.headers.raw if k.decode().lower() not in HOP_BY_HOP]
        headers = [(k, v) for k, v in headers if k.lower() != b"authorization"]
        headers.append((b"authorization", f"Bearer {token}".encode()))
        outbound = client.build_request(
            request.method,
            upstream + request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            headers=headers,
            content=await request.body(),
        )
        response = await client.send(outbound, stream=True)

        async def body():
            try:
                async for chunk in response.aiter_raw():
                    yield chunk
            finally:
                await response.aclose()

        passed = {k: v for k, v in response.headers.items() if k.lower() not in HOP_BY_HOP}
        await StreamingResponse(body(), status_code=response.status_code, headers=passed)(scope, receive, send)

    return app


@contextmanager
def token_proxy(upstream: str, token: str) -> Iterator[str]:
    """Serve the proxy on a free loopback port until the block ends; yields its base URL."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(_app(upstream, token), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the token proxy did not start")
            threading.Event().wait(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
