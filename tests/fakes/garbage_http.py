"""An HTTP server on 127.0.0.1 that answers every request with 200 and bytes no client can use."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

GARBAGE = b"<html>\x00\xff definitely { not [ json or server-sent events\n\ndata: {broken\n\n"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def _garbage(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.send_response(200)
        # Claims to be a stream so a streaming client reads it; a non-streaming one gets invalid JSON.
        self.send_header("Content-Type", self.headers.get("X-Garbage-Type", "text/event-stream"))
        self.send_header("Content-Length", str(len(GARBAGE)))
        self.end_headers()
        self.wfile.write(GARBAGE)

    do_GET = do_POST = _garbage

    def log_message(self, format: str, *args: Any) -> None:
        pass


class GarbageServer:
    def __enter__(self) -> GarbageServer:
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __exit__(self, *exc_info: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
