"""Timeouts, TLS and JSON-RPC of the XAPI client, against real loopback servers."""

from __future__ import annotations

import importlib.util
import shutil
import socket
import threading

import pytest

from engine.config import PoolEndpoint
from engine.errors import XapiTransient, lost_contact, never_reached
from engine.xapi import XapiClient

# sim/xapi makes its self-signed certificates with `cryptography` or the openssl command.
needs_tls = pytest.mark.skipif(
    importlib.util.find_spec("cryptography") is None and shutil.which("openssl") is None,
    reason="sim/xapi's TLS listener needs the cryptography package or the openssl command",
)


def test_get_all_records_over_jsonrpc_matches_xmlrpc(core_sim):
    """Records read over /jsonrpc equal those read over XML-RPC (ints as XAPI sends them)."""
    sims = core_sim(**{"site-a": 6})
    client = sims.client("site-a")
    fast = client.get_all_records("VM")
    slow = client.call("VM.get_all_records")
    assert set(fast) == set(slow)
    ref = sims["site-a"].refs["vms"][0]
    assert int(fast[ref]["memory_static_max"]) == int(slow[ref]["memory_static_max"])
    assert fast[ref]["name_label"] == "vm-00000"


def _login_failure(port: int, connect_timeout: float = 5) -> XapiTransient:
    """The error a login to a loopback port ends in (it must fail)."""
    endpoint = PoolEndpoint(
        name="odd",
        urls=[f"http://127.0.0.1:{port}"],
        username="root",
        password="pw",
        allow_plaintext=True,
    )
    with pytest.raises(XapiTransient) as err:
        XapiClient.connect(endpoint, connect_timeout=connect_timeout)
    return err.value


def test_a_server_that_never_answers_times_out():
    """A call to a host that accepts but never answers fails with TIMEOUT, not a hang."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
                held.append(conn)
            except OSError:
                continue

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        assert _login_failure(listener.getsockname()[1], connect_timeout=0.3).code == "TIMEOUT"
    finally:
        stop.set()
        t.join()
        for c in held:
            c.close()
        listener.close()


def _answering_with(reply: bytes, stop: threading.Event) -> tuple[socket.socket, threading.Thread]:
    """A loopback server that reads each request, sends `reply` (maybe nothing), and closes."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                continue
            with conn:
                conn.recv(65536)
                conn.sendall(reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    return listener, t


@pytest.mark.parametrize(
    ("reply", "code", "lost"),
    [
        (b"", "CONNECTION_LOST", True),  # http.client.RemoteDisconnected, a BadStatusLine
        (b"SSH-2.0-OpenSSH_9.6\r\n", "PROTOCOL_ERROR", False),  # a bad status line
        (b"HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nnot xml!!", "PROTOCOL_ERROR", False),
    ],
)
def test_transport_failures_are_coded_by_their_type(reply, code, lost):
    """A host that drops the connection mid-call is lost contact (the run is interrupted, not
    failed); an answer that is not XAPI's is a protocol error."""
    stop = threading.Event()
    listener, t = _answering_with(reply, stop)
    try:
        err = _login_failure(listener.getsockname()[1])
        assert err.code == code
        assert lost_contact(err) is lost
        assert never_reached(err) is False  # the server had the call: never sent again
    finally:
        stop.set()
        t.join()
        listener.close()


def test_a_refused_connection_never_reached_a_server():
    """A port where nothing listens is CONNECTION_REFUSED: lost contact, and safe to retry."""
    probe = socket.create_server(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    err = _login_failure(port)
    assert err.code == "CONNECTION_REFUSED"
    assert lost_contact(err)
    assert never_reached(err)


@needs_tls
def test_tls_is_verified_by_default(core_sim):
    """An https pool with an unknown self-signed certificate is refused unless configured."""
    sims = core_sim(tls=True)
    with pytest.raises(XapiTransient) as err:
        XapiClient.connect(sims["site-a"].endpoint(), connect_timeout=5)
    assert err.value.code == "TLS_VERIFY_FAILED"


@needs_tls
def test_pinned_fingerprint_connects_and_a_wrong_one_is_refused(core_sim):
    """The right sha256 fingerprint connects; another one is refused with TLS_VERIFY_FAILED."""
    sims = core_sim(tls=True)
    site = sims["site-a"]
    client = XapiClient.connect(site.endpoint(fingerprint=site.fingerprint()))
    assert client.call("pool.get_all")
    client.close()
    with pytest.raises(XapiTransient) as err:
        XapiClient.connect(site.endpoint(fingerprint="ab" * 32), connect_timeout=5)
    assert err.value.code == "TLS_VERIFY_FAILED"
    assert "fingerprint" in str(err.value)


@needs_tls
def test_ca_file_verifies_the_certificate(core_sim, tmp_path):
    """A CA file holding the pool's certificate verifies it (hostname checked against the IP)."""
    sims = core_sim(tls=True)
    ca = tmp_path / "ca.pem"
    ca.write_text(sims.servers.cert_pem)
    client = XapiClient.connect(sims["site-a"].endpoint(ca_file=ca))
    assert len(client.get_all_records("host")) == 3
    client.close()


@needs_tls
def test_insecure_only_when_configured(core_sim):
    """insecure = true connects to an unverifiable certificate (a lab setting)."""
    sims = core_sim(tls=True)
    client = XapiClient.connect(sims["site-a"].endpoint(insecure=True))
    assert client.call("pool.get_all")
    client.close()


def test_servers_without_jsonrpc_fall_back_to_xmlrpc(core_sim):
    """Behind a proxy that answers 404 on /jsonrpc, bulk reads still work over XML-RPC."""
    import http.client
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import urlsplit

    sims = core_sim(**{"site-a": 3})
    upstream = urlsplit(sims["site-a"].url(0))

    class Proxy(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.path == "/jsonrpc":
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=10)
            conn.request("POST", self.path, body, {"Content-Type": "text/xml"})
            answer = conn.getresponse().read()
            conn.close()
            self.send_response(200)
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

    proxy = ThreadingHTTPServer(("127.0.0.1", 0), Proxy)
    thread = threading.Thread(target=proxy.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{proxy.server_address[1]}"
        endpoint = PoolEndpoint(
            name="proxied", urls=[url], username="root", password="rootpw", allow_plaintext=True
        )
        client = XapiClient.connect(endpoint)
        try:
            assert len(client.get_all_records("VM")) >= 3
            assert not client.jsonrpc_available
        finally:
            client.close()
    finally:
        proxy.shutdown()
        proxy.server_close()
        thread.join()


def test_connections_of_threads_that_ended_are_closed_and_close_closes_the_rest(core_sim):
    """A thread that called and ended leaves no open socket behind once the client is closed,
    and none is left for the garbage collector to find (no ResourceWarning)."""
    import gc
    import warnings

    sims = core_sim(**{"site-a": 2})
    client = sims.client("site-a")
    threads = [threading.Thread(target=client.get_all_records, args=("VM",)) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join()
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", ResourceWarning)
        client.close()
        gc.collect()
    assert [w for w in seen if issubclass(w.category, ResourceWarning)] == []
