"""A TCP proxy on loopback that can start dropping connections mid-call, like a pool whose
host dies while it serves a request: it reads the request, then closes without an answer."""

from __future__ import annotations

import contextlib
import socket
import threading
from urllib.parse import urlsplit


class DroppingProxy:
    """Forwards loopback connections to `upstream` (an http URL) until `dropping` is set; then
    every request that arrives, on a new or a kept-alive connection, is read and cut off."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self._upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        self._stop = threading.Event()
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()
        self.dropping = threading.Event()
        self.dropped = 0  # requests cut off
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self._socks.append(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        upstream: socket.socket | None = None
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    return
                if self.dropping.is_set():
                    with self._lock:
                        self.dropped += 1
                    return  # the finally closes both sides: the caller sees no answer
                if upstream is None:
                    upstream = socket.create_connection(self._upstream)
                    with self._lock:
                        self._socks.append(upstream)
                    threading.Thread(
                        target=self._pipe, args=(upstream, client), daemon=True
                    ).start()
                upstream.sendall(data)
        except OSError:
            return
        finally:
            for s in (client, upstream):
                if s is not None:
                    with contextlib.suppress(OSError):
                        s.shutdown(socket.SHUT_RDWR)
                    s.close()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self._listener.close()
        with self._lock:
            socks = list(self._socks)
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
