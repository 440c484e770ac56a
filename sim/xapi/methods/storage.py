"""Wire methods of SRs and PBDs: probe, introduce, forget, scan; PBD create, plug, unplug,
destroy (the behaviour is in `sim/xapi/storage.py`)."""

from __future__ import annotations

from sim.xapi import storage
from sim.xapi.api import Call, method
from sim.xapi.errors import XapiError
from sim.xapi.schema import NULL_REF
from sim.xapi.sm import host_of_ref


@method("SR.probe", ["host", "device_config", "type", "sm_config"], async_ok=True)
def sr_probe(call: Call, host: str, device_config: dict, type: str, sm_config: dict) -> str:
    h = host_of_ref(call.pool, call.db.handle("host", host))
    if not (h.up and call.pool.site.up):
        raise XapiError("HOST_OFFLINE", host)
    call.pool.world.stall(call)
    xml, _ = storage.probe(
        call.pool, h.address, dict(device_config or {}), type, dict(sm_config or {})
    )
    return xml


@method(
    "SR.introduce",
    [
        "uuid",
        "name_label",
        "name_description",
        "type",
        "content_type",
        ("shared", False),
        ("sm_config", {}),
    ],
    async_ok=True,
)
def sr_introduce(
    call: Call,
    uuid: str,
    name_label: str,
    name_description: str,
    type: str,
    content_type: str,
    shared: bool,
    sm_config: dict,
) -> str:
    return storage.introduce(
        call.pool, uuid, name_label, name_description, type, content_type, shared, sm_config
    )


@method("SR.forget", ["sr"], async_ok=True)
def sr_forget(call: Call, sr: str) -> str:
    storage.forget(call.pool, call.db.handle("SR", sr))
    return ""


@method("SR.scan", ["sr"], async_ok=True)
def sr_scan(call: Call, sr: str) -> str:
    storage.scan_attached(call.pool, call.db.handle("SR", sr))
    return ""


@method("PBD.create", ["args"], async_ok=True)
def pbd_create(call: Call, args: dict) -> str:
    """PBD.create({host, SR, device_config, other_config})."""
    if not isinstance(args, dict):
        raise XapiError("FIELD_TYPE_ERROR", "args")
    host = call.db.handle("host", args.get("host", NULL_REF))
    sr = call.db.handle("SR", args.get("SR", NULL_REF))
    device_config = {str(k): str(v) for k, v in (args.get("device_config") or {}).items()}
    other_config = {str(k): str(v) for k, v in (args.get("other_config") or {}).items()}
    return storage.create_pbd(call.pool, host, sr, device_config, other_config)


@method("PBD.plug", ["self"], async_ok=True)
def pbd_plug(call: Call, self: str) -> str:
    call.db.handle("PBD", self)
    call.pool.world.stall(call)
    storage.plug(call.pool, call.db.handle("PBD", self))
    return ""


@method("PBD.unplug", ["self"], async_ok=True)
def pbd_unplug(call: Call, self: str) -> str:
    storage.unplug(call.pool, call.db.handle("PBD", self))
    return ""


@method("PBD.destroy", ["self"], async_ok=True)
def pbd_destroy(call: Call, self: str) -> str:
    storage.destroy_pbd(call.pool, call.db.handle("PBD", self))
    return ""
