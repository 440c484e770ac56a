"""HA on the DR pool: off for a test failover, back on as it was afterwards (reference §5.2.6 a)."""

from __future__ import annotations

from typing import Any

from engine import stepkeys as keys
from engine.errors import XapiError, XapiRejected
from engine.kinds.context import RunContext
from engine.kinds.lookups import ref_by_uuid
from engine.pool_api import PoolAPI


def disable_ha(ctx: RunContext, client: PoolAPI) -> None:
    """Turn HA off, journaling how it was configured so `restore_ha` can turn it back on."""

    def act(_step: int) -> dict[str, Any]:
        pool = next(iter(client.call("pool.get_all")))
        rec = client.call("pool.get_record", pool)
        if not rec.get("ha_enabled"):
            return {"was_enabled": False}
        srs = []
        for item in rec.get("ha_statefiles") or []:
            if str(item).startswith("OpaqueRef:"):
                try:
                    srs.append(client.call("SR.get_uuid", client.call("VDI.get_SR", item)))
                except XapiRejected:
                    continue
            else:
                srs.append(str(item))
        client.run("pool.disable_ha", timeout=ctx.task_timeout)
        return {
            "was_enabled": True,
            "heartbeat_srs": srs,
            "configuration": dict(rec.get("ha_configuration") or {}),
            "failures_to_tolerate": str(rec.get("ha_host_failures_to_tolerate", "0")),
        }

    ctx.journal.effect(keys.HA_DISABLE, "disable HA", ctx.plan.dest_pool, act)


def restore_ha(ctx: RunContext, client: PoolAPI) -> None:
    """Turn HA back on as it was, if this run turned it off."""
    before = ctx.journal.result(keys.HA_DISABLE)
    if not before or not before.get("was_enabled"):
        return

    def act(_step: int) -> dict[str, Any]:
        srs = [r for r in (ref_by_uuid(client, "SR", u) for u in before["heartbeat_srs"]) if r]
        client.run("pool.enable_ha", srs, before["configuration"], timeout=ctx.task_timeout)
        try:
            pool = next(iter(client.call("pool.get_all")))
            client.call(
                "pool.set_ha_host_failures_to_tolerate", pool, before["failures_to_tolerate"]
            )
        except XapiError as exc:
            ctx.notes.append(f"HA is back on, but failures to tolerate not restored: {exc}")
        return {"enabled": True}

    ctx.journal.effect(keys.HA_RESTORE, "re-enable HA", ctx.plan.dest_pool, act)
