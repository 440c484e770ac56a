"""Async tasks, coordinator moves and faults, through the client against the full simulator."""

from __future__ import annotations

import pytest

from engine.errors import XapiTransient
from engine.inventory import Inventory


def _vm(inv: Inventory, name: str) -> str:
    return next(vm.ref for vm in inv.real_vms() if vm.name_label == name)


def test_async_call_is_awaited_by_events_and_its_task_destroyed(sim):
    """An Async shutdown ends in success through event.from, and its task no longer exists."""
    world = sim("demo")
    client = world.client("prod")
    vm = _vm(Inventory.load(client), "wiki-01")
    task = client.start_async("VM.start", vm, False, False)
    outcome = client.wait([task], timeout=60)[task]
    assert outcome.ok
    assert client.call("VM.get_power_state", vm) == "Running"
    assert client.task_record(task) is None


def test_failed_task_carries_the_typed_error(sim):
    """A VM that will not start gives a failure outcome with XAPI's code and arguments."""
    world = sim("demo")
    client = world.client("prod")
    vm = _vm(Inventory.load(client), "license-srv")
    uuid = client.call("VM.get_uuid", vm)
    world.control("POST", "/faults", {"kind": "vm_start", "vm": "license-srv"})
    task = client.start_async("VM.start", vm, False, False)
    outcome = client.wait([task], timeout=60)[task]
    assert outcome.status == "failure"
    assert outcome.error is not None
    assert outcome.error.code == outcome.error_info[0]
    assert outcome.error.method or outcome.error.code
    assert uuid


def test_wait_first_returns_as_soon_as_one_task_ends(sim):
    """return_when='first' hands back finished tasks and marks the rest pending."""
    world = sim("demo", speed=50)
    client = world.client("prod")
    inv = Inventory.load(client)
    quick = client.start_async("VM.hard_shutdown", _vm(inv, "dns-01"))
    slow = client.start_async("VM.clean_shutdown", _vm(inv, "mail-01"))
    outcomes = client.wait([quick, slow], timeout=60, return_when="first")
    assert outcomes[quick].ok
    assert outcomes[slow].status == "pending"
    assert client.wait([slow], timeout=60)[slow].ok


def test_lost_coordinator_is_a_clear_transient_error_and_heals_on_return(sim):
    """With the coordinator down (no election), calls fail naming the pool; they work on return."""
    world = sim("demo")
    client = world.client("prod")
    coordinator = world.control("GET", "/state")["sites"]["primary"]["pools"]["prod"]["coordinator"]
    world.control("POST", f"/hosts/{coordinator}/fail")
    with pytest.raises(XapiTransient) as err:
        client.call("pool.get_all")
    assert "pool 'prod'" in str(err.value)
    world.control("POST", f"/hosts/{coordinator}/restore")
    assert client.call("pool.get_all")


def test_expired_sessions_are_healed_mid_work(sim):
    """After the expire_sessions fault, the next call logs in again and succeeds."""
    world = sim("demo")
    client = world.client("prod")
    before = client.session
    world.control("POST", "/faults", {"kind": "expire_sessions", "pool": "prod"})
    assert len(client.get_all_records("VM")) > 40
    assert client.session != before


def test_wait_ends_at_its_deadline_even_on_a_manual_clock(sim):
    """A stalled task is reported pending at the deadline, also when the clock is manual."""
    from engine.clock import ManualClock

    world = sim("demo")
    client = world.client("prod", clock=ManualClock())
    vm = _vm(Inventory.load(client), "wiki-01")
    world.control("POST", "/faults", {"kind": "task_stall", "method": "VM.start"})
    task = client.start_async("VM.start", vm, False, False)
    outcome = client.wait([task], timeout=0.5)[task]
    assert outcome.status == "pending"
    assert client.task_record(task) is not None
