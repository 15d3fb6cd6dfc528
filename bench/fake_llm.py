"""The local OpenAI-compatible fake with a fixed model latency before the first byte of every answer.

`python -m bench.fake_llm --latency-ms 50` prints `PORT <n>` and serves until stdin closes or SIGTERM.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time

from tests.fakes import openai_server
from tests.fakes.openai_server import FakeOpenAIServer, Step

# Hundreds of sessions call it at once: the socketserver default backlog of 5 would refuse connections.
openai_server._HTTPServer.request_queue_size = 1024


class LatencyFake(FakeOpenAIServer):
    """Waits `latency` seconds before answering, like a real model thinking before its first token."""

    def __init__(self, latency: float, host: str = "127.0.0.1") -> None:
        super().__init__(host)
        self.latency = latency

    def _next_step(self) -> Step:
        # Called once per model request, before any byte of the answer is sent.
        time.sleep(self.latency)
        return super()._next_step()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    options = parser.parse_args()
    fake = LatencyFake(options.latency_ms / 1000).start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    print(f"PORT {fake.port}", flush=True)
    done.wait()
    fake.stop()


if __name__ == "__main__":
    main()
