"""Saving and resuming a world (`drbot sim serve --state-dir DIR`).

`state.json` holds the scenario, every pool database (`Database.to_json`), the hosts and
sites that are up or down, every volume's content (SR, VDIs, redo logs), the replication
links with their in-flight writes and wall-clock times, the caches XAPI keeps in memory
(foreign metadata VDIs, redo-log targets), and the injected faults. It is written
atomically (temporary file, then rename), so a crash mid-save leaves the previous one.
"""

from __future__ import annotations

import json
import os
from collections import deque
from datetime import datetime
from pathlib import Path
from typing import Any

from sim.xapi import reactions
from sim.xapi.arrays import (
    RedoLog,
    ReplicationLink,
    StorageArray,
    VdiOnDisk,
    Volume,
    VolumeContent,
)
from sim.xapi.clock import SimClock
from sim.xapi.db import Database
from sim.xapi.releases import Release
from sim.xapi.scenario import Scenario
from sim.xapi.world import Host, Pool, Site, World

STATE_FILE = "state.json"
FORMAT = 1


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"$dt": value.isoformat()}
    if isinstance(value, VdiOnDisk):
        return {"$vdi": value.to_json()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if "$dt" in value and len(value) == 1:
            return datetime.fromisoformat(value["$dt"])
        if "$vdi" in value and len(value) == 1:
            return VdiOnDisk(**value["$vdi"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def _content(c: VolumeContent) -> dict[str, Any]:
    return {
        "sr_uuid": c.sr_uuid,
        "sr_name": c.sr_name,
        "sr_description": c.sr_description,
        "sr_type": c.sr_type,
        "size": c.size,
        "vdis": [v.to_json() for v in c.vdis.values()],
        "redo_logs": {
            k: {"generation": log.generation, "tables": _encode(log.tables)}
            for k, log in c.redo_logs.items()
        },
    }


def _content_from(d: dict[str, Any]) -> VolumeContent:
    return VolumeContent(
        d["sr_uuid"],
        d["sr_name"],
        d["sr_description"],
        d["sr_type"],
        d["size"],
        {v["uuid"]: VdiOnDisk(**v) for v in d["vdis"]},
        {
            k: RedoLog(log["generation"], _decode(log["tables"]))
            for k, log in d["redo_logs"].items()
        },
    )


def _volume(v: Volume) -> dict[str, Any]:
    return {
        "id": v.id,
        "site": v.site,
        "kind": v.kind,
        "scsi_id": v.scsi_id,
        "serverpath": v.serverpath,
        "device": v.device,
        "host_address": v.host_address,
        "role": v.role,
        "failed": v.failed,
        "content": _content(v.content),
    }


def _volume_from(d: dict[str, Any]) -> Volume:
    return Volume(
        id=d["id"],
        site=d["site"],
        kind=d["kind"],
        content=_content_from(d["content"]),
        scsi_id=d["scsi_id"],
        serverpath=d["serverpath"],
        device=d["device"],
        host_address=d["host_address"],
        role=d["role"],
        failed=d["failed"],
    )


def dump(world: World) -> dict[str, Any]:
    """The whole world as JSON-ready data (flushes the redo logs first)."""
    # Pool databases first, each under its own lock: a database write takes the storage
    # lock inside the database lock (the redo log), so never hold them the other way round.
    pools = {pool.name: pool.db.to_json() for pool in world.pools.values()}
    storage = world.storage
    with world.lock, storage.lock:
        return {
            "format": FORMAT,
            "scenario": world.scenario.model_dump(mode="json"),
            "speed": world.clock.speed,
            "sites": {s.name: s.up for s in world.sites.values()},
            "arrays": {
                site: {
                    "target": a.target,
                    "iqn": a.iqn,
                    "port": a.port,
                    "chap_user": a.chap_user,
                    "chap_password": a.chap_password,
                    "volumes": [_volume(v) for v in a.volumes.values()],
                }
                for site, a in storage.arrays.items()
            },
            "local": [_volume(v) for v in storage.local.values()],
            "links": [
                {
                    "id": link.id,
                    "source": link.source.id,
                    "mirror": link.mirror.id,
                    "lag_seconds": link.lag_seconds,
                    "direction": link.direction,
                    "broken": link.broken,
                    "last_shipped_at": link.last_shipped_at,
                    "test_copy": link.test_copy.id if link.test_copy else None,
                    "pending": [[t, _encode(list(w))] for t, w in link.pending],
                }
                for link in storage.links.values()
            ],
            "pools": {
                pool.name: {
                    "site": pool.site.name,
                    "db": pools[pool.name],
                    "hosts": [
                        {
                            "name": h.name,
                            "address": h.address,
                            "memory_total": h.memory_total,
                            "cpus": h.cpus,
                            "workers": h.workers,
                            "ref": h.ref,
                            "metrics_ref": h.metrics_ref,
                            "dom0_ref": h.dom0_ref,
                            "up": h.up,
                        }
                        for h in pool.hosts
                    ],
                    "users": {u: list(v) for u, v in pool.users.items()},
                    "redo_targets": {k: v.id for k, v in pool.redo.targets.items()},
                    "foreign_metadata": {k: list(v) for k, v in pool.foreign_metadata.items()},
                }
                for pool in world.pools.values()
            },
            "faults": world.faults.to_json(),
        }


def load(data: dict[str, Any], *, speed: float | None = None) -> World:
    """A world from `dump` output (`speed` overrides the saved one)."""
    if data.get("format") != FORMAT:
        raise ValueError(f"state format {data.get('format')!r} is not {FORMAT}")
    scenario = Scenario.model_validate(data["scenario"])
    clock = SimClock(speed=speed or data["speed"], latency=scenario.latency.model())
    world = World(scenario, clock)
    reactions.install(world)
    storage = world.storage
    for name, up in data["sites"].items():
        world.sites[name] = Site(name, up)
    volumes: dict[str, Volume] = {}
    for site, a in data["arrays"].items():
        array = StorageArray(
            site,
            a["target"],
            a["iqn"],
            a["port"],
            chap_user=a.get("chap_user", ""),
            chap_password=a.get("chap_password", ""),
        )
        for v in a["volumes"]:
            vol = _volume_from(v)
            array.volumes[vol.id] = vol
            volumes[vol.id] = vol
        storage.arrays[site] = array
    for v in data["local"]:
        vol = _volume_from(v)
        storage.local[vol.id] = vol
        volumes[vol.id] = vol
    for d in data["links"]:
        link = ReplicationLink(
            d["id"],
            volumes[d["source"]],
            volumes[d["mirror"]],
            d["lag_seconds"],
            direction=d["direction"],
            broken=d["broken"],
            pending=deque((t, tuple(_decode(w))) for t, w in d["pending"]),
            last_shipped_at=d["last_shipped_at"],
            test_copy=volumes.get(d["test_copy"]) if d["test_copy"] else None,
        )
        linked: tuple[Volume | None, ...] = (link.source, link.mirror, link.test_copy)
        for end in linked:
            if end is not None:
                end.link = link
        storage.links[link.id] = link
    releases = {p.name: Release(p.xapi_version) for s in scenario.sites for p in s.pools}
    for name, p in data["pools"].items():
        site = world.sites[p["site"]]
        pool = Pool(world, site, name, Database.from_json(p["db"]), releases.get(name))
        for h in p["hosts"]:
            host = Host(
                name=h["name"],
                address=h["address"],
                pool_name=name,
                memory_total=h["memory_total"],
                cpus=h["cpus"],
                workers=h["workers"],
                ref=h["ref"],
                metrics_ref=h["metrics_ref"],
                dom0_ref=h["dom0_ref"],
                up=h["up"],
            )
            pool.hosts.append(host)
        pool.users = {u: (v[0], v[1]) for u, v in p["users"].items()}
        pool.redo.targets = {k: volumes[v] for k, v in p["redo_targets"].items()}
        pool.redo.generation = pool.db.generation
        if pool.redo.targets:
            pool.redo._hook()
        pool.foreign_metadata = {k: (v[0], int(v[1])) for k, v in p["foreign_metadata"].items()}
        site.pools.append(pool)
        world.pools[name] = pool
    faults = data.get("faults", {})
    world.faults.vm_start = list(faults.get("vm_start", []))
    world.faults.stalls = list(faults.get("task_stall", []))
    world.faults.failed_luns = list(faults.get("lun", []))
    return world


def save(world: World, state_dir: Path) -> Path:
    """Write `state.json` atomically into `state_dir`; -> its path."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / STATE_FILE
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(dump(world), f, separators=(",", ":"))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    return path


def saved(state_dir: Path) -> bool:
    return (state_dir / STATE_FILE).is_file()


def restore(state_dir: Path, *, speed: float | None = None) -> World:
    with (state_dir / STATE_FILE).open(encoding="utf-8") as f:
        return load(json.load(f), speed=speed)
