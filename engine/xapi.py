"""The one XAPI client of drbot: the only module that imports `XenAPI`.

`XapiClient` owns everything about talking to a pool: login with an originator, following
`HOST_IS_SLAVE` to the coordinator, trying the pool's other hosts when the coordinator is gone,
TLS (verified by default), a socket timeout on every call, logging in again when the session
expires, Async tasks awaited through `event.from`, and the foreign metadata-database session of
`VDI.open_database` (reference §2.5). Every failure leaves this module as an `engine.errors`
exception that carries XAPI's code and arguments.

Calls go over XML-RPC through `XenAPI.Session` (what every XAPI tool speaks); the bulk reads
(`get_all_records`, `event.from`) go over JSON-RPC on `/jsonrpc`, because Python's XML-RPC
unmarshaller needs seconds for a 10,000-VM pool where `json` needs a fraction of one. If a server
has no `/jsonrpc`, the client falls back to XML-RPC for good.

It implements `engine.pool_api` (`PoolAPI`, `ForeignDatabaseAPI`, `TaskWaiterAPI`): the rest of
the engine is typed against those Protocols, never against this module.

Thread safety: one client may be used from several threads (the inventory follows events in its
own thread while a run calls). Each thread gets its own HTTP connections; the session is shared.

Example:
    client = XapiClient.connect(config.pool("dr"), clock=SystemClock())
    vms = client.get_all_records("VM")
    task = client.start_async("VM.start", vm_ref, False, False)
    outcome = client.wait([task], timeout=600)[task]
    client.close()
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import ipaddress
import itertools
import json
import ssl
import threading
import time
import xmlrpc.client
from collections.abc import Callable, Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

import XenAPI

from engine import messages
from engine.clock import Clock, SystemClock
from engine.config import PoolEndpoint
from engine.errors import (
    CONNECTION_FAILED,
    CONNECTION_LOST,
    CONNECTION_REFUSED,
    PROTOCOL_ERROR,
    TIMEOUT,
    TLS_VERIFY_FAILED,
    SessionLost,
    XapiError,
    XapiRejected,
    XapiTransient,
    from_failure,
    never_reached,
)
from engine.pool_api import ForeignDatabaseAPI, PoolAPI, TaskOutcome, TaskWaiterAPI

API_VERSION = "1.0"
# HOST_IS_SLAVE hops before concluding the pool is mid-election.
MAX_REDIRECTS = 4
# Extra socket time on top of an event.from timeout, so the server answers before we give up.
EVENT_MARGIN_SECONDS = 10.0


# ---------------------------------------------------------------------------------------------
# Transport: timeouts and TLS
# ---------------------------------------------------------------------------------------------


class _FingerprintMismatch(ssl.SSLError):
    pass


def _ssl_context(endpoint: PoolEndpoint) -> ssl.SSLContext:
    """TLS as the endpoint asks: CA file, pinned fingerprint, system trust, or (lab) none."""
    if endpoint.ca_file:
        return ssl.create_default_context(cafile=str(endpoint.ca_file))
    if endpoint.fingerprint_hex or endpoint.insecure:
        # The fingerprint is checked by _HTTPSConnection after the handshake; a pinned
        # self-signed certificate (XAPI's default) cannot verify against any CA.
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context()


class _HTTPSConnection(http.client.HTTPSConnection):
    """An HTTPS connection that, when a fingerprint is pinned, refuses any other certificate."""

    def __init__(self, host: str, *, fingerprint: str | None, **kwargs: Any) -> None:
        super().__init__(host, **kwargs)
        self._fingerprint = fingerprint

    def connect(self) -> None:
        super().connect()
        if self._fingerprint:
            der = self.sock.getpeercert(binary_form=True) or b""
            got = hashlib.sha256(der).hexdigest()
            if got != self._fingerprint:
                self.sock.close()
                raise _FingerprintMismatch(
                    messages.FINGERPRINT_MISMATCH.format(
                        host=self.host, got=got, want=self._fingerprint
                    )
                )


class _Connections:
    """Opens HTTP(S) connections with the endpoint's TLS settings and a socket timeout, and
    keeps track of them so that none outlives its use.

    Connections belong to the thread that opened them (the client keeps one set per thread),
    and threads come and go without saying so: a connection whose thread has ended is closed
    the next time any thread opens one, and `close_all` closes the rest when the client is
    closed. Left to the garbage collector, their sockets would be closed at some random later
    point, unannounced to the pool.
    """

    def __init__(self, endpoint: PoolEndpoint, timeout: float) -> None:
        self.timeout = timeout
        self._fingerprint = endpoint.fingerprint_hex
        self._context = _ssl_context(endpoint)
        self._lock = threading.Lock()
        self._opened: list[tuple[threading.Thread, http.client.HTTPConnection]] = []

    def open(self, scheme: str, netloc: str, timeout: float) -> http.client.HTTPConnection:
        conn: http.client.HTTPConnection
        if scheme == "https":
            conn = _HTTPSConnection(
                netloc, fingerprint=self._fingerprint, context=self._context, timeout=timeout
            )
        else:
            conn = http.client.HTTPConnection(netloc, timeout=timeout)
        self._track(conn)
        return conn

    def _track(self, conn: http.client.HTTPConnection) -> None:
        me = threading.current_thread()
        keep: list[tuple[threading.Thread, http.client.HTTPConnection]] = []
        done: list[tuple[threading.Thread, http.client.HTTPConnection]] = []
        with self._lock:
            for thread, old in self._opened:
                # This thread's own connections without a socket were closed by it (a reopen
                # after a failure); another thread's may be about to connect, so only its death
                # says they are done.
                gone = not thread.is_alive() or (thread is me and old.sock is None)
                (done if gone else keep).append((thread, old))
            keep.append((me, conn))
            self._opened = keep
        for _, old in done:
            with contextlib.suppress(Exception):
                old.close()

    def close_all(self) -> None:
        """Close every connection opened through this object, in any thread."""
        with self._lock:
            opened, self._opened = self._opened, []
        for _, conn in opened:
            with contextlib.suppress(Exception):
                conn.close()


class _Transport(xmlrpc.client.Transport):
    """xmlrpc transport with a socket timeout (the stock one blocks forever) and our TLS."""

    def __init__(self, connections: _Connections, scheme: str) -> None:
        super().__init__()
        self._connections = connections
        self._scheme = scheme
        self.timeout = connections.timeout

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection and host == self._connection[0] and self._connection[1] is not None:
            conn = self._connection[1]
        else:
            chost, self._extra_headers, _ = self.get_host_info(host)
            conn = self._connections.open(self._scheme, chost, self.timeout)
            self._connection = host, conn
        conn.timeout = self.timeout
        if conn.sock is not None:
            conn.sock.settimeout(self.timeout)
        return conn


class _JsonRpc:
    """A minimal JSON-RPC 2.0 caller for XAPI's `/jsonrpc` (wire-protocol.md)."""

    def __init__(self, connections: _Connections, url: str) -> None:
        parts = urlsplit(url)
        self._scheme = parts.scheme
        self._netloc = parts.netloc
        self._connections = connections
        self._conn: http.client.HTTPConnection | None = None
        self._ids = itertools.count(1)

    def call(self, method: str, params: list[Any], timeout: float) -> dict[str, Any]:
        body = json.dumps(
            {"jsonrpc": "2.0", "method": method, "params": params, "id": next(self._ids)}
        )
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connections.open(self._scheme, self._netloc, timeout)
            conn = self._conn
            conn.timeout = timeout
            if conn.sock is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(
                    "POST", "/jsonrpc", body=body, headers={"Content-Type": "application/json"}
                )
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # A kept-alive connection the server closed: open a fresh one once.
                self.close()
                if attempt == 2:
                    raise
                continue
            except BaseException:
                self.close()
                raise
            if resp.status != 200:
                self.close()
                raise xmlrpc.client.ProtocolError(
                    f"{self._netloc}/jsonrpc", resp.status, resp.reason, {}
                )
            return json.loads(data)
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


# What a transport exception means, most specific first: an exception takes the code of the first
# row whose type it is an instance of. Order matters where Python's hierarchy crosses ours:
# `RemoteDisconnected` is both a `BadStatusLine` (a protocol error) and a `ConnectionResetError`,
# and means the server closed the connection without answering, so it must be a lost
# connection (the call may have been done) before `HTTPException` makes it a protocol error; the
# TLS errors are `OSError`s, and the timeout an `OSError` too.
_TRANSPORT_CODES: tuple[tuple[type[BaseException], str], ...] = (
    (_FingerprintMismatch, TLS_VERIFY_FAILED),
    (ssl.SSLEOFError, CONNECTION_LOST),  # the peer vanished mid-stream without closing TLS
    (ssl.SSLError, TLS_VERIFY_FAILED),
    (TimeoutError, TIMEOUT),
    (ConnectionRefusedError, CONNECTION_REFUSED),
    (http.client.RemoteDisconnected, CONNECTION_LOST),
    (http.client.IncompleteRead, CONNECTION_LOST),  # the answer was cut short
    (ConnectionError, CONNECTION_LOST),  # reset, aborted, broken pipe
    (http.client.HTTPException, PROTOCOL_ERROR),  # a bad status line, headers too long ...
    (OSError, CONNECTION_FAILED),  # no route to the host, a name that does not resolve ...
    (xmlrpc.client.ProtocolError, PROTOCOL_ERROR),  # an HTTP status other than 200
    (xmlrpc.client.ResponseError, PROTOCOL_ERROR),
    (xmlrpc.client.Fault, PROTOCOL_ERROR),
    (ExpatError, PROTOCOL_ERROR),
    (ValueError, PROTOCOL_ERROR),  # a body that is not JSON, a value that does not decode
)


def _transport_code(exc: BaseException) -> str | None:
    """Our code for a transport exception (see `_TRANSPORT_CODES`), None for anything else."""
    for cls, code in _TRANSPORT_CODES:
        if isinstance(exc, cls):
            return code
    return None


def _envelope_from_json(answer: dict[str, Any]) -> dict[str, Any]:
    """JSON-RPC answer (v2.0 or v1.0 error forms) as XAPI's XML-RPC envelope."""
    error = answer.get("error")
    if error is None:
        return {"Status": "Success", "Value": answer.get("result")}
    if isinstance(error, dict):
        details = [error.get("message", "INTERNAL_ERROR"), *(error.get("data") or [])]
    else:
        details = list(error)
    return {"Status": "Failure", "ErrorDescription": [str(d) for d in details]}


# ---------------------------------------------------------------------------------------------
# Tasks
# ---------------------------------------------------------------------------------------------


def _decode_task_result(fragment: str) -> Any:
    """A task's `result` is the XML-RPC serialisation of the return value (reference §1.9)."""
    if not fragment:
        return ""
    try:
        (value,), _ = xmlrpc.client.loads(
            f"<methodResponse><params><param>{fragment}</param></params></methodResponse>"
        )
    except Exception:
        return fragment
    return value


# ---------------------------------------------------------------------------------------------
# The client
# ---------------------------------------------------------------------------------------------


class _Local(threading.local):
    url: str | None = None
    proxy: Any = None
    transport: _Transport | None = None
    jsonrpc: _JsonRpc | None = None


def _url_host(address: str) -> str:
    """The host part of a URL for an address XAPI gives (`HOST_IS_SLAVE`, `host.address`):
    an IPv6 address goes in brackets (RFC 3986); a name or an IPv4 address as it is."""
    bare = address.strip("[]")
    try:
        return f"[{bare}]" if ipaddress.ip_address(bare).version == 6 else bare
    except ValueError:
        return address


# Told of every round trip (metrics): the method, its duration in seconds, and the error code,
# or None when XAPI answered Success. Called on the calling thread; it must not raise or block.
CallObserver = Callable[[str, float, str | None], None]


class XapiClient(PoolAPI):
    """A logged-in connection to one pool's coordinator.

    Guarantees:
        - every call has a socket timeout (`timeout`, or the event timeout plus a margin);
        - a call answered `HOST_IS_SLAVE` or refused at connect time (`never_reached`) is
          retried once on the coordinator found by trying every known host; nothing is retried
          after the server may have acted (a timeout mid-call raises `TIMEOUT`, a connection
          dropped mid-call `CONNECTION_LOST`);
        - `SESSION_INVALID` triggers one fresh login and one retry; if that fails too,
          `SessionLost`;
        - XAPI failures raise `XapiRejected` / `XapiTransient` / `SessionLost` with the code and
          arguments; transport failures raise `XapiTransient` with a code chosen by the
          exception's type (`_TRANSPORT_CODES`): `CONNECTION_REFUSED`, `CONNECTION_LOST`,
          `CONNECTION_FAILED`, `TIMEOUT`, `PROTOCOL_ERROR` or `TLS_VERIFY_FAILED`.
    """

    def __init__(
        self,
        endpoint: PoolEndpoint,
        *,
        originator: str = "drbot",
        clock: Clock | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        observer: CallObserver | None = None,
    ) -> None:
        self.endpoint = endpoint
        self._observer = observer
        self.originator = originator
        self.clock = clock or SystemClock()
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._connections = _Connections(endpoint, timeout)
        self._known_urls: list[str] = list(endpoint.urls)
        self._url: str | None = None
        self._session: str | None = None
        self._lock = threading.RLock()
        self._local = _Local()
        self._jsonrpc_ok = True
        self._pool_ref: str | None = None
        self.calls = 0  # round trips made; benchmarks and tests read it
        self.latency: float | None = None  # moving average of short calls' round trips, s

    # -- connecting ---------------------------------------------------------------------------

    @classmethod
    def connect(
        cls,
        endpoint: PoolEndpoint,
        *,
        originator: str = "drbot",
        clock: Clock | None = None,
        timeout: float = 60.0,
        connect_timeout: float = 10.0,
        observer: CallObserver | None = None,
    ) -> XapiClient:
        """Log in to the pool's coordinator (following HOST_IS_SLAVE) and return the client."""
        client = cls(
            endpoint,
            originator=originator,
            clock=clock,
            timeout=timeout,
            connect_timeout=connect_timeout,
            observer=observer,
        )
        try:
            client._login()
            client._learn_hosts()
        except BaseException:
            client.close()
            raise
        return client

    @property
    def url(self) -> str | None:
        """The coordinator URL the client is logged in to."""
        return self._url

    @property
    def jsonrpc_available(self) -> bool:
        """False once the server answered 404 on /jsonrpc (bulk reads then use XML-RPC)."""
        return self._jsonrpc_ok

    @property
    def session(self) -> str:
        """The current session ref (re-logins change it)."""
        if self._session is None:
            self._login()
        assert self._session is not None
        return self._session

    def _proxy(self, url: str, timeout: float) -> Any:
        local = self._local
        if local.url != url or local.proxy is None:
            self._drop_local()
            scheme = urlsplit(url).scheme
            local.transport = _Transport(self._connections, scheme)
            local.proxy = XenAPI.Session(url, transport=local.transport)
            local.url = url
        assert local.transport is not None
        local.transport.timeout = timeout
        return local.proxy

    def _json(self, url: str) -> _JsonRpc:
        local = self._local
        if local.url != url or local.proxy is None:
            self._proxy(url, self.timeout)
        if local.jsonrpc is None:
            local.jsonrpc = _JsonRpc(self._connections, url)
        return local.jsonrpc

    def release_thread(self) -> None:
        """Close the calling thread's connections (call it before a worker thread ends)."""
        self._drop_local()

    def _drop_local(self) -> None:
        local = self._local
        if local.transport is not None:
            with contextlib.suppress(Exception):
                local.transport.close()
        if local.jsonrpc is not None:
            local.jsonrpc.close()
        local.url = local.proxy = local.transport = local.jsonrpc = None

    def _url_for_address(self, address: str, like: str) -> str:
        """The URL of a host XAPI names by address (HOST_IS_SLAVE, host.address)."""
        if "://" in address:
            return address.rstrip("/")
        for url in self._known_urls:
            parts = urlsplit(url)
            if address in (parts.hostname, parts.netloc):
                return url
        parts = urlsplit(like)
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{_url_host(address)}{port}"

    def _login(self) -> None:
        """Log in on the coordinator, trying every known host and following HOST_IS_SLAVE."""
        with self._lock:
            tried: list[str] = []
            last: XapiError | None = None
            candidates = ([self._url] if self._url else []) + [
                u for u in self._known_urls if u != self._url
            ]
            for start in candidates:
                url = start
                for _ in range(MAX_REDIRECTS):
                    tried.append(url)
                    try:
                        self._session = self._login_at(url)
                        self._url = url
                        if url not in self._known_urls:
                            self._known_urls.insert(0, url)
                        return
                    except XapiError as exc:
                        last = exc
                        if exc.code == "HOST_IS_SLAVE" and exc.args_:
                            url = self._url_for_address(exc.args_[0], url)
                            continue
                        if isinstance(exc, XapiTransient):
                            break  # this host is gone; try the next known one
                        raise
                else:
                    last = XapiTransient(
                        "HOST_IS_SLAVE",
                        [messages.COORDINATOR_LOOP.format(pool=self.endpoint.name)],
                        "session.login_with_password",
                        url,
                    )
            raise XapiTransient(
                last.code if last else CONNECTION_FAILED,
                [
                    messages.ALL_HOSTS_UNREACHABLE.format(
                        pool=self.endpoint.name, tried=", ".join(dict.fromkeys(tried))
                    ),
                    *(last.args_[:1] if last else ()),
                ],
                "session.login_with_password",
                tried[-1] if tried else "",
            ) from last

    def _login_at(self, url: str) -> str:
        proxy = self._proxy(url, self.connect_timeout)
        envelope = self._send(
            url,
            lambda: getattr(proxy, "session.login_with_password")(
                self.endpoint.username,
                self.endpoint.password.get_secret_value(),
                API_VERSION,
                self.originator,
            ),
            "session.login_with_password",
        )
        value = self._unwrap(envelope, "session.login_with_password", url)
        proxy._session = value  # keeps XenAPI's own view coherent (xenapi.* calls)
        return str(value)

    def _learn_hosts(self) -> None:
        """Remember every host of the pool, so a lost coordinator can be looked for on them."""
        try:
            hosts = self.call("host.get_all_records")
        except XapiError:
            return
        for rec in hosts.values():
            address = rec.get("address") if isinstance(rec, dict) else None
            if address and self._url:
                url = self._url_for_address(str(address), self._url)
                if url not in self._known_urls:
                    self._known_urls.append(url)

    # -- sending ------------------------------------------------------------------------------

    def _send(self, url: str, thunk: Callable[[], Any], method: str) -> dict[str, Any]:
        """Run one round trip; map transport failures to typed errors."""
        self.calls += 1
        started = time.monotonic()
        try:
            envelope = thunk()
        except Exception as exc:
            code = _transport_code(exc)
            if self._observer is not None:
                self._observer(method, time.monotonic() - started, code or type(exc).__name__)
            if code is None:
                raise
            self._drop_local()
            if isinstance(exc, xmlrpc.client.ProtocolError):
                detail = [str(exc.errcode), exc.errmsg]
            else:
                detail = [str(exc) or type(exc).__name__]
            raise XapiTransient(code, detail, method, url) from exc
        # Round-trip time of short calls (the latency the RTO model uses); slow answers such as
        # a blocking event.from or a big get_all_records say nothing about the link.
        rtt = time.monotonic() - started
        if self._observer is not None:
            failed = isinstance(envelope, dict) and envelope.get("Status") == "Failure"
            error = (envelope.get("ErrorDescription") or ["INTERNAL_ERROR"])[0] if failed else None
            self._observer(method, rtt, str(error) if error is not None else None)
        if rtt < 1.0 and not method.startswith("event."):
            self.latency = rtt if self.latency is None else 0.8 * self.latency + 0.2 * rtt
        if not isinstance(envelope, dict) or "Status" not in envelope:
            raise XapiTransient(PROTOCOL_ERROR, [f"no Status in {envelope!r:.200}"], method, url)
        return envelope

    def _unwrap(self, envelope: dict[str, Any], method: str, url: str) -> Any:
        if envelope["Status"] == "Success":
            if "Value" not in envelope:
                raise XapiTransient(PROTOCOL_ERROR, ["no Value in the answer"], method, url)
            return envelope["Value"]
        raise from_failure(
            list(envelope.get("ErrorDescription") or ["INTERNAL_ERROR"]), method, url
        )

    def _call_with(
        self,
        method: str,
        args: tuple[Any, ...] | Callable[[], tuple[Any, ...]],
        *,
        session: Callable[[], str] | None,
        relogin: Callable[[], None],
        timeout: float | None = None,
        jsonrpc: bool = False,
    ) -> Any:
        """One call with session handling: retried once after a re-login or a redirect.

        `session` gives the session ref to prepend (None for session-less calls); `relogin`
        obtains a fresh one after SESSION_INVALID. `args` may be a function, evaluated for each
        attempt, when an argument is itself a session that a re-login replaces (`session_to`).
        """
        timeout = timeout or self.timeout
        relogged = redirected = False
        while True:
            url = self._url
            if url is None:
                self._login()
                url = self._url
            assert url is not None
            params = ((session(),) if session else ()) + tuple(args() if callable(args) else args)
            try:
                envelope = self._round_trip(url, method, params, timeout, jsonrpc)
                return self._unwrap(envelope, method, url)
            except SessionLost:
                if relogged:
                    raise
                relogged = True
                relogin()
            except XapiError as exc:
                # Only failures that prove the server did nothing are retried elsewhere.
                if not never_reached(exc) or redirected:
                    raise
                redirected = True
                with self._lock:
                    if self._url == url:  # another thread may have moved already
                        self._url = None
                        self._session = None
                self._login()

    def _round_trip(
        self, url: str, method: str, params: tuple[Any, ...], timeout: float, jsonrpc: bool
    ) -> dict[str, Any]:
        if jsonrpc and self._jsonrpc_ok:
            rpc = self._json(url)
            try:
                answer = self._send(
                    url,
                    lambda: _envelope_from_json(rpc.call(method, list(params), timeout)),
                    method,
                )
            except XapiTransient as exc:
                if exc.code == PROTOCOL_ERROR and exc.args_[:1] == ("404",):
                    self._jsonrpc_ok = False  # no /jsonrpc on this server: XML-RPC from now on
                else:
                    raise
            else:
                return answer
        proxy = self._proxy(url, timeout)
        return self._send(url, lambda: getattr(proxy, method)(*params), method)

    # -- the API ------------------------------------------------------------------------------

    def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Call `method` with the client's session prepended; returns XAPI's `Value`."""
        return self._call_with(
            method, args, session=lambda: self.session, relogin=self._relogin, timeout=timeout
        )

    def call_raw(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Call `method` without prepending any session (the caller passes it)."""
        return self._call_with(method, args, session=None, relogin=self._relogin, timeout=timeout)

    def get_all_records(self, cls: str) -> dict[str, dict[str, Any]]:
        """`<cls>.get_all_records` in one round trip, over JSON-RPC where the server has it.

        Values are as XAPI sends them (ints as digit strings, datetimes as strings or
        `xmlrpc.client.DateTime`); `engine.inventory` converts them.
        """
        return self._call_with(
            f"{cls}.get_all_records",
            (),
            session=lambda: self.session,
            relogin=self._relogin,
            jsonrpc=True,
        )

    def events(
        self, classes: Iterable[str], token: str, timeout: float
    ) -> tuple[list[dict[str, Any]], str]:
        """One `event.from`: the events since `token` (blocking up to `timeout` s) and the next
        token. A token of "" returns an `add` for every existing object of those classes."""
        answer = self._call_with(
            "event.from",
            (list(classes), token, float(timeout)),
            session=lambda: self.session,
            relogin=self._relogin,
            timeout=timeout + EVENT_MARGIN_SECONDS,
            jsonrpc=True,
        )
        return list(answer.get("events") or []), str(answer.get("token", token))

    def current_token(self) -> str:
        """A token for "now", to follow changes from after a snapshot was taken.

        `event.inject` on the pool object: XAPI touches it and returns the token just before
        that touch (xapi_event.ml, `inject`). A token from `event.from` is no substitute: it
        is the newest generation among the objects that call matched, so one taken from the
        pool object alone is as old as the pool's last change, and a follower starting from
        it replays history (docs/xapi-behaviours.md §8). The pool's ref is asked once.
        """
        if self._pool_ref is None:
            self._pool_ref = str(self.call("pool.get_all")[0])
        return str(self.call("event.inject", "pool", self._pool_ref))

    def start_async(self, method: str, *args: Any, session: str | None = None) -> str:
        """Start `Async.<method>` and return its task ref at once.

        With `session`, that session is prepended instead of the client's (the foreign database
        session of a recovery call); a SESSION_INVALID then is not retried here.
        """
        name = method if method.startswith("Async.") else f"Async.{method}"
        if session is None:
            return str(self.call(name, *args))
        return str(self.call_raw(name, session, *args))

    def task_record(self, task_ref: str) -> dict[str, Any] | None:
        """The task's record, or None when the task no longer exists (HANDLE_INVALID)."""
        try:
            return self.call("task.get_record", task_ref)
        except XapiRejected as exc:
            if exc.code == "HANDLE_INVALID":
                return None
            raise

    def task_outcome(self, task_ref: str) -> TaskOutcome:
        """The task's outcome now (`pending` while it runs, `vanished` when it is gone)."""
        rec = self.task_record(task_ref)
        return TaskOutcome(task_ref, "vanished") if rec is None else self._outcome(task_ref, rec)

    def task_waiter(self) -> TaskWaiter:
        """A `TaskWaiter` on this client: follows the task class with one event token."""
        return TaskWaiter(self)

    def wait(
        self,
        task_refs: Iterable[str],
        deadline: float | None = None,
        *,
        timeout: float | None = None,
        return_when: str = "all",
        destroy: bool = True,
        on_progress: Callable[[str, float], None] | None = None,
    ) -> dict[str, TaskOutcome]:
        """Wait for tasks through `event.from` on the task class, then destroy the finished ones.

        Args:
            task_refs: tasks started by `start_async` (any session of this pool).
            deadline: absolute `clock.monotonic()` value to stop at; or `timeout` seconds from
                now. Neither: one hour.
            return_when: "all" waits for every task; "first" returns as soon as at least one
                has finished.
            destroy: `task.destroy` each finished task (XAPI never removes them by itself).
            on_progress: called with (task ref, progress 0..1) as tasks report progress.

        Returns:
            An outcome for every task; tasks still running at the deadline have status
            `pending` and are not destroyed.
        """
        waiter = TaskWaiter(self, destroy=destroy, on_progress=on_progress)
        refs = list(task_refs)
        for ref in refs:
            waiter.add(ref)
        if deadline is None:
            deadline = self.clock.monotonic() + (timeout if timeout is not None else 3600.0)
        # The same bound in real time too: a test's ManualClock does not move while we wait on
        # the network, and a wait must end even then.
        real_deadline = time.monotonic() + max(0.0, deadline - self.clock.monotonic())
        outcomes: dict[str, TaskOutcome] = {}
        while waiter.pending:
            remaining = min(deadline - self.clock.monotonic(), real_deadline - time.monotonic())
            if remaining <= 0:
                break
            for outcome in waiter.next(min(remaining, 30.0)):
                outcomes[outcome.ref] = outcome
            if return_when == "first" and outcomes:
                break
        for ref in waiter.pending:
            outcomes[ref] = TaskOutcome(ref, "pending")
        return {ref: outcomes[ref] for ref in refs}

    def _outcome(self, ref: str, rec: dict[str, Any]) -> TaskOutcome:
        status = str(rec.get("status", "pending"))
        try:
            progress = float(rec.get("progress", 0.0))
        except (TypeError, ValueError):
            progress = 0.0
        info = [str(x) for x in rec.get("error_info") or []]
        if status == "success":
            return TaskOutcome(ref, status, _decode_task_result(str(rec.get("result", ""))), None)
        if status in ("failure", "cancelled"):
            if not info:
                info = ["TASK_CANCELLED", ref] if status == "cancelled" else ["INTERNAL_ERROR"]
            method = str(rec.get("name_label", ""))
            return TaskOutcome(
                ref, status, None, from_failure(info, method, self._url or ""), info, progress
            )
        return TaskOutcome(ref, "pending", progress=progress)

    def run(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Start `Async.<method>`, wait for it, destroy the task; return its result or raise."""
        task = self.start_async(method, *args)
        outcome = self.wait([task], timeout=timeout)[task]
        if outcome.status == "pending":
            raise XapiTransient(
                TIMEOUT,
                [messages.TASK_DEADLINE.format(task=task, method=method)],
                method,
                self._url or "",
            )
        if outcome.error is not None:
            raise outcome.error
        return outcome.result

    def open_database(self, vdi_ref: str) -> ForeignDatabase:
        """Open the pool database on a metadata VDI (reference §2.2, §2.5).

        Use as a context manager; the foreign session is logged out with a raw `session.logout`
        on exit (XenAPI's own logout would crash on a session it did not log in).
        """
        return ForeignDatabase(self, vdi_ref)

    def _relogin(self) -> None:
        with self._lock:
            self._session = None
        self._login()

    def close(self) -> None:
        """Log out (best effort) and close every connection of this client, in every thread:
        call it when nothing uses the client any more."""
        session, url = self._session, self._url
        self._session = None
        if session and url:
            with contextlib.suppress(Exception):
                proxy = self._proxy(url, self.connect_timeout)
                getattr(proxy, "session.logout")(session)
        self._drop_local()
        self._connections.close_all()

    def __enter__(self) -> XapiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class TaskWaiter(TaskWaiterAPI):
    """Waits for many tasks with one `event.from` subscription, handing back each as it ends.

    The runner's bounded parallelism uses it: `add` a task when it is started, call `next` to
    get the tasks that finished since the last call (blocking up to `timeout` for at least one).
    The first `next` reads the task class from the beginning, so a task that finished before it
    was added is still seen. Finished tasks are destroyed unless `destroy=False`.
    """

    def __init__(
        self,
        client: XapiClient,
        *,
        destroy: bool = True,
        on_progress: Callable[[str, float], None] | None = None,
    ) -> None:
        self.client = client
        self.destroy = destroy
        self.on_progress = on_progress
        self._pending: set[str] = set()
        self._token = ""

    @property
    def pending(self) -> set[str]:
        return set(self._pending)

    def add(self, task_ref: str) -> None:
        self._pending.add(task_ref)

    def next(self, timeout: float) -> list[TaskOutcome]:
        """Outcomes of the tasks that finished (at most one `event.from` round trip)."""
        if not self._pending:
            return []
        events, self._token = self.client.events(["task"], self._token, timeout)
        done: list[TaskOutcome] = []
        for ev in events:
            ref = ev.get("ref")
            if ref not in self._pending:
                continue
            if ev.get("operation") == "del" or "snapshot" not in ev:
                done.append(TaskOutcome(ref, "vanished"))
                self._pending.discard(ref)
                continue
            outcome = self.client._outcome(ref, ev["snapshot"])
            if outcome.status == "pending":
                if self.on_progress:
                    self.on_progress(ref, outcome.progress)
                continue
            done.append(outcome)
            self._pending.discard(ref)
        if self.destroy:
            for outcome in done:
                if outcome.status != "vanished":
                    with contextlib.suppress(XapiError):
                        self.client.call("task.destroy", outcome.ref)
        return done


class ForeignDatabase(ForeignDatabaseAPI):
    """A read-only session on a foreign pool database opened from a metadata VDI.

    Calls go with the foreign session as their first argument (reference §2.5): reads see the
    foreign database, and recovery calls (`VM.recover`, `VM_appliance.recover`) take the client's
    normal session as `session_to`; `recover_vm` / `recover_appliance` build those calls. If the
    foreign session expires, the database is opened again once and the call retried (refs are
    stored in the database, so they stay valid).
    """

    def __init__(self, client: XapiClient, vdi_ref: str) -> None:
        self.client = client
        self.vdi_ref = vdi_ref
        self._session: str | None = None

    def __enter__(self) -> ForeignDatabase:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> str:
        if self._session is None:
            self._session = str(self.client.call("VDI.open_database", self.vdi_ref))
        return self._session

    @property
    def session(self) -> str:
        return self.open()

    def _reopen(self) -> None:
        self._session = None
        self.open()

    def call(self, method: str, *args: Any) -> Any:
        """`method` with the foreign session prepended."""
        return self.client._call_with(
            method, args, session=lambda: self.session, relogin=self._reopen
        )

    def get_all_records(self, cls: str) -> dict[str, dict[str, Any]]:
        return self.client._call_with(
            f"{cls}.get_all_records",
            (),
            session=lambda: self.session,
            relogin=self._reopen,
            jsonrpc=True,
        )

    def start_async(self, method: str, *args: Any) -> str:
        """`Async.<method>` with the foreign session; wait on it with the client's `wait`."""
        name = method if method.startswith("Async.") else f"Async.{method}"
        return str(
            self.client._call_with(name, args, session=lambda: self.session, relogin=self._reopen)
        )

    def _recover(self, method: str, ref: str, force: bool) -> str:
        # session_to is read on each attempt: when every session expired (a xapi restart),
        # reopening the database logs the client in again, and the retry must carry the new
        # session, not the dead one (the task would fail with SESSION_INVALID [session_to]).
        return str(
            self.client._call_with(
                f"Async.{method}",
                lambda: (ref, self.client.session, force),
                session=lambda: self.session,
                relogin=self._reopen,
            )
        )

    def recover_vm(self, vm_ref: str, force: bool) -> str:
        """Start `Async.VM.recover(db, vm, session_to, force)`; returns the task ref."""
        return self._recover("VM.recover", vm_ref, force)

    def recover_appliance(self, appliance_ref: str, force: bool) -> str:
        """Start `Async.VM_appliance.recover(db, app, session_to, force)`; returns the task."""
        return self._recover("VM_appliance.recover", appliance_ref, force)

    def close(self) -> None:
        session, self._session = self._session, None
        if session:
            with contextlib.suppress(XapiError):
                self.client.call_raw("session.logout", session)


@contextlib.contextmanager
def connected(endpoint: PoolEndpoint, **kwargs: Any) -> Iterator[XapiClient]:
    """`XapiClient.connect` as a context manager that logs out at the end."""
    client = XapiClient.connect(endpoint, **kwargs)
    try:
        yield client
    finally:
        client.close()


__all__ = [
    "ForeignDatabase",
    "SessionLost",
    "TaskOutcome",
    "TaskWaiter",
    "XapiClient",
    "XapiError",
    "XapiRejected",
    "XapiTransient",
    "connected",
]
