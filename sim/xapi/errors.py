"""XAPI failures as the simulator raises them.

Anything raised as `XapiError(code, *args)` reaches the client as XAPI's failure struct
`{"Status": "Failure", "ErrorDescription": [code, *args]}` (XML-RPC) or the JSON-RPC error
object, never as an XML-RPC `<fault>`. Every argument is a string on the wire, so the
constructor turns them into strings here, once.
"""

from __future__ import annotations

# Wire strings of the error codes the core raises itself (reference §1.8). The world raises
# its own codes directly as strings; these constants only avoid typos in the core.
HANDLE_INVALID = "HANDLE_INVALID"
UUID_INVALID = "UUID_INVALID"
SESSION_INVALID = "SESSION_INVALID"
SESSION_AUTHENTICATION_FAILED = "SESSION_AUTHENTICATION_FAILED"
HOST_IS_SLAVE = "HOST_IS_SLAVE"
MESSAGE_METHOD_UNKNOWN = "MESSAGE_METHOD_UNKNOWN"
MESSAGE_PARAMETER_COUNT_MISMATCH = "MESSAGE_PARAMETER_COUNT_MISMATCH"
RBAC_PERMISSION_DENIED = "RBAC_PERMISSION_DENIED"
INTERNAL_ERROR = "INTERNAL_ERROR"
INVALID_VALUE = "INVALID_VALUE"
FIELD_TYPE_ERROR = "FIELD_TYPE_ERROR"
MAP_DUPLICATE_KEY = "MAP_DUPLICATE_KEY"
TASK_CANCELLED = "TASK_CANCELLED"
EVENT_FROM_TOKEN_PARSE_FAILURE = "EVENT_FROM_TOKEN_PARSE_FAILURE"
EVENT_SUBSCRIPTION_PARSE_FAILURE = "EVENT_SUBSCRIPTION_PARSE_FAILURE"
TOO_MANY_PENDING_TASKS = "TOO_MANY_PENDING_TASKS"
FAULT = "Fault"


class XapiError(Exception):
    """An API-level failure: `code` is XAPI's wire string, `args` its parameters."""

    def __init__(self, code: str, *args: object) -> None:
        self.code = code
        self.args_ = [_wire_str(a) for a in args]
        super().__init__(code, *self.args_)

    @property
    def description(self) -> list[str]:
        """The ErrorDescription list: `[code, *args]`, all strings."""
        return [self.code, *self.args_]

    def __str__(self) -> str:
        return f"{self.code} {self.args_}" if self.args_ else self.code


def _wire_str(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def handle_invalid(cls: str, ref: str) -> XapiError:
    """`HANDLE_INVALID [class, ref]`: no object of `cls` has that reference."""
    return XapiError(HANDLE_INVALID, cls, ref)


def uuid_invalid(cls: str, uuid: str) -> XapiError:
    """`UUID_INVALID [class, uuid]`: no object of `cls` has that uuid."""
    return XapiError(UUID_INVALID, cls, uuid)


def session_invalid(ref: object) -> XapiError:
    """`SESSION_INVALID [ref]`: unknown, logged-out or expired session."""
    return XapiError(SESSION_INVALID, ref)


def internal_error(message: str) -> XapiError:
    """`INTERNAL_ERROR [message]`: what XAPI answers for an unexpected exception."""
    return XapiError(INTERNAL_ERROR, message)
