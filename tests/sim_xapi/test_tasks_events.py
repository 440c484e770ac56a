"""Async tasks and event.from of sim/xapi, through the unmodified XenAPI client."""

from __future__ import annotations

import http.client
import re
import threading
import xmlrpc.client

import pytest
import XenAPI

from sim.xapi.api import Call, RealClock, method
from sim.xapi.errors import XapiError

BOUND = 10.0  # seconds any wait in these tests may take at most
STARTED = threading.Event()


@method("test_core.echo", ["vm"], async_ok=True, read=True)
def _echo(call: Call, vm: str) -> str:
    call.db.get("VM", vm)
    call.task.progress(0.5)
    return vm


@method("test_core.fail", [], async_ok=True, read=True)
def _fail(call: Call) -> None:
    raise XapiError("VM_BAD_POWER_STATE", "OpaqueRef:x", "halted", "running")


@method("test_core.until_cancelled", [], async_ok=True, read=True)
def _until_cancelled(call: Call) -> str:
    STARTED.set()
    db = call.pool_db
    with db.changed:
        for _ in range(int(BOUND / 0.1)):
            call.task.check_cancelled()
            db.changed.wait(0.1)
    return "not cancelled"


@pytest.fixture
def api(sim):
    return sim.session("operator").xenapi


def event_from(api, classes, token, timeout=BOUND):
    return getattr(api.event, "from")(classes, token, timeout)


def wait_task(api, task: str) -> dict:
    """The task's record once it is no longer pending (event.from, bounded)."""
    token = ""
    while True:
        rec = api.task.get_record(task)
        if rec["status"] != "pending":
            return rec
        out = event_from(api, [f"task/{task}"], token)
        assert out["events"] or out["token"] != token, "task did not finish in time"
        token = out["token"]


def test_async_call_returns_a_task_whose_result_is_the_xml_fragment(sim, api):
    """Async success: status success, progress 1, finished set, result = XML of the value."""
    vm = sim.refs["vms"][0]
    task = api.Async.test_core.echo(vm)
    assert task.startswith("OpaqueRef:")
    assert task != vm
    rec = wait_task(api, task)
    assert rec["status"] == "success"
    assert rec["result"] == f"<value>{vm}</value>"
    assert rec["progress"] == 1.0
    assert rec["error_info"] == []
    assert rec["name_label"] == "Async.test_core.echo"
    assert rec["finished"].value >= rec["created"].value
    assert rec["allowed_operations"] == []
    assert rec["resident_on"] == sim.refs["hosts"][0]


def test_async_failure_records_the_error_description(sim, api):
    """Async failure: status failure and error_info = what a sync call would have raised."""
    rec = wait_task(api, api.Async.test_core.fail())
    assert rec["status"] == "failure"
    assert rec["error_info"] == ["VM_BAD_POWER_STATE", "OpaqueRef:x", "halted", "running"]
    with pytest.raises(XenAPI.Failure) as e:
        api.test_core.fail()
    assert e.value.details == rec["error_info"]


def test_cancel_ends_a_task_that_checks_for_it_as_cancelled(sim, api):
    """task.cancel marks the task; a method that checks ends it with TASK_CANCELLED."""
    STARTED.clear()
    task = api.Async.test_core.until_cancelled()
    assert STARTED.wait(BOUND)
    api.task.cancel(task)
    rec = wait_task(api, task)
    assert rec["status"] == "cancelled"
    assert rec["error_info"] == ["TASK_CANCELLED", task]


def test_another_users_task_cannot_be_cancelled_by_a_read_only_session(sim, api):
    """A read-only session may not cancel or destroy someone else's task."""
    task = api.Async.test_core.echo(sim.refs["vms"][0])
    wait_task(api, task)
    viewer = sim.session("viewer").xenapi
    with pytest.raises(XenAPI.Failure) as e:
        viewer.task.destroy(task)
    assert e.value.details[:2] == ["RBAC_PERMISSION_DENIED", "task.destroy/any"]


def test_destroyed_task_is_gone_with_handle_invalid_task(sim, api):
    """After task.destroy, task.get_record gives HANDLE_INVALID ["task", ref]."""
    task = api.Async.test_core.echo(sim.refs["vms"][0])
    wait_task(api, task)
    api.task.destroy(task)
    with pytest.raises(XenAPI.Failure) as e:
        api.task.get_record(task)
    assert e.value.details == ["HANDLE_INVALID", "task", task]


def test_async_with_a_bad_session_or_count_creates_no_task(sim, api):
    """Failures before the task exists come back as plain failures, and no task is made."""
    client = sim.client()
    out = getattr(client, "Async.test_core.echo")("OpaqueRef:bad", sim.refs["vms"][0])
    assert out["ErrorDescription"] == ["SESSION_INVALID", "OpaqueRef:bad"]
    with pytest.raises(XenAPI.Failure) as e:
        api.Async.test_core.echo()
    assert e.value.details[0] == "MESSAGE_PARAMETER_COUNT_MISMATCH"
    assert api.task.get_all() == []


def test_garbage_collection_keeps_a_bounded_number_of_finished_tasks(sim, api):
    """GC drops the oldest finished tasks beyond `keep`, and all of them past their TTL."""
    tasks = [api.Async.test_core.echo(sim.refs["vms"][0]) for _ in range(4)]
    for t in tasks:
        wait_task(api, t)
    sim.servers.tasks.keep = 2
    assert sim.servers.tasks.collect_garbage(sim.db, RealClock()) == 2
    assert len(api.task.get_all()) == 2
    sim.servers.tasks.finished_ttl = -1
    assert sim.servers.tasks.collect_garbage(sim.db, RealClock()) == 2
    assert api.task.get_all() == []


def test_empty_token_gives_an_add_for_every_object_with_snapshots(sim, api):
    """event.from with "" returns add events (with snapshots) for all subscribed objects."""
    out = event_from(api, ["VM", "vm_appliance"], "")
    assert re.fullmatch(r"\d{20},\d{20}", out["token"])
    adds = {(e["class"], e["ref"]) for e in out["events"] if e["operation"] == "add"}
    assert adds == {("vm", r) for r in sim.db.refs("VM")} | {
        ("vm_appliance", sim.refs["appliance"])
    }
    ev = next(e for e in out["events"] if e["ref"] == sim.refs["vms"][1])
    assert ev["snapshot"] == api.VM.get_record(sim.refs["vms"][1])
    assert out["valid_ref_counts"] == {"vm": len(sim.db.refs("VM")), "vm_appliance": 1}


def test_several_writes_coalesce_into_one_mod_with_the_latest_snapshot(sim, api):
    """Two writes to one VM between polls give one mod event showing the second write."""
    token = event_from(api, ["vm"], "", 0)["token"]
    vm = sim.refs["vms"][0]
    api.VM.set_name_label(vm, "first")
    api.VM.set_name_label(vm, "second")
    out = event_from(api, ["vm"], token)
    assert [(e["operation"], e["ref"]) for e in out["events"]] == [("mod", vm)]
    assert out["events"][0]["snapshot"]["name_label"] == "second"
    assert out["token"] > token


def test_delete_gives_a_del_event_without_snapshot(sim, api):
    """A deleted object gives a del event with no snapshot member."""
    token = event_from(api, ["vif"], "", 0)["token"]
    vif = sim.db.refs("VIF")[0]
    sim.db.delete("VIF", vif)
    out = event_from(api, ["vif"], token)
    assert len(out["events"]) == 1
    ev = out["events"][0]
    assert ev["operation"] == "del"
    assert ev["ref"] == vif
    assert "snapshot" not in ev
    assert ev["class"] == "vif"


def test_timeout_with_nothing_new_returns_no_events_and_the_same_token(sim, api):
    """When nothing changes before the timeout, events is empty and the token is unchanged."""
    token = event_from(api, ["vm_appliance"], "", 0)["token"]
    out = event_from(api, ["vm_appliance"], token, 0.05)
    assert out["events"] == []
    assert out["token"] == token


def test_class_slash_ref_subscription_sees_only_that_object(sim, api):
    """A "class/ref" entry subscribes to one object."""
    a, b = sim.refs["vms"][0], sim.refs["vms"][1]
    token = event_from(api, [f"VM/{a}"], "", 0)["token"]
    api.VM.set_name_description(b, "not watched")
    api.VM.set_name_description(a, "watched")
    out = event_from(api, [f"VM/{a}"], token)
    assert [e["ref"] for e in out["events"]] == [a]


def test_inject_and_current_id(sim, api):
    """event.inject makes a mod without a change; get_current_id is the DB generation."""
    vm = sim.refs["vms"][3]
    token = event_from(api, ["vm"], "", 0)["token"]
    injected = api.event.inject("VM", vm)
    assert re.fullmatch(r"\d{20},\d{20}", injected)
    out = event_from(api, ["vm"], token)
    assert [(e["operation"], e["ref"]) for e in out["events"]] == [("mod", vm)]
    assert int(api.event.get_current_id()) == sim.db.generation
    with pytest.raises(XenAPI.Failure) as e:
        api.event.inject("VM", "OpaqueRef:nope")
    assert e.value.details == ["HANDLE_INVALID", "VM", "OpaqueRef:nope"]


def test_malformed_token_and_subscription_errors(api):
    """A malformed token or class gives XAPI's parse-failure errors."""
    with pytest.raises(XenAPI.Failure) as e:
        event_from(api, ["vm"], "yesterday", 0)
    assert e.value.details == ["EVENT_FROM_TOKEN_PARSE_FAILURE", "yesterday"]
    with pytest.raises(XenAPI.Failure) as e:
        event_from(api, ["spaceship"], "", 0)
    assert e.value.details == ["EVENT_SUBSCRIPTION_PARSE_FAILURE", "spaceship"]


def test_valid_ref_counts_are_i4_on_the_wire(sim, api):
    """valid_ref_counts values are <i4> in the raw XML, the only i4 XAPI sends."""
    session = sim.session().handle
    conn = http.client.HTTPConnection(sim.coordinator, sim.servers.port, timeout=BOUND)
    conn.request(
        "POST", "/", xmlrpc.client.dumps((session, ["vm_appliance"], "", 0.0), "event.from")
    )
    body = conn.getresponse().read().decode()
    conn.close()
    assert "<member><name>vm_appliance</name><value><i4>1</i4></value></member>" in body
    assert body.count("<i4>") == 1


def test_long_event_wait_does_not_block_other_clients(sim, api):
    """A waiting event.from holds only its own connection: other calls go on meanwhile."""
    token = event_from(api, ["vm_appliance"], "", 0)["token"]
    waiter = sim.session("viewer").xenapi
    result: dict = {}

    def wait() -> None:
        result["out"] = event_from(waiter, ["vm_appliance"], token, 30.0)

    th = threading.Thread(target=wait)
    th.start()
    for _ in range(5):
        assert api.pool.get_all()
    assert th.is_alive()
    api.VM_appliance.set_name_description(sim.refs["appliance"], "wake up")
    th.join(BOUND)
    assert not th.is_alive()
    assert [e["operation"] for e in result["out"]["events"]] == ["mod"]


def test_logout_while_waiting_gives_session_invalid(sim):
    """A session logged out while its event.from waits gets SESSION_INVALID."""
    s = sim.client()
    s.xenapi.login_with_password("root", "rootpw")
    ref = s._session
    token = getattr(s.xenapi.event, "from")(["vm_appliance"], "", 0)["token"]
    result: dict = {}

    def wait() -> None:
        waiter = XenAPI.Session(sim.url)
        try:
            result["out"] = getattr(waiter, "event.from")(ref, ["vm_appliance"], token, 30.0)
        finally:
            waiter("close")()

    th = threading.Thread(target=wait)
    th.start()
    s.xenapi.session.logout()
    th.join(BOUND)
    assert not th.is_alive()
    assert result["out"]["ErrorDescription"] == ["SESSION_INVALID", ref]


def test_task_subscription_sees_a_task_being_added_and_finishing(sim, api):
    """event.from on task shows the Async task's add and its mod to success."""
    token = event_from(api, ["task"], "", 0)["token"]
    task = api.Async.test_core.echo(sim.refs["vms"][0])
    seen: list = []
    for _ in range(20):
        out = event_from(api, ["task"], token)
        token = out["token"]
        seen += [
            (e["operation"], e["snapshot"]["status"]) for e in out["events"] if e["ref"] == task
        ]
        if seen and seen[-1][1] == "success":
            break
    assert seen[0][0] == "add"
    assert seen[-1][1] == "success"


def test_call_log_names_an_async_calls_task_and_its_outcome(sim, api):
    """The call log entry of an Async call names its task and, once it ends, its outcome."""
    ok = api.Async.test_core.echo(sim.refs["vms"][0])
    bad = api.Async.test_core.fail()
    wait_task(api, ok)
    wait_task(api, bad)
    entries = {c.get("task"): c for c in sim.servers.call_log.since(0) if "task" in c}
    assert entries[ok]["method"] == "Async.test_core.echo"
    assert entries[ok]["outcome"] == "Success"
    assert entries[ok]["task_outcome"] == "Success"
    assert entries[bad]["task_outcome"] == "VM_BAD_POWER_STATE"
    assert entries[ok]["user"] == "operator"
