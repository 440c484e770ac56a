"""HTTP(S) listeners: one per simulated host address, all on one port (reference §1.1).

Each host of each pool answers on its own loopback address. XML-RPC is served on `/` and
`/RPC2`, JSON-RPC on `/jsonrpc`. The coordinator serves the API; members answer
`HOST_IS_SLAVE [coordinator address]` (see `api.Dispatcher`). A host that is down has no
listener, so connecting to it is refused, and the connections it had are cut.

The server is threaded with HTTP/1.1 keep-alive: a long `event.from` or a slow call holds
only its own connection's thread. A request malformed at the HTTP or RPC level gets HTTP
500 with an HTML body, as xapi sends; nothing a client sends can stop a listener.

Entry points: `serve_pools(pools, ...)` and `start_servers(world, ...)`, both returning a
`Servers` (see docs/contracts/sim-xapi.md).
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import logging
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from sim.xapi import events, generic, sessions, tasks  # noqa: F401 - register their wire methods
from sim.xapi.api import Dispatcher
from sim.xapi.calllog import CallLog
from sim.xapi.errors import XapiError
from sim.xapi.sessions import Sessions
from sim.xapi.tasks import Tasks
from sim.xapi.wire import (
    MalformedRequest,
    decode_json_request,
    decode_xml_request,
    encoded_batches,
    encoded_length,
    html_500,
    json_failure,
    json_success_parts,
    xml_failure,
    xml_success_parts,
)

log = logging.getLogger(__name__)

_XML_PATHS = ("/", "/RPC2")
_JSON_PATHS = ("/jsonrpc",)
# Refuse absurd bodies before reading them (a request is a few KB; a big filter is 1 MB).
MAX_BODY = 64 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "xapi"
    sys_version = ""
    # A connection idle (or a body trickling in) this long is closed; clients reconnect.
    timeout = 600
    server: _Listener

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.request)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.request)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)

    def _send(self, status: int, reason: str, ctype: str, body: bytes, close: bool = False) -> None:
        head = [
            f"HTTP/1.1 {status} {reason}",
            f"content-length: {len(body)}",
            f"content-type: {ctype}",
            "cache-control: no-cache, no-store",
        ]
        if close:
            head.append("connection: close")
            self.close_connection = True
        self.wfile.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)

    def _send_parts(self, ctype: str, parts: list[str]) -> None:
        """A 200 response streamed from string pieces (no copy of a big body in memory)."""
        length = encoded_length(parts)
        if length < 65536:
            self._send(200, "OK", ctype, "".join(parts).encode())
            return
        head = (
            f"HTTP/1.1 200 OK\r\ncontent-length: {length}\r\ncontent-type: {ctype}\r\n"
            "cache-control: no-cache, no-store\r\n\r\n"
        )
        self.wfile.write(head.encode())
        for chunk in encoded_batches(parts):
            self.wfile.write(chunk)

    def _fail_500(self, detail: str) -> None:
        self._send(500, "Internal Error", "text/html", html_500(detail), close=True)

    def do_GET(self) -> None:
        self._send(404, "Not Found", "text/html", b"<html><body>Not found</body></html>")

    def do_POST(self) -> None:
        listener = self.server
        if not listener.pool.is_up(listener.address):
            # A failed host answers nothing: drop the connection like a dead machine.
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.request.shutdown(socket.SHUT_RDWR)
            return
        try:
            length = int(self.headers.get("Content-Length") or "0")
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._fail_500("Http.Bad_request (content-length)")
            return
        body = self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        try:
            if path in _XML_PATHS:
                self._xmlrpc(body)
            elif path in _JSON_PATHS:
                self._jsonrpc(body)
            else:
                self._send(404, "Not Found", "text/html", b"<html><body>Not found</body></html>")
        except MalformedRequest as e:
            self._fail_500(str(e))
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as e:  # an encoding bug must cost one request, never the listener
            log.exception("failed to answer %s", path)
            self._fail_500(f"{type(e).__name__}: {e}")

    def _xmlrpc(self, body: bytes) -> None:
        name, params = decode_xml_request(body)
        listener = self.server
        try:
            value = listener.servers.dispatcher.dispatch(
                listener.pool, listener.address, name, params
            )
            parts = xml_success_parts(value)
        except XapiError as e:
            parts = [xml_failure(e.description).decode()]
        except Exception as e:  # a value no wire type fits: the method's bug, told as XAPI would
            log.exception("cannot encode the result of %s", name)
            parts = [xml_failure(["INTERNAL_ERROR", f"{type(e).__name__}: {e}"]).decode()]
        self._send_parts("text/xml", parts)

    def _jsonrpc(self, body: bytes) -> None:
        name, params, req_id, v2 = decode_json_request(body)
        listener = self.server
        try:
            value = listener.servers.dispatcher.dispatch(
                listener.pool, listener.address, name, params
            )
            parts = json_success_parts(value, req_id, v2)
        except XapiError as e:
            parts = [json_failure(e.description, req_id, v2).decode()]
        except Exception as e:  # as above
            log.exception("cannot encode the result of %s", name)
            desc = ["INTERNAL_ERROR", f"{type(e).__name__}: {e}"]
            parts = [json_failure(desc, req_id, v2).decode()]
        self._send_parts("application/json", parts)


def _is_ipv6(address: str) -> bool:
    try:
        return ipaddress.ip_address(address).version == 6
    except ValueError:
        return False


class _Listener(ThreadingHTTPServer):
    """The listener of one host address (IPv4, or IPv6 such as `::1`)."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(
        self, servers: Servers, pool: Any, address: str, port: int, ctx: ssl.SSLContext | None
    ) -> None:
        self.servers = servers
        self.pool = pool
        self.address = address
        self.ctx = ctx
        self._conns: set[socket.socket] = set()
        self._conns_lock = threading.Lock()
        if _is_ipv6(address):
            self.address_family = socket.AF_INET6
        super().__init__((address, port), _Handler)
        self.thread = threading.Thread(
            target=self.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"xapi-listener-{address}",
            daemon=True,
        )

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, addr = self.socket.accept()
        if self.ctx is not None:
            # The handshake happens in the connection's own thread, never in the accept loop.
            sock = self.ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def finish_request(self, request: Any, client_address: Any) -> None:
        if isinstance(request, ssl.SSLSocket):
            try:
                request.settimeout(30)
                request.do_handshake()
                request.settimeout(None)
            except (OSError, ssl.SSLError):
                return
        super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def track(self, sock: socket.socket) -> None:
        with self._conns_lock:
            self._conns.add(sock)

    def untrack(self, sock: socket.socket) -> None:
        with self._conns_lock:
            self._conns.discard(sock)

    def stop(self) -> None:
        """Stop accepting, close the port, and cut every open connection."""
        self.shutdown()
        self.server_close()
        with self._conns_lock:
            conns = list(self._conns)
        for c in conns:
            with contextlib.suppress(OSError):
                c.shutdown(socket.SHUT_RDWR)


def _self_signed(addresses: list[str], directory: Path) -> tuple[Path, Path, str]:
    """A fresh self-signed certificate for the given addresses: (cert, key, cert PEM).

    Made with the `cryptography` package when it is installed, else with the `openssl`
    command (OpenSSL >= 1.1.1).
    """
    cert_path, key_path = directory / "xapi.pem", directory / "xapi.key"
    try:
        cert_pem, key_pem = _self_signed_cryptography(addresses)
    except ImportError:
        _self_signed_openssl(addresses, cert_path, key_path)
    else:
        cert_path.write_bytes(cert_pem)
        key_path.write_bytes(key_pem)
    key_path.chmod(0o600)
    return cert_path, key_path, cert_path.read_text()


def _self_signed_cryptography(addresses: list[str]) -> tuple[bytes, bytes]:
    # Imported here: without the package, _self_signed_openssl is the fallback.
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    cn = addresses[0] if addresses else "xapi"
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.now(UTC)
    sans: list[x509.GeneralName] = [x509.DNSName("localhost")]
    for a in addresses:
        with contextlib.suppress(ValueError):
            sans.append(x509.IPAddress(ipaddress.ip_address(a)))
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def _self_signed_openssl(addresses: list[str], cert_path: Path, key_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError(
            "TLS needs a certificate: install the 'cryptography' package or the openssl command"
        )
    sans = ",".join(["DNS:localhost", *(f"IP:{a}" for a in addresses)])
    subprocess.run(
        [
            openssl,
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "3650",
            "-subj",
            f"/CN={addresses[0] if addresses else 'xapi'}",
            "-addext",
            f"subjectAltName={sans}",
            "-keyout",
            str(key_path),
            "-out",
            str(cert_path),
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )


class Servers:
    """Every listener of a running simulator, and the state they share."""

    def __init__(
        self,
        pools: Iterable[Any],
        *,
        bind_port: int = 0,
        tls: bool = False,
        auth_failure_delay: float = 5.0,
        max_workers: int | None = None,
    ) -> None:
        self.pools = list(pools)
        self.sessions = Sessions()
        self.tasks = Tasks(max_workers=max_workers)
        self.call_log = CallLog()
        self.dispatcher = Dispatcher(
            self.sessions, self.tasks, self.call_log, auth_failure_delay=auth_failure_delay
        )
        self.scheme = "https" if tls else "http"
        self.cert_pem: str | None = None
        self._ctx: ssl.SSLContext | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._lock = threading.Lock()
        self._listeners: dict[str, _Listener] = {}
        self._pool_of: dict[str, Any] = {}
        for pool in self.pools:
            for address in pool.host_addresses:
                if address in self._pool_of:
                    raise ValueError(f"host address {address} is used by two hosts")
                self._pool_of[address] = pool
        if tls:
            self._tmp = tempfile.TemporaryDirectory(prefix="sim-xapi-tls-")
            cert, key, self.cert_pem = _self_signed(list(self._pool_of), Path(self._tmp.name))
            self._ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ctx.load_cert_chain(cert, key)
        self.port = self._bind_all(bind_port)

    def _bind_all(self, bind_port: int) -> int:
        up = [a for a, p in self._pool_of.items() if p.is_up(a)]
        for _attempt in range(20):
            port = bind_port
            started: list[_Listener] = []
            try:
                for address in up:
                    listener = _Listener(self, self._pool_of[address], address, port, self._ctx)
                    port = listener.server_address[1]
                    started.append(listener)
            except OSError as e:
                for listener in started:
                    listener.server_close()
                if e.errno == errno.EADDRINUSE and bind_port == 0:
                    continue
                raise
            if not up:
                # Nothing is up yet: reserve a port number the hosts will use when restored.
                probe = socket.socket()
                probe.bind(("127.0.0.1", bind_port))
                port = probe.getsockname()[1]
                probe.close()
            for listener in started:
                self._listeners[listener.address] = listener
                listener.thread.start()
            return port
        raise OSError(errno.EADDRINUSE, "no port free on every host address")

    def url_for(self, address: str) -> str:
        """The URL of one host, e.g. `http://127.0.1.1:PORT` (`http://[::1]:PORT` for IPv6)."""
        host = f"[{address}]" if _is_ipv6(address) else address
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def urls(self) -> dict[str, str]:
        return {a: self.url_for(a) for a in self._pool_of}

    def running(self, address: str) -> bool:
        with self._lock:
            return address in self._listeners

    def refresh(self) -> None:
        """Make the listeners match `pool.is_up(address)`: stop failed, restart restored."""
        with self._lock:
            for address, pool in self._pool_of.items():
                up = pool.is_up(address)
                listener = self._listeners.get(address)
                if up and listener is None:
                    listener = _Listener(self, pool, address, self.port, self._ctx)
                    self._listeners[address] = listener
                    listener.thread.start()
                elif not up and listener is not None:
                    del self._listeners[address]
                    listener.stop()

    def stop(self) -> None:
        """Stop every listener and the task workers."""
        with self._lock:
            listeners, self._listeners = list(self._listeners.values()), {}
        # In parallel: each listener notices the stop request only at its next poll.
        stoppers = [threading.Thread(target=listener.stop) for listener in listeners]
        for t in stoppers:
            t.start()
        for t in stoppers:
            t.join()
        self.tasks.shutdown()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def __enter__(self) -> Servers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_pools(
    pools: Iterable[Any],
    *,
    bind_port: int = 0,
    tls: bool = False,
    auth_failure_delay: float = 5.0,
    max_workers: int | None = None,
) -> Servers:
    """Start a listener on every host address of `pools` (one port); -> `Servers`."""
    return Servers(
        pools,
        bind_port=bind_port,
        tls=tls,
        auth_failure_delay=auth_failure_delay,
        max_workers=max_workers,
    )


def start_servers(world: Any, **options: Any) -> Servers:
    """`serve_pools` over every pool of a world (`world.pools`: name -> Pool)."""
    pools = world.pools.values() if isinstance(world.pools, dict) else world.pools
    return serve_pools(pools, **options)
