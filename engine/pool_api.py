"""What the engine calls on a pool: the typed XAPI surface the kinds, planner and readiness use.

`engine.xapi.XapiClient` is the one implementation (it owns login, redirects, TLS, timeouts and
the wire); everything else in the engine is written against these Protocols, so a reader sees
in one page what the engine may ask of XAPI, and a type checker follows a change through every
caller. The Protocols name behaviour, not transport: XAPI's own method names (`VM.recover`,
`SR.get_VDIs`) still go through `call` as strings, because XAPI's API is a few thousand methods
described by a datamodel, not a handful worth a Python method each.

Three objects make up the surface:
    `PoolAPI`: a logged-in connection to one pool's coordinator.
    `ForeignDatabaseAPI`: a session on a foreign pool database opened from a metadata VDI
        (`VDI.open_database`, reference §2.5); recovery reads and recovers through it.
    `TaskWaiterAPI`: one `event.from` subscription on the task class, handing back each Async
        task as it ends (the executor's bounded parallelism).
and one value, `TaskOutcome`, for how an Async task ended.

Errors: every method raises `engine.errors.XapiError` subclasses (`XapiRejected`,
`XapiTransient`, `SessionLost`) carrying XAPI's code, never a transport exception.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from engine.errors import XapiError

if TYPE_CHECKING:
    from engine.clock import Clock
    from engine.config import PoolEndpoint


@dataclass
class TaskOutcome:
    """How an Async call ended.

    status: `success`, `failure`, `cancelled`; `pending` if the deadline passed first;
    `vanished` if the task was destroyed by someone else before its end was seen.
    result: the call's return value decoded from the task's XML fragment (a ref, a list, "").
    error: for `failure` / `cancelled`, the typed error the sync call would have raised.
    """

    ref: str
    status: str
    result: Any = None
    error: XapiError | None = None
    error_info: list[str] = field(default_factory=list)
    progress: float = 0.0

    @property
    def ok(self) -> bool:
        return self.status == "success"


class TaskWaiterAPI(Protocol):
    """Waits for many tasks with one `event.from` subscription.

    `add` a task when it is started; `next` returns the tasks that ended since the last call
    (blocking up to `timeout` for at least one), including a task that ended before it was
    added. Finished tasks are destroyed unless the waiter was made not to.
    """

    @property
    def pending(self) -> set[str]:
        """The tasks added and not yet handed back (a copy)."""
        ...

    def add(self, task_ref: str) -> None: ...

    def next(self, timeout: float) -> list[TaskOutcome]:
        """Outcomes of the tasks that finished (at most one `event.from` round trip)."""
        ...


class ForeignDatabaseAPI(Protocol):
    """A read-only session on a foreign pool database opened from a metadata VDI.

    Reads see the foreign database; `recover_vm` / `recover_appliance` start the recovery into
    the pool that opened it. If the foreign session expires, an implementation opens the
    database again once and retries (refs are stored in the database, so they stay valid).
    Use it as a context manager, or `close` it: a foreign session left open holds the VDI.
    """

    @property
    def session(self) -> str:
        """The foreign session (opening the database if it is not open yet)."""
        ...

    def open(self) -> str:
        """Open the database (once); returns the foreign session."""
        ...

    def call(self, method: str, *args: Any) -> Any:
        """`method` with the foreign session prepended; returns XAPI's `Value`."""
        ...

    def get_all_records(self, cls: str) -> dict[str, dict[str, Any]]:
        """`<cls>.get_all_records` of the foreign database (values as XAPI sends them)."""
        ...

    def start_async(self, method: str, *args: Any) -> str:
        """`Async.<method>` with the foreign session; wait on it with the pool's `wait`."""
        ...

    def recover_vm(self, vm_ref: str, force: bool) -> str:
        """Start `Async.VM.recover(db, vm, session_to, force)`; returns the task ref."""
        ...

    def recover_appliance(self, appliance_ref: str, force: bool) -> str:
        """Start `Async.VM_appliance.recover(db, app, session_to, force)`; returns the task."""
        ...

    def close(self) -> None:
        """Log the foreign session out (best effort)."""
        ...

    def __enter__(self) -> ForeignDatabaseAPI: ...

    def __exit__(self, *exc: object) -> None: ...


class PoolAPI(Protocol):
    """A logged-in connection to one pool's coordinator.

    An implementation guarantees (see `engine.xapi.XapiClient` for how):
        - every call has a socket timeout; nothing is retried after the server may have acted;
        - a call answered `HOST_IS_SLAVE`, or refused before it reached the server, is tried
          again on the coordinator; an expired session is logged in again once;
        - it may be used from several threads at once; each thread's connections are its own
          and `release_thread` closes the calling thread's.
    """

    endpoint: PoolEndpoint
    clock: Clock
    calls: int  # round trips made so far (benchmarks and the inventory read it)
    latency: float | None  # moving average of short calls' round trips, seconds

    @property
    def url(self) -> str | None:
        """The coordinator URL the connection is logged in to (changes after a redirect)."""
        ...

    @property
    def session(self) -> str:
        """The current session ref (a re-login changes it)."""
        ...

    def call(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Call `method` with the session prepended; returns XAPI's `Value`."""
        ...

    def call_raw(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Call `method` without prepending any session (the caller passes one)."""
        ...

    def get_all_records(self, cls: str) -> dict[str, dict[str, Any]]:
        """`<cls>.get_all_records` in one round trip; values as XAPI sends them (ints as digit
        strings, datetimes as strings): `engine.inventory` converts them."""
        ...

    def events(
        self, classes: Iterable[str], token: str, timeout: float
    ) -> tuple[list[dict[str, Any]], str]:
        """One `event.from`: the events since `token` (blocking up to `timeout` s) and the next
        token. A token of "" returns an `add` for every existing object of those classes."""
        ...

    def current_token(self) -> str:
        """An event token for "now", to follow changes made after a snapshot."""
        ...

    def start_async(self, method: str, *args: Any, session: str | None = None) -> str:
        """Start `Async.<method>` and return its task ref at once (with `session`, that session
        is prepended instead of the connection's own)."""
        ...

    def task_record(self, task_ref: str) -> dict[str, Any] | None:
        """The task's record, or None when the task no longer exists."""
        ...

    def task_outcome(self, task_ref: str) -> TaskOutcome:
        """The task's outcome now (`pending` while it runs, `vanished` when it is gone)."""
        ...

    def task_waiter(self) -> TaskWaiterAPI:
        """A waiter following this pool's task class with one event token."""
        ...

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
        """Wait for tasks (until `deadline` on the clock, or `timeout` s), destroying finished
        ones unless `destroy=False`; a task still running at the end is `pending`."""
        ...

    def run(self, method: str, *args: Any, timeout: float | None = None) -> Any:
        """Start `Async.<method>`, wait for it, destroy the task; return its result or raise."""
        ...

    def open_database(self, vdi_ref: str) -> ForeignDatabaseAPI:
        """The pool database on a metadata VDI (reference §2.2, §2.5), not yet opened."""
        ...

    def release_thread(self) -> None:
        """Close the calling thread's connections (call it before a worker thread ends)."""
        ...

    def close(self) -> None:
        """Log out (best effort) and drop this thread's connections."""
        ...


__all__ = ["ForeignDatabaseAPI", "PoolAPI", "TaskOutcome", "TaskWaiterAPI"]
