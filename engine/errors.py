"""The engine's exceptions: every failure a caller can meet, each with a message saying what to do.

Only `engine/xapi.py` catches `XenAPI.Failure`, xmlrpc and socket errors; it maps them to the most
specific class here and re-raises with `from exc`, so nothing above it ever sees a foreign
exception.

```
DRError                          anything the engine refuses or fails to do
├── XapiError(code, args, method)    a XAPI call failed; `code` is ErrorDescription[0]
│   ├── XapiTransient                may work if retried: connection refused or lost, timeout,
│   │                                HOST_OFFLINE, TOO_BUSY, HOST_IS_SLAVE with no reachable
│   │                                coordinator ...
│   ├── XapiRejected                 the server said no (HANDLE_INVALID, VM_REQUIRES_SR, ...)
│   └── SessionLost                  the session expired and logging in again failed
├── ConfigError                      the configuration is wrong or incomplete
├── TargetNotFound                   a plan's target names no VM or vApp
├── PlanChanged                      the world moved since the plan was approved
├── RunConflict                      another run holds the pool's lease
├── RunStateError                    a run cannot go from its state to the one asked
├── StorageError                     the storage adapter could not do what was asked
└── ManualStepRequired               a person must do a storage step, then confirm it
```
"""

from __future__ import annotations

from collections.abc import Sequence

from engine import messages

# Codes of ours for transport failures (XAPI's own codes are its ErrorDescription[0]).
# `engine/xapi.py` picks one from the exception's type, never from its message.
CONNECTION_REFUSED = "CONNECTION_REFUSED"  # nothing listened: the call never reached a server
CONNECTION_LOST = "CONNECTION_LOST"  # the connection dropped mid-call: the server may have acted
CONNECTION_FAILED = "CONNECTION_FAILED"  # no route, no such name ...: no server was reached
TIMEOUT = "TIMEOUT"  # no answer in time: the server may have acted
PROTOCOL_ERROR = "PROTOCOL_ERROR"  # an answer came, but not XAPI's
TLS_VERIFY_FAILED = "TLS_VERIFY_FAILED"  # the certificate did not verify

# Codes that describe the moment rather than the request: retrying later (or elsewhere) may work.
TRANSIENT_CODES = frozenset(
    {
        "HOST_OFFLINE",
        "HOST_IS_SLAVE",
        "CANNOT_CONTACT_HOST",
        "TOO_BUSY",
        "TOO_MANY_PENDING_TASKS",
        "OTHER_OPERATION_IN_PROGRESS",
        CONNECTION_REFUSED,
        CONNECTION_LOST,
        CONNECTION_FAILED,
        TIMEOUT,
        PROTOCOL_ERROR,
    }
)

# The pool stopped answering: nothing came back, or the connection died under the call.
LOST_CONTACT_CODES = frozenset({CONNECTION_REFUSED, CONNECTION_LOST, CONNECTION_FAILED, TIMEOUT})

# Failures that prove the server did nothing with the call, so it may be sent again elsewhere:
# a member redirecting to its coordinator, or a host where nothing listens.
NEVER_REACHED_CODES = frozenset({"HOST_IS_SLAVE", CONNECTION_REFUSED})


class DRError(Exception):
    """Base of every engine error; `str(e)` is a sentence a person can act on.

    Attributes:
        code: a stable code for the failure, kept with a failed step and a VM's error (None
            when the class has none); `XapiError` carries XAPI's.
    """

    code: str | None = None


class XapiError(DRError):
    """A XAPI call failed.

    Attributes:
        code: XAPI's error code (`ErrorDescription[0]`), or one of ours for transport failures:
            `CONNECTION_REFUSED`, `CONNECTION_LOST`, `CONNECTION_FAILED`, `TIMEOUT`,
            `PROTOCOL_ERROR`, `TLS_VERIFY_FAILED`.
        args: the remaining ErrorDescription strings (XAPI sends every argument as a string).
        method: the wire name of the call that failed, e.g. `VM.recover`.
        host: the URL the call went to, when known.
    """

    code: str

    def __init__(
        self, code: str, args: Sequence[str] = (), method: str = "", host: str = ""
    ) -> None:
        self.code = code
        self.args_ = tuple(str(a) for a in args)
        self.method = method
        self.host = host
        super().__init__(messages.xapi_error(code, self.args_, method, host))

    @property
    def details(self) -> list[str]:
        """The ErrorDescription as XAPI sent it: `[code, *args]`."""
        return [self.code, *self.args_]


class XapiTransient(XapiError):
    """The call failed for a reason of the moment; retrying (later or elsewhere) may work."""


class XapiRejected(XapiError):
    """The server understood the call and refused it; retrying the same call will fail again."""


class SessionLost(XapiError):
    """The session became invalid and a fresh login failed too."""


class ConfigError(DRError):
    """The configuration is missing, malformed or names something that does not exist."""


class TargetNotFound(DRError):
    """A plan's target names no VM, vApp or pool the engine can see."""


class PlanChanged(DRError):
    """The plan made now differs from the one that was approved (its hash moved)."""


class RunConflict(DRError):
    """Another run holds the lease of this pool.

    Attributes:
        pool: the pool asked for.
        run_id: the run that holds it.
        state: that run's state (a `RunState` value).
        waits_for_person: the holder will not end by itself: it is interrupted (or its process
            is gone) or paused, and only a person's `resume` or `abort` frees the pool. A queue
            waiting for the pool stops on this rather than wait forever.
    """

    def __init__(
        self,
        message: str,
        *,
        pool: str = "",
        run_id: int = 0,
        state: str = "",
        waits_for_person: bool = False,
    ) -> None:
        super().__init__(message)
        self.pool, self.run_id, self.state = pool, run_id, state
        self.waits_for_person = waits_for_person


class RunStateError(DRError):
    """A run was asked to make a transition its state does not allow."""


class StorageError(DRError):
    """The storage replication adapter could not read or change replication."""


class ManualStepRequired(DRError):
    """A storage step must be done by a person; the run pauses until it is confirmed.

    Attributes:
        lun: the replicated LUN the step is about.
        action: `present_test_copy`, `remove_test_copy`, `promote`, `reverse` or `sync`.
        instruction: what the storage team must do, in one sentence.
    """

    def __init__(self, lun: str, action: str, instruction: str) -> None:
        self.lun = lun
        self.action = action
        self.instruction = instruction
        super().__init__(messages.manual_step(lun, action, instruction))


def from_failure(details: Sequence[str], method: str = "", host: str = "") -> XapiError:
    """Build the most specific `XapiError` for an ErrorDescription `[code, *args]`."""
    code = str(details[0]) if details else "INTERNAL_ERROR"
    args = [str(a) for a in details[1:]]
    if code == "SESSION_INVALID":
        return SessionLost(code, args, method, host)
    cls = XapiTransient if code in TRANSIENT_CODES else XapiRejected
    return cls(code, args, method, host)


def lost_contact(exc: BaseException) -> bool:
    """True when `exc` means a pool stopped answering (refused, unreachable, dropped mid-call or
    silent): a run is interrupted, not failed, so it can be resumed once the pool is back (its
    journal says where it stood), and the split-brain guard may count the pool as gone."""
    return isinstance(exc, XapiTransient) and exc.code in LOST_CONTACT_CODES


def never_reached(exc: BaseException) -> bool:
    """True when `exc` proves the call never reached a server that could act on it, so sending
    it again (to the coordinator, or another host) cannot do anything twice."""
    return isinstance(exc, XapiError) and exc.code in NEVER_REACHED_CODES
