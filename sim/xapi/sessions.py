"""Sessions: login, logout, validity, roles and expiry (reference §1.5).

Sessions live outside the databases (a pool database copied onto a metadata VDI must not
carry them) in one `Sessions` registry per running simulator. A session belongs to the pool
it logged in to and is bound to a database: the pool's own, or a foreign one for the
read-only sessions `VDI.open_database` returns (the world creates those with `create()`).
A session used on another pool, logged out, or expired gives `SESSION_INVALID [ref]`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sim.xapi import schema
from sim.xapi.api import REGISTRY, Call, RealClock, method, role_allows, role_for
from sim.xapi.db import new_ref, new_uuid
from sim.xapi.errors import SESSION_AUTHENTICATION_FAILED, XapiError, session_invalid
from sim.xapi.schema import NULL_REF

if TYPE_CHECKING:
    from sim.xapi.db import Database

AUTH_FAILURE_MESSAGE = "Authentication failure"
# XAPI's session housekeeping (xapi_globs.ml): idle sessions go after 24 h; root without an
# originator keeps at most 400 sessions, root 500 per originator, any other user 500 (oldest
# go first).
IDLE_SECONDS = 24 * 3600
MAX_PER_ORIGINATOR = 500
MAX_ROOT_ANONYMOUS = 400
FOREIGN_USER = "disaster-recovery"


@dataclass
class Session:
    """A logged-in session; `db` is the database every call made with it acts on."""

    ref: str
    uuid: str
    user: str
    role: str
    pool: Any
    db: Database
    originator: str = ""
    created: datetime | None = None
    last_active: datetime | None = None
    parent: str = NULL_REF
    other_config: dict[str, str] = field(default_factory=dict)

    @property
    def foreign(self) -> bool:
        return self.db is not self.pool.db


def _cap_group(user: str, originator: str) -> tuple[str, str]:
    """The group whose session cap a session counts against (see `Sessions.housekeep`)."""
    if user in ("", "root"):
        return ("originator", originator) if originator else ("anonymous", "")
    return ("user", user)


class Sessions:
    """Every live session of a simulator, keyed by ref."""

    def __init__(self, clock: Any = None) -> None:
        self.clock = clock or RealClock()
        self._lock = threading.Lock()
        self._by_ref: dict[str, Session] = {}
        # Called with the Session after logout or expiry (the world drops foreign databases).
        self.on_end: list[Callable[[Session], None]] = []

    def create(
        self,
        pool: Any,
        user: str,
        role: str,
        *,
        db: Database | None = None,
        originator: str = "",
        parent: str = NULL_REF,
    ) -> Session:
        """A new session of `user` with `role` on `pool`, bound to `db` (default pool.db)."""
        now = self._now(pool)
        s = Session(
            ref=new_ref(),
            uuid=new_uuid(),
            user=user,
            role=role,
            pool=pool,
            db=db if db is not None else pool.db,
            originator=originator,
            created=now,
            last_active=now,
            parent=parent,
        )
        with self._lock:
            self._by_ref[s.ref] = s
        return s

    def open_foreign(self, db: Database, *, pool: Any, parent: str = NULL_REF) -> str:
        """A read-only session of user `disaster-recovery` bound to a foreign database.

        It belongs to `pool` (the pool whose host answered `VDI.open_database`), so it is
        validated, looked up and logged out like any session of that pool; -> its ref.
        """
        return self.create(pool, FOREIGN_USER, "read-only", db=db, parent=parent).ref

    def lookup(self, ref: object) -> Session:
        """The live session (for `session_to` arguments), or `SESSION_INVALID [ref]`."""
        s = self.find(ref)
        if s is None:
            raise session_invalid(ref)
        return s

    def has_perm(self, ref_or_role: str, perm: str) -> bool:
        """Whether a session (by ref) or a role holds permission `perm`."""
        s = self.find(ref_or_role)
        role = s.role if s is not None else ref_or_role
        spec = next((m for m in REGISTRY.values() if m.perm == perm.lower()), None)
        needed = spec.role if spec is not None else role_for(perm.lower(), read=False)
        return role_allows(role, needed)

    def expire_all(self, pool: Any = None) -> int:
        """End every session (of one pool if given): the `expire_sessions` fault."""
        return self.expire(pool=pool)

    def find(self, ref: object) -> Session | None:
        """The live session with that ref, or None."""
        if not isinstance(ref, str):
            return None
        return self._by_ref.get(ref)

    def validate(self, ref: object, pool: Any) -> Session:
        """The session if it is live and belongs to `pool`; else `SESSION_INVALID [ref]`."""
        s = self.find(ref)
        if s is None or s.pool is not pool:
            raise session_invalid(ref)
        s.last_active = self._now(pool)
        return s

    def _now(self, pool: Any) -> datetime:
        clock = getattr(pool, "clock", None) or self.clock
        return clock.now()

    def housekeep(self, pool: Any, user: str, originator: str) -> int:
        """XAPI's session GC before a login: idle sessions, then the per-group caps; -> ended.

        The caps group sessions as xapi's `db_gc_util.timeout_sessions` does: root (or
        nameless) sessions without an originator share one cap of 400; root sessions with
        an originator are capped at 500 per originator; any other user's sessions at 500
        per user name, whatever their originators.
        """
        now = self._now(pool)
        key = _cap_group(user, originator)
        cap = MAX_ROOT_ANONYMOUS if key == ("anonymous", "") else MAX_PER_ORIGINATOR
        with self._lock:
            idle = [
                s.ref
                for s in self._by_ref.values()
                if s.pool is pool
                and s.last_active is not None
                and (now - s.last_active).total_seconds() > IDLE_SECONDS
            ]
            same = sorted(
                (
                    s
                    for s in self._by_ref.values()
                    if s.pool is pool
                    and _cap_group(s.user, s.originator) == key
                    and s.ref not in idle
                ),
                key=lambda s: s.last_active or now,
            )
            over = [s.ref for s in same[: max(0, len(same) - cap + 1)]]
        return sum(self.end(r) for r in idle + over)

    def is_live(self, ref: str) -> bool:
        return ref in self._by_ref

    def end(self, ref: str) -> bool:
        """Log a session out; -> whether it was live. Wakes its event.from waiters."""
        with self._lock:
            s = self._by_ref.pop(ref, None)
        if s is None:
            return False
        for db in {id(s.db): s.db, id(s.pool.db): s.pool.db}.values():
            with db.changed:
                db.changed.notify_all()
        for hook in list(self.on_end):
            hook(s)
        return True

    def expire(self, *, ref: str | None = None, pool: Any = None, user: str | None = None) -> int:
        """End sessions on demand (all, one ref, one pool's, or one user's); -> how many."""
        with self._lock:
            victims = [
                s.ref
                for s in self._by_ref.values()
                if (ref is None or s.ref == ref)
                and (pool is None or s.pool is pool)
                and (user is None or s.user == user)
            ]
        return sum(self.end(r) for r in victims)

    def live(self) -> list[Session]:
        with self._lock:
            return list(self._by_ref.values())

    def permissions(self, s: Session) -> list[str]:
        """The session's `rbac_permissions` as xapi fills them at login (xapi_session.ml,
        `get_permissions`): empty for the local superuser, who is allowed everything through
        `is_local_superuser`; otherwise the names of the subject's roles followed by the names
        of every permission those roles hold."""
        if s.user == "root" and s.role == "pool-admin":
            return []
        held = sorted({m.perm for m in REGISTRY.values() if role_allows(s.role, m.role)})
        return [s.role, *held]

    def record(self, s: Session) -> dict[str, Any]:
        """The session's API record (the fields of schema `session`)."""
        host = NULL_REF
        hosts = s.pool.db.where("host", address=s.pool.coordinator_address)
        if hosts:
            host = hosts[0]
        return {
            "uuid": s.uuid,
            "this_host": host,
            "this_user": NULL_REF,
            "last_active": s.last_active,
            "pool": False,
            "other_config": dict(s.other_config),
            "is_local_superuser": s.user == "root" and s.role == "pool-admin",
            "subject": NULL_REF,
            "validation_time": s.created,
            "auth_user_sid": "",
            "auth_user_name": s.user,
            "rbac_permissions": self.permissions(s),
            "tasks": [],
            "parent": s.parent,
            "originator": s.originator,
            "client_certificate": False,
        }


# ------------------------------------------------------------------ wire methods


@method(
    "session.login_with_password",
    ["uname", "pwd", ("version", "1.1"), ("originator", "")],
    session=False,
)
def login_with_password(call: Call, uname: str, pwd: str, version: str, originator: str) -> str:
    """Log in with a user of the pool; a wrong password answers after the auth delay."""
    users = getattr(call.pool, "users", {}) or {}
    entry = users.get(uname) if isinstance(uname, str) else None
    if entry is None or entry[0] != pwd:
        delay = call.dispatcher.auth_failure_delay
        if delay > 0:
            time.sleep(delay)  # XAPI's own brake on password guessing; real time on purpose
        raise XapiError(SESSION_AUTHENTICATION_FAILED, uname, AUTH_FAILURE_MESSAGE)
    call.sessions.housekeep(call.pool, uname, str(originator or ""))
    s = call.sessions.create(call.pool, uname, entry[1], originator=str(originator or ""))
    return s.ref


@method("session.logout", [])
def logout(call: Call) -> str:
    """End the calling session."""
    call.sessions.end(call.session or "")
    return ""


@method("session.local_logout", [])
def local_logout(call: Call) -> str:
    call.sessions.end(call.session or "")
    return ""


def _session_of(call: Call, ref: object) -> Session:
    s = call.sessions.find(ref)
    if s is None or s.pool is not call.pool:
        raise XapiError("HANDLE_INVALID", "session", ref)
    return s


@method("session.get_record", ["self"], read=True)
def session_get_record(call: Call, ref: str) -> dict[str, Any]:
    return call.sessions.record(_session_of(call, ref))


@method("session.get_by_uuid", ["uuid"], read=True)
def session_get_by_uuid(call: Call, uuid: str) -> str:
    for s in call.sessions.live():
        if s.uuid == uuid and s.pool is call.pool:
            return s.ref
    raise XapiError("UUID_INVALID", "session", uuid)


def _register_session_getters() -> None:
    for fname in schema.spec("session").fields:

        def getter(call: Call, ref: str, _f: str = fname) -> Any:
            return call.sessions.record(_session_of(call, ref))[_f]

        method(f"session.get_{fname}", ["self"], read=True)(getter)


_register_session_getters()
