"""A process that runs a failover and dies on purpose mid-way (for the crash test).

`python -m tests.engine.crash_child ENDPOINTS STORE PLAN EVENT KEY_PREFIX N` runs the plan with
the real Runner and calls `os._exit(9)` (no cleanup, no finally: a crash) when the N-th event
of type EVENT for a step whose key starts with KEY_PREFIX is published.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from bot.simconfig import from_sim_endpoints
from engine.clock import SystemClock
from engine.models import Plan
from engine.runner import Runner
from engine.storage.sim import SimStorageAdapter
from engine.xapi import XapiClient
from store import open_store

CRASH_CODE = 9


def main(argv: list[str]) -> int:
    endpoints_path, store_path, plan_path, event, prefix, n = argv
    endpoints = json.loads(Path(endpoints_path).read_text())
    config = from_sim_endpoints(endpoints)
    clock = SystemClock()
    clients: dict[str, XapiClient] = {}

    def client(name: str) -> XapiClient:
        if name not in clients:
            clients[name] = XapiClient.connect(config.pool(name), clock=clock)
        return clients[name]

    store = open_store(store_path, now=clock.now)
    runner = Runner(store, client, SimStorageAdapter(endpoints["control"]), clock, lease_seconds=30)
    seen = []

    def crash(ev):
        if ev.type == event and (ev.step_key or "").startswith(prefix):
            seen.append(ev.step_key)
            if len(seen) >= int(n):
                os._exit(CRASH_CODE)

    runner.subscribe(crash)
    plan = Plan.model_validate_json(Path(plan_path).read_text())
    run_id = runner.start(plan, requested_by="U-crash", reason="crash test")
    runner.wait(run_id, timeout=120)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
