"""sim/xapi under concurrent clients: writers and event followers over real connections."""

from __future__ import annotations

import threading

import pytest

from tests.sim_xapi.core_support import CoreSim

WRITERS = 6
WRITES = 15


@pytest.fixture
def sim():
    s = CoreSim(vms=WRITERS)
    yield s
    s.stop()


def test_an_event_follower_ends_with_every_final_value_under_concurrent_writes(sim):
    """A client following event.from sees, for every VM, the last value concurrent writers set."""
    follower = sim.session("viewer").xenapi
    token = getattr(follower.event, "from")(["vm"], "", 0)["token"]
    vms = sim.refs["vms"]
    errors: list[BaseException] = []

    def write(vm: str) -> None:
        try:
            api = sim.session("operator").xenapi
            for i in range(WRITES):
                api.VM.set_name_description(vm, f"write {i}")
        except BaseException as e:  # reported by the assertion below
            errors.append(e)

    threads = [threading.Thread(target=write, args=(vm,)) for vm in vms]
    for t in threads:
        t.start()
    last: dict[str, str] = {}
    final = f"write {WRITES - 1}"
    for _ in range(WRITERS * WRITES):
        out = getattr(follower.event, "from")(["vm"], token, 10.0)
        token = out["token"]
        for ev in out["events"]:
            last[ev["ref"]] = ev["snapshot"]["name_description"]
        if all(last.get(vm) == final for vm in vms):
            break
    for t in threads:
        t.join(10)
    assert errors == []
    assert {vm: last.get(vm) for vm in vms} == dict.fromkeys(vms, final)
    assert sim.servers.call_log.last_seq >= WRITERS * WRITES
