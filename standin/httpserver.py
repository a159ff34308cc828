"""The stand-in's listening side: the server, its open connections, and what its handlers
reach through it (the Bot API, the fault plan, the request log, the control endpoints).

Each connection is served by standin.handler.Handler.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from standin.api import BotApi, JsonObject
from standin.faults import FaultPlan
from standin.handler import Handler
from standin.link import Link, Shaper

Control = Callable[[str, str, JsonObject], tuple[int, object]]
_Request = socket.socket | tuple[bytes, socket.socket]


class StandinHTTPServer(ThreadingHTTPServer):
    """A threading HTTP server that knows its Bot API and closes open connections on stop."""

    daemon_threads = True

    def __init__(
        self,
        address: tuple[str, int],
        api: BotApi,
        faults: FaultPlan,
        record: Callable[[JsonObject], None],
        control: Control,
        link: Link | None = None,
    ) -> None:
        super().__init__(address, Handler)
        self.shaper = None if link is None else Shaper(link)
        self.api = api
        self.faults = faults
        self.record = record
        self.control = control
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()

    def process_request(self, request: _Request, client_address: tuple[str, int]) -> None:
        """Track the connection so stop() can close keep-alive connections."""
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: _Request) -> None:
        """Forget the connection, then close it."""
        if isinstance(request, socket.socket):
            with self._open_lock:
                self._open.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: _Request, client_address: tuple[str, int]) -> None:
        """Stay quiet about clients that went away; report anything else."""
        if not isinstance(sys.exc_info()[1], ConnectionError | TimeoutError):
            super().handle_error(request, client_address)

    def close_connections(self) -> None:
        """Break every open connection (their handler threads then end)."""
        with self._open_lock:
            for sock in self._open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
