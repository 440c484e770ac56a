"""`event.from`, `event.inject` and `event.get_current_id` (reference §1.10).

`event.from(classes, token, timeout)` blocks until an object of a subscribed class changed
after the token's generation, or the timeout passes, and returns `{"events", "valid_ref_counts",
"token"}`. Changes are read from the database's stamps, so several writes to one object
give one event (`add` if it was created after the token, else `mod`), and an object created
and deleted inside the window gives none. `del` events carry no `snapshot`. Once a change
is seen the call waits ~50 ms more to gather the rest of a burst (not for task-only
subscriptions, as XAPI). Tokens are `"%020d,%020d"` (generation, message generation); `""`
means "from the beginning": an `add` for every existing object.

The token returned is XAPI's (`xapi_event.ml`, `from_inner` / `collect_events`): the newest
change generation among the objects the subscription matched, or the token given when
nothing matched; not the database's generation. So `event.from(["pool"], "", 0)` returns the
generation at which the pool object last changed, and `event.inject` is how "now" is taken:
it touches the object and returns the token just before that touch.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sim.xapi import schema
from sim.xapi.api import Call, method
from sim.xapi.errors import (
    EVENT_FROM_TOKEN_PARSE_FAILURE,
    EVENT_SUBSCRIPTION_PARSE_FAILURE,
    XapiError,
    handle_invalid,
    session_invalid,
)
from sim.xapi.wire import I4, Record

COALESCE_SECONDS = 0.05
MAX_TIMEOUT = 24 * 3600.0
# A waiting call re-checks its session at least this often (logout also wakes it at once).
_RECHECK_SECONDS = 1.0
_COPY_SNAPSHOTS_UP_TO = 1000
_TOKEN = re.compile(r"^\s*(\d+)(?:,(\d+))?\s*$")


def make_token(generation: int, message_generation: int = 0) -> str:
    return f"{generation:020d},{message_generation:020d}"


def parse_token(token: Any) -> int:
    """The database generation in a token; -1 for ""; else EVENT_FROM_TOKEN_PARSE_FAILURE."""
    if token == "" or token is None:
        return -1
    m = _TOKEN.match(str(token))
    if not m:
        raise XapiError(EVENT_FROM_TOKEN_PARSE_FAILURE, token)
    return int(m.group(1))


def parse_subscription(classes: Any) -> tuple[set[str] | None, dict[str, set[str]]]:
    """(whole classes or None for "*", {class: refs} for `class/ref` entries)."""
    if not isinstance(classes, list):
        raise XapiError(EVENT_SUBSCRIPTION_PARSE_FAILURE, str(classes))
    whole: set[str] = set()
    objects: dict[str, set[str]] = {}
    for entry in classes:
        text = str(entry)
        if text == "*":
            return None, {}
        name, _, ref = text.partition("/")
        cls = schema.BY_LOWER.get(name.lower())
        if cls is None or not schema.spec(cls).in_db:
            raise XapiError(EVENT_SUBSCRIPTION_PARSE_FAILURE, text)
        if ref:
            objects.setdefault(cls, set()).add(ref)
        else:
            whole.add(cls)
    return whole, objects


def _timeout_seconds(timeout: Any) -> float:
    try:
        t = float(timeout)
    except (TypeError, ValueError):
        raise XapiError("FIELD_TYPE_ERROR", "timeout") from None
    return min(max(t, 0.0), MAX_TIMEOUT)


@method("event.from", ["classes", "token", ("timeout", MAX_TIMEOUT)], read=True)
def event_from(call: Call, classes: Any, token: Any, timeout: Any) -> dict[str, Any]:
    """Changes of the subscribed classes after `token` (see the module docstring)."""
    whole, objects = parse_subscription(classes)
    since = parse_token(token)
    wait_for = _timeout_seconds(timeout)
    db = call.db
    wanted = None if whole is None else whole | set(objects)
    task_only = wanted == {"task"}
    deadline = time.monotonic() + wait_for

    def pick() -> tuple[list[tuple[str, str, str, int]], list[tuple[str, str, int]]]:
        live, deleted = db.changes_since(since, wanted)
        if objects:
            live = [c for c in live if _subscribed(c[0], c[1], whole, objects)]
            deleted = [d for d in deleted if _subscribed(d[0], d[1], whole, objects)]
        return live, deleted

    with db.changed:
        while True:
            if call.session and not call.sessions.is_live(call.session):
                raise session_invalid(call.session)
            live, deleted = pick()
            if live or deleted:
                if not task_only:
                    end = time.monotonic() + COALESCE_SECONDS
                    while (left := end - time.monotonic()) > 0:
                        db.changed.wait(left)
                    live, deleted = pick()
                break
            left = deadline - time.monotonic()
            if left <= 0:
                break
            db.changed.wait(min(left, _RECHECK_SECONDS))
        events: list[dict[str, Any]] = []
        # Small batches carry copies taken now, so an object deleted before the answer is
        # written still has its snapshot; big ones (a first call on a large pool) are served
        # from the record cache instead.
        copy_now = len(live) <= _COPY_SNAPSHOTS_UP_TO
        for cls, ref, op, mtime in sorted(live, key=lambda c: c[3]):
            snapshot: Any = db.get(cls, ref) if copy_now else Record(db, cls, ref)
            events.append(
                {
                    "id": str(mtime),
                    "timestamp": "0.0",
                    "class": cls.lower(),
                    "operation": op,
                    "ref": ref,
                    "snapshot": snapshot,
                }
            )
        for cls, ref, gen in deleted:
            events.append(
                {
                    "id": str(gen),
                    "timestamp": "0.0",
                    "class": cls.lower(),
                    "operation": "del",
                    "ref": ref,
                }
            )
        counted = (
            wanted if wanted is not None else [c for c, s in schema.CLASSES.items() if s.in_db]
        )
        counts = {c.lower(): I4(db.count(c)) for c in sorted(counted)}
        last = max([since, 0, *(c[3] for c in live), *(d[2] for d in deleted)])
        new_token = make_token(last, db.message_generation)
    return {"events": events, "valid_ref_counts": counts, "token": new_token}


def _subscribed(cls: str, ref: str, whole: set[str] | None, objects: dict[str, set[str]]) -> bool:
    return whole is None or cls in whole or ref in objects.get(cls, ())


@method("event.get_current_id", [], read=True)
def get_current_id(call: Call) -> int:
    """The current database generation."""
    return call.db.generation


@method("event.inject", ["class", "ref"], read=True)
def inject(call: Call, cls: str, ref: str) -> str:
    """A `mod` event for an object without changing it; -> the token just before it, so an
    `event.from` from that token returns the touch and everything after (xapi_event.ml)."""
    name = schema.BY_LOWER.get(str(cls).lower())
    if name is None or not schema.spec(name).in_db:
        raise handle_invalid(str(cls), str(ref))
    gen = call.db.touch(name, str(ref))
    return make_token(gen - 1, 0)
