"""The control API: HTTP + JSON on its own loopback port (docs/contracts/sim-xapi.md).

It lets tests, the engine's sim storage adapter and people (through `drbot sim ctl`) do
what happens outside XAPI: fail and restore sites and hosts, drive the storage array's
replication (promote, reverse, sync, present or remove test copies), inject faults, and
read the call log. Errors are `{"error": "..."}` with a 4xx status and a message that says
what to do; a bad request never stops the listener.
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from sim.xapi import messages
from sim.xapi.schema import NULL_REF

if TYPE_CHECKING:
    from sim.xapi.arrays import Volume

log = logging.getLogger(__name__)


class ControlError(Exception):
    """A request the control API refuses: `status` and a message for the client."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Control:
    """The operations behind the routes; `sim` is the running `SimHandle`."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim

    @property
    def world(self):
        return self.sim.world

    # ------------------------------------------------------------------ reads

    def state(self) -> dict[str, Any]:
        world = self.world
        sites: dict[str, Any] = {}
        for site in world.sites.values():
            pools = {}
            for pool in site.pools:
                db = pool.db
                hosts = [
                    {
                        "name": h.name,
                        "address": h.address,
                        "up": h.up and site.up,
                        "coordinator": h is pool.coordinator,
                        "memory_total": h.memory_total,
                        "memory_free": db.get_field("host_metrics", h.metrics_ref, "memory_free"),
                        "xenopsd_workers": h.workers,
                    }
                    for h in pool.hosts
                ]
                host_names = {h.ref: h.name for h in pool.hosts}
                with db.lock:
                    apps = {r: a["name_label"] for r, a in db._tables["VM_appliance"].items()}
                    vms = [
                        {
                            "name": v["name_label"],
                            "uuid": v["uuid"],
                            "power_state": v["power_state"],
                            "host": host_names.get(v["resident_on"]),
                            "appliance": apps.get(v["appliance"])
                            if v["appliance"] != NULL_REF
                            else None,
                        }
                        for v in db._tables["VM"].values()
                        if not (v["is_a_template"] or v["is_a_snapshot"] or v["is_control_domain"])
                    ]
                    srs = [
                        {
                            "name": s["name_label"],
                            "uuid": s["uuid"],
                            "type": s["type"],
                            "attached": any(
                                db._tables["PBD"][p]["currently_attached"] for p in s["PBDs"]
                            ),
                        }
                        for s in db._tables["SR"].values()
                    ]
                pools[pool.name] = {
                    "coordinator": pool.coordinator_address,
                    "ha_enabled": db.get_field("pool", pool.ref, "ha_enabled"),
                    "licensed_dr": pool.licensed("DR"),
                    "generation": db.generation,
                    "hosts": hosts,
                    "vms": sorted(vms, key=lambda v: v["name"]),
                    "srs": sorted(srs, key=lambda s: s["name"]),
                }
            sites[site.name] = {"up": site.up, "pools": pools}
        return {
            "scenario": world.scenario.name,
            "speed": world.clock.speed,
            "sites": sites,
            "faults": world.faults.to_json(),
        }

    def replication(self) -> list[dict[str, Any]]:
        storage = self.world.storage
        return [storage.describe(link) for link in storage.links.values()]

    def calls(self, since: int) -> list[dict[str, Any]]:
        return self.sim.servers.call_log.since(since)

    # ------------------------------------------------------------------ writes

    def lun(self, lun: str, action: str, *, force: bool = False) -> dict[str, Any]:
        storage = self.world.storage
        try:
            link = storage.link(lun)
        except KeyError as e:
            raise ControlError(404, str(e.args[0])) from None
        try:
            if action == "promote":
                storage.promote(lun)
            elif action == "reverse":
                storage.reverse(lun)
            elif action == "sync":
                shipped = storage.sync(lun)
                return {**storage.describe(link), "shipped": shipped}
            elif action == "test-copy":
                storage.present_test_copy(lun)
            elif action == "remove-test-copy":
                if not force:
                    self._refuse_attached_test_copy(lun, link.test_copy)
                storage.remove_test_copy(lun)
        except ValueError as e:
            raise ControlError(409, str(e)) from None
        return storage.describe(link)

    def _refuse_attached_test_copy(self, lun: str, test_copy: Volume | None) -> None:
        """409 while a pool has the test copy's SR attached: pulling the LUN would strand it."""
        holder = self.sim.attached_pool(test_copy) if test_copy is not None else None
        if holder:
            raise ControlError(409, messages.TEST_COPY_ATTACHED.format(lun=lun, pool=holder))

    def site(self, name: str, up: bool) -> dict[str, Any]:
        try:
            self.world.set_site(name, up)
        except KeyError as e:
            raise ControlError(404, str(e.args[0])) from None
        self.sim.servers.refresh()
        return {"site": name, "up": up}

    def host(self, address: str, up: bool) -> dict[str, Any]:
        try:
            self.world.set_host(address, up)
        except KeyError as e:
            raise ControlError(404, str(e.args[0])) from None
        self.sim.servers.refresh()
        return {"host": address, "up": up}

    def add_fault(self, body: dict[str, Any]) -> dict[str, Any]:
        kind = body.get("kind")
        world = self.world

        def need(field: str) -> Any:
            if field not in body or body[field] in (None, ""):
                raise ControlError(400, messages.FAULT_NEEDS.format(kind=kind, field=field))
            return body[field]

        if kind == "vm_start":
            vm = str(need("vm"))
            error = body.get("error") or ["VM_CRASHED", vm]
            if (
                not isinstance(error, list)
                or not error
                or not all(isinstance(e, str) for e in error)
            ):
                raise ControlError(400, messages.BAD_ERROR)
            times = body.get("times")
            fault = {"vm": vm, "error": error, "times": int(times) if times is not None else None}
            if body.get("site"):
                fault["site"] = self._site(body["site"])
            with world.faults.lock:
                world.faults.vm_start.append(fault)
            return {"fault": "vm_start", **fault}
        if kind == "lun":
            lun = str(need("lun"))
            side = str(body.get("side", "mirror"))
            try:
                world.fail_lun(lun, side, failed=bool(body.get("failed", True)))
            except KeyError as e:
                raise ControlError(404, str(e.args[0])) from None
            return {"fault": "lun", "lun": lun, "side": side}
        if kind == "task_stall":
            stall = {"method": body.get("method") or "*"}
            if body.get("site"):
                stall["site"] = self._site(body["site"])
            with world.faults.lock:
                world.faults.stalls.append(stall)
            return {"fault": "task_stall", **stall}
        if kind == "host_down":
            # A host failure when a run reaches a step: the `after`-th call of `method` that
            # reaches its stall point fails `host` (a name) there, before it goes on.
            host = str(need("host"))
            method = str(need("method"))
            if host not in {h.name for _, h in world.all_hosts()}:
                raise ControlError(404, f"no host named {host!r}; see GET /state")
            after = int(body.get("after") or 1)
            trigger = {"host": host, "method": method, "after": max(1, after)}
            with world.faults.lock:
                world.faults.host_triggers.append(trigger)
            return {"fault": "host_down", **trigger}
        if kind == "expire_sessions":
            pool = None
            if body.get("pool"):
                pool = world.pools.get(str(body["pool"]))
                if pool is None:
                    raise ControlError(404, f"no pool {body['pool']!r}; see GET /state")
            n = self.sim.servers.sessions.expire(pool=pool, user=body.get("user"))
            return {"fault": "expire_sessions", "expired": n}
        raise ControlError(400, messages.BAD_FAULT_KIND.format(kind=kind))

    def _site(self, name: Any) -> str:
        if str(name) not in self.world.sites:
            raise ControlError(404, f"no site {name!r}; see GET /state for the sites")
        return str(name)

    def clear_faults(self) -> dict[str, Any]:
        self.world.clear_faults()
        return {"faults": self.world.faults.to_json()}


class _Handler(BaseHTTPRequestHandler):
    server: _ControlServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("control %s", format % args)

    def _reply(self, status: int, payload: Any) -> None:
        body = json.dumps(payload, default=str).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("Content-Length") or 0)
        if not length:
            return {}
        try:
            data = json.loads(self.rfile.read(length))
        except ValueError as e:
            raise ControlError(400, messages.BAD_JSON.format(error=e)) from None
        if not isinstance(data, dict):
            raise ControlError(400, messages.BAD_JSON.format(error="not an object"))
        return data

    def _handle(self, verb: str) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        parts = [p for p in url.path.split("/") if p]
        control = self.server.control
        try:
            body = self._body() if verb in {"POST", "DELETE"} else {}
            result = self._route(control, verb, parts, query, body)
            self._reply(200, result)
        except ControlError as e:
            self._reply(e.status, {"error": e.message})
        except Exception as e:  # one bad request must not take the control API down
            log.exception("control API %s %s", verb, self.path)
            self._reply(500, {"error": f"{type(e).__name__}: {e}"})

    def _route(self, control: Control, verb: str, parts: list[str], query: dict, body: dict):
        force = query.get("force", ["false"])[0].lower() == "true"
        match verb, parts:
            case "GET", ["state"]:
                return control.state()
            case "GET", ["replication"]:
                return control.replication()
            case "GET", ["endpoints"]:
                return control.sim.endpoints
            case "GET", ["calls"]:
                try:
                    since = int(query.get("since", ["0"])[0])
                except ValueError:
                    raise ControlError(400, messages.BAD_SINCE) from None
                return control.calls(since)
            case "GET", ["faults"]:
                return control.world.faults.to_json()
            case "GET", ["stalled"]:
                try:
                    count = int(query.get("count", ["1"])[0])
                    timeout = min(float(query.get("timeout", ["10"])[0]), 60.0)
                except ValueError:
                    raise ControlError(400, messages.BAD_STALLED) from None
                return {"stalled": control.world.faults.wait_stalled(count, timeout)}
            case "POST", ["replication", lun, ("promote" | "reverse" | "sync" | "test-copy") as a]:
                return control.lun(lun, a)
            case "DELETE", ["replication", lun, "test-copy"]:
                return control.lun(lun, "remove-test-copy", force=force)
            case "POST", ["sites", site, ("fail" | "restore") as a]:
                return control.site(site, a == "restore")
            case "POST", ["hosts", address, ("fail" | "restore") as a]:
                return control.host(address, a == "restore")
            case "POST", ["faults"]:
                return control.add_fault(body)
            case "DELETE", ["faults"]:
                return control.clear_faults()
        raise ControlError(404, messages.UNKNOWN_ROUTE.format(method=verb, path=self.path))

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_DELETE(self) -> None:
        self._handle("DELETE")


class _ControlServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], control: Control) -> None:
        super().__init__(address, _Handler)
        self.control = control


class ControlServer:
    """The control API listening on `host:port` (port 0: the OS chooses)."""

    def __init__(self, sim: Any, host: str = "127.0.0.1", port: int = 0) -> None:
        self.control = Control(sim)
        self._server = _ControlServer((host, port), self.control)
        self.url = f"http://{host}:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # stop() waits at most this long
            name="sim-xapi-control",
            daemon=True,
        )
        self._thread.start()

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._server.shutdown()
            self._server.server_close()
        self._thread.join(timeout=5)
