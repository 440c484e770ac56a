"""Reading a pool: objects by uuid, VM records, and XAPI's digit-string ints."""

from __future__ import annotations

from typing import Any

from engine.errors import XapiRejected
from engine.pool_api import PoolAPI

LIVE_STATES = ("Running", "Paused", "Suspended")


def ref_by_uuid(client: PoolAPI, cls: str, uuid: str) -> str | None:
    """The ref of the object with this uuid, or None if there is none."""
    try:
        return str(client.call(f"{cls}.get_by_uuid", uuid))
    except XapiRejected as exc:
        if exc.code in ("UUID_INVALID", "HANDLE_INVALID"):
            return None
        raise


def vm_record(client: PoolAPI, uuid: str) -> dict[str, Any] | None:
    ref = ref_by_uuid(client, "VM", uuid)
    if ref is None:
        return None
    try:
        rec = client.call("VM.get_record", ref)
    except XapiRejected:
        return None
    return {**rec, "ref": ref}


def to_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
