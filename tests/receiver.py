"""A real local HTTP server that records what it is sent: the stand-in for a bot's webhook endpoint."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.support import free_port


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers 200 unless told otherwise: ``fail_with(500, times=2)`` or ``hang(seconds, times=1)``."""

    def __init__(self) -> None:
        self.port = free_port()
        self.received: list[Received] = []
        self._plan: list[tuple[int, float]] = []
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    status, delay = receiver._plan.pop(0) if receiver._plan else (200, 0.0)
                if delay:
                    time.sleep(delay)
                with receiver._arrived:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    receiver._arrived.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def fail_with(self, status: int, times: int) -> None:
        with self._lock:
            self._plan.extend([(status, 0.0)] * times)

    def hang(self, seconds: float, times: int) -> None:
        with self._lock:
            self._plan.extend([(200, seconds)] * times)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[Received]:
        """Block until ``count`` requests have arrived in all; returns them."""
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"{len(self.received)} requests arrived, not {count}")
                self._arrived.wait(remaining)
            return list(self.received)
