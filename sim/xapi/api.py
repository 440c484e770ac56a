"""The method registry and XAPI's dispatch rules: naming, counts, sessions, RBAC, Async.

A method is registered with its wire name and its parameters after the session:

    @method("VM.start", ["vm", "start_paused", "force"], async_ok=True, perm="vm.start")
    def vm_start(call: Call, vm: str, start_paused: bool, force: bool) -> None: ...

Trailing parameters may have defaults, given as `("name", default)`; XAPI counts only the
parameters without one when it reports `MESSAGE_PARAMETER_COUNT_MISMATCH`. Registering a
name again replaces the earlier method, except that generated generic messages
(`generated=True`) never replace a method the world registered.

`dispatch()` applies the rules of reference §1.2-§1.5 in XAPI's order: `Async.` prefix and
`Class_method` alias, unknown method (after validating a session-looking first argument),
parameter count, `HOST_IS_SLAVE` on pool members, session validity, the "no async mode"
fault, RBAC, then the call itself (in the background for `Async.`). Values are Python
values both ways; `wire.py` turns them into XML-RPC or JSON-RPC.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sim.xapi.errors import (
    FAULT,
    HOST_IS_SLAVE,
    INVALID_VALUE,
    MESSAGE_METHOD_UNKNOWN,
    MESSAGE_PARAMETER_COUNT_MISMATCH,
    RBAC_PERMISSION_DENIED,
    XapiError,
    internal_error,
)

if TYPE_CHECKING:
    from sim.xapi.calllog import CallLog
    from sim.xapi.db import Database
    from sim.xapi.sessions import Session, Sessions
    from sim.xapi.tasks import TaskHandle, Tasks

log = logging.getLogger(__name__)

# Roles from most to least powerful; each holds every permission of the ones after it.
ROLES = [
    "pool-admin",
    "pool-operator",
    "vm-power-admin",
    "vm-admin",
    "vm-operator",
    "read-only",
]
_RANK = {r: i for i, r in enumerate(ROLES)}

# The least powerful role holding a permission, as XAPI's datamodel assigns them, for the
# calls the DR workflow makes. Reads are read-only; other writes default to pool-operator.
PERM_ROLES: dict[str, str] = {
    "vm.start": "vm-operator",
    "vm.start_on": "vm-power-admin",
    "vm.clean_shutdown": "vm-operator",
    "vm.hard_shutdown": "vm-operator",
    "vm.clean_reboot": "vm-operator",
    "vm.hard_reboot": "vm-operator",
    "vm.suspend": "vm-operator",
    "vm.resume": "vm-operator",
    "vm.destroy": "vm-admin",
    # Custom VM setters the datamodel gives to pool-operator (not vm-admin like field setters).
    "vm.set_order": "pool-operator",
    "vm.set_start_delay": "pool-operator",
    "vm.set_shutdown_delay": "pool-operator",
    "vm.set_appliance": "pool-operator",
    "vm.recover": "read-only",  # checks the role of session_to itself (reference §2.6)
    "vm.assert_can_be_recovered": "read-only",
    "vm.get_srs_required_for_recovery": "read-only",
    "vm_appliance.recover": "read-only",
    "vm_appliance.assert_can_be_recovered": "read-only",
    "vm_appliance.get_srs_required_for_recovery": "read-only",
    "vdi.open_database": "pool-operator",
    "vdi.read_database_pool_uuid": "read-only",
    "task.cancel": "read-only",  # own tasks; others' need task.destroy/any (pool-operator)
    "task.destroy": "read-only",
    "task.create": "read-only",
    "event.from": "read-only",
    "event.inject": "read-only",
    "event.get_current_id": "read-only",
    "session.logout": "read-only",
    "session.local_logout": "read-only",
}
_VM_CLASSES = ("vm.", "vbd.", "vif.", "vdi.")
# Characters XML 1.0 cannot carry. xapi refuses any parameter holding one (gen_server.ml,
# `UTF8_XML.is_valid`), so nothing a JSON-RPC client stores can break an XML-RPC reader.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
INVALID_UTF8 = "Invalid UTF-8 string in parameter"


def _assert_xml_safe(value: Any) -> None:
    """`INVALID_VALUE ["Invalid UTF-8 string in parameter", s]` for a string XML cannot hold."""
    if isinstance(value, str):
        if _NOT_XML.search(value):
            # The answer names the string with the offending characters escaped, so that
            # the error itself can travel over both wires.
            shown = _NOT_XML.sub(lambda m: m.group().encode("unicode_escape").decode(), value)
            raise XapiError(INVALID_VALUE, INVALID_UTF8, shown)
    elif isinstance(value, dict):
        for k, v in value.items():
            _assert_xml_safe(k)
            _assert_xml_safe(v)
    elif isinstance(value, list | tuple):
        for v in value:
            _assert_xml_safe(v)


def role_for(perm: str, read: bool) -> str:
    """The least powerful role that holds `perm`."""
    if perm in PERM_ROLES:
        return PERM_ROLES[perm]
    if read:
        return "read-only"
    if perm.startswith(_VM_CLASSES) and ".set_" in perm:
        return "vm-admin"
    return "pool-operator"


def role_allows(role: str, needed: str) -> bool:
    return _RANK.get(role, len(ROLES)) <= _RANK[needed]


def roles_holding(needed: str) -> list[str]:
    return ROLES[: _RANK[needed] + 1]


Param = str | tuple[str, Any]
# Parameter annotations the dispatcher enforces, and how its errors name them.
_WIRE_TYPES: dict[Any, type] = {
    "bool": bool,
    bool: bool,
    "str": str,
    str: str,
    "dict": dict,
    dict: dict,
    "list": list,
    list: list,
}
_WIRE_NAMES = {bool: "bool", str: "string", dict: "map", list: "set"}
_NO_DEFAULT = object()


@dataclass
class MethodSpec:
    """One registered wire method."""

    name: str
    params: list[tuple[str, Any]]  # (name, default or _NO_DEFAULT), after the session
    func: Callable[..., Any]
    async_ok: bool
    perm: str
    role: str
    session: bool
    generated: bool
    # Position (after the session) -> wire type, for parameters annotated `bool`, `str`,
    # `dict` or `list`: xapi's unmarshaller takes only that type there (`Rpc.bool_of_rpc`
    # and friends), so "false" never passes as truthy nor a number as a reference.
    kinds: dict[int, type] = field(default_factory=dict)

    @property
    def required(self) -> int:
        return sum(1 for _, d in self.params if d is _NO_DEFAULT)


REGISTRY: dict[str, MethodSpec] = {}
_ALIASES: dict[str, str] = {}


def method(
    name: str,
    params: list[Param] | None = None,
    *,
    async_ok: bool = False,
    perm: str | None = None,
    role: str | None = None,
    session: bool = True,
    read: bool = False,
    generated: bool = False,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register `func(call, *args)` as wire method `name` (see the module docstring).

    `perm` defaults to the lower-cased name; `role` (the least powerful role allowed)
    defaults to `PERM_ROLES`, else read-only for `read=True` methods, else pool-operator.
    """

    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        existing = REGISTRY.get(name)
        if generated and existing is not None and not existing.generated:
            return func
        p = (perm or name).lower()
        names = [x if isinstance(x, str) else x[0] for x in params or []]
        hints = getattr(func, "__annotations__", {})
        spec = MethodSpec(
            name=name,
            params=[(x, _NO_DEFAULT) if isinstance(x, str) else (x[0], x[1]) for x in params or []],
            func=func,
            async_ok=async_ok,
            perm=p,
            role=role or role_for(p, read),
            session=session,
            generated=generated,
            kinds={
                i: _WIRE_TYPES[h] for i, n in enumerate(names) if (h := hints.get(n)) in _WIRE_TYPES
            },
        )
        REGISTRY[name] = spec
        if "." in name:
            _ALIASES[name.replace(".", "_", 1)] = name
        return func

    return register


def lookup(name: str) -> MethodSpec | None:
    """The method for a wire name or its `Class_method` alias."""
    spec = REGISTRY.get(name)
    if spec is None and name in _ALIASES:
        spec = REGISTRY.get(_ALIASES[name])
    return spec


def wire_names() -> list[str]:
    """Every synchronous wire name (what `system.listMethods` returns)."""
    return sorted(REGISTRY)


class RealClock:
    """Wall-clock time, for pools that bring no clock of their own."""

    def now(self) -> datetime:
        return datetime.now(UTC)

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@dataclass
class Call:
    """What a method gets besides its arguments (see docs/contracts/sim-xapi.md)."""

    db: Database
    pool: Any
    session: str | None
    user: str | None
    role: str | None
    sessions: Sessions
    dispatcher: Dispatcher
    host: str
    method: str
    task: TaskHandle | None = None

    @property
    def clock(self) -> Any:
        return getattr(self.pool, "clock", None) or self.dispatcher.clock

    @property
    def session_obj(self) -> Session | None:
        return self.sessions.find(self.session) if self.session else None

    @property
    def pool_db(self) -> Database:
        """The pool's own database (differs from `db` for a foreign-database session)."""
        return self.pool.db


class Dispatcher:
    """Applies XAPI's dispatch rules to one call arriving on one host of one pool."""

    def __init__(
        self,
        sessions: Sessions,
        tasks: Tasks,
        call_log: CallLog,
        *,
        auth_failure_delay: float = 5.0,
        clock: Any = None,
    ) -> None:
        self.sessions = sessions
        self.tasks = tasks
        self.call_log = call_log
        self.auth_failure_delay = auth_failure_delay
        self.clock = clock or RealClock()

    def dispatch(self, pool: Any, address: str, name: str, params: list[Any]) -> Any:
        """Run one wire call; -> its Python result, or raises `XapiError`. Logged."""
        started = time.time()
        outcome = "Success"
        user: str | None = None
        result: Any = None
        try:
            result, user = self._dispatch(pool, address, name, params)
            return result
        except XapiError as e:
            outcome = e.code
            if user is None:
                user = self._user_of(name, params)
            raise
        except Exception as e:  # a bug in a method must not kill the listener
            log.exception("internal error in %s", name)
            outcome = "INTERNAL_ERROR"
            raise internal_error(f"{type(e).__name__}: {e}") from e
        finally:
            seq = self.call_log.record(started, address, user, name, params, outcome)
            if outcome == "Success" and name.startswith("Async."):
                self.tasks.on_finish(
                    result, lambda o, s=seq: self.call_log.annotate(s, task_outcome=o)
                )
                self.call_log.annotate(seq, task=result)

    def _user_of(self, name: str, params: list[Any]) -> str | None:
        if name.endswith("login_with_password") and params:
            return str(params[0])
        if params and isinstance(params[0], str):
            s = self.sessions.find(params[0])
            if s is not None:
                return s.user
        return None

    def _dispatch(
        self, pool: Any, address: str, name: str, params: list[Any]
    ) -> tuple[Any, str | None]:
        # xapi strips the `Async.` prefix before matching the name, and its errors name the
        # call as matched (gen_server.ml: `sync_ty_and_maybe_remove_prefix`), so the
        # unknown-method, count-mismatch and no-async errors carry the name without it.
        _assert_xml_safe(params)
        is_async = name.startswith("Async.")
        base = name[len("Async.") :] if is_async else name
        spec = lookup(base)
        is_member = address != pool.coordinator_address
        if spec is None:
            # An unknown call's first argument is taken as a session and checked first
            # (xapi tries a host extension with it before giving up).
            if params and isinstance(params[0], str):
                if is_member:
                    raise XapiError(HOST_IS_SLAVE, pool.coordinator_address)
                self.sessions.validate(params[0], pool)
            raise XapiError(MESSAGE_METHOD_UNKNOWN, base)
        received = len(params) - (1 if spec.session else 0)
        if received < spec.required or received > len(spec.params):
            raise XapiError(MESSAGE_PARAMETER_COUNT_MISMATCH, base, spec.required, max(received, 0))
        given = params[1:] if spec.session else params
        for i, kind in spec.kinds.items():
            if i < len(given) and not isinstance(given[i], kind):
                # What xapi answers when an argument does not unmarshal (exnHelper.ml).
                raise internal_error(f"Expected {_WIRE_NAMES[kind]}, got '{given[i]!r}'")
        if is_member and spec.name != "system.listMethods":
            raise XapiError(HOST_IS_SLAVE, pool.coordinator_address)
        args = list(params[1:] if spec.session else params)
        args += [d for _, d in spec.params[len(args) :]]
        if not spec.session:
            call = Call(
                db=pool.db,
                pool=pool,
                session=None,
                user=None,
                role=None,
                sessions=self.sessions,
                dispatcher=self,
                host=address,
                method=spec.name,
            )
            if is_async:
                raise XapiError(FAULT, f"No async mode for this operation (rpc: {base})")
            return spec.func(call, *args), self._user_of(name, params)
        sess = self.sessions.validate(params[0], pool)
        if is_async and not spec.async_ok:
            raise XapiError(FAULT, f"No async mode for this operation (rpc: {base})")
        if not role_allows(sess.role, spec.role):
            raise XapiError(
                RBAC_PERMISSION_DENIED,
                spec.perm,
                "No permission in user session. (Roles with this permission: "
                + ", ".join(roles_holding(spec.role))
                + ")",
            )
        call = Call(
            db=sess.db,
            pool=pool,
            session=sess.ref,
            user=sess.user,
            role=sess.role,
            sessions=self.sessions,
            dispatcher=self,
            host=address,
            method=spec.name,
        )
        if is_async:
            return self.tasks.start(call, spec, args, name), sess.user
        return spec.func(call, *args), sess.user


@method("system.listMethods", [], session=False)
def list_methods(call: Call) -> list[str]:
    """Every synchronous wire name the simulator serves."""
    return wire_names()
