"""sim/xapi's protocol core against the reference (§1.2-§1.10), rule by rule.

Each test names the reference section it checks. Calls go through the unmodified XenAPI
client; raw `ServerProxy` calls (no session prepended) where the rule is about the wire.
"""

from __future__ import annotations

import http.client
import json
import re
import threading

import pytest
import XenAPI

from sim.xapi import schema
from sim.xapi.api import Call, method
from tests.sim_xapi.core_support import CoreSim, ManualClock

BOUND = 10.0


@method("probe.names", [], async_ok=True, read=True)
def _names(call: Call) -> list[str]:
    return ["a", "b"]


@method("probe.flag", ["flag"], async_ok=True, read=True)
def _flag(call: Call, flag: bool) -> bool:
    return flag


@method("probe.kinds", ["name", "config", "items"], read=True)
def _kinds(call: Call, name: str, config: dict, items: list) -> str:
    return name


RELEASE = threading.Event()


@method("probe.hold", [], async_ok=True, read=True)
def _hold(call: Call) -> str:
    RELEASE.wait(BOUND)
    return ""


@pytest.fixture
def root(sim: CoreSim) -> XenAPI.Session:
    return sim.session("root")


def raw(session: XenAPI.Session, name: str, *args: object) -> dict:
    return getattr(session, name)(*args)


def wait_task(session: XenAPI.Session, task: str) -> dict:
    """The task's record once it is no longer pending (bounded event wait)."""
    token = ""
    for _ in range(50):
        rec = session.xenapi.task.get_record(task)
        if rec["status"] != "pending":
            return rec
        token = getattr(session.xenapi.event, "from")([f"task/{task}"], token, BOUND)["token"]
    raise AssertionError("task still pending")


# ------------------------------------------------------------------ §1.2 method naming


def test_class_names_are_case_sensitive(root: XenAPI.Session) -> None:
    """§1.2: `vm.get_all` and `Host.get_all` are unknown; only the datamodel spelling works."""
    for name in ("vm.get_all", "Host.get_all", "Vm_appliance.get_all", "TASK.get_all"):
        assert raw(root, name, root._session)["ErrorDescription"] == [
            "MESSAGE_METHOD_UNKNOWN",
            name,
        ]
    assert raw(root, "host.get_all", root._session)["Status"] == "Success"


def test_session_has_no_get_all(root: XenAPI.Session) -> None:
    """§1.5/§1.7: there is no session.get_all (nor get_all_records)."""
    for name in ("session.get_all", "session.get_all_records"):
        assert raw(root, name, root._session)["ErrorDescription"][0] == "MESSAGE_METHOD_UNKNOWN"


def test_errors_name_the_call_without_its_async_prefix(root: XenAPI.Session, sim) -> None:
    """§1.2: xapi strips `Async.` before matching, so its errors name the bare call."""
    s = root._session
    assert raw(root, "Async.VM.frobnicate", s)["ErrorDescription"] == [
        "MESSAGE_METHOD_UNKNOWN",
        "VM.frobnicate",
    ]
    assert raw(root, "Async.VM.get_record", s)["ErrorDescription"] == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH",
        "VM.get_record",
        "1",
        "0",
    ]
    assert raw(root, "Async.host.get_all", s)["ErrorDescription"] == [
        "Fault",
        "No async mode for this operation (rpc: host.get_all)",
    ]
    assert raw(root, "Async.session.login_with_password", "root", "rootpw")["ErrorDescription"] == [
        "Fault",
        "No async mode for this operation (rpc: session.login_with_password)",
    ]


def test_count_mismatch_names_the_alias_as_called(root: XenAPI.Session) -> None:
    """§1.2: a `Class_method` call with a wrong count is reported under the name sent."""
    assert raw(root, "VM_get_record", root._session)["ErrorDescription"] == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH",
        "VM_get_record",
        "1",
        "0",
    ]


def test_unknown_method_checks_any_first_argument_as_a_session(sim: CoreSim) -> None:
    """§1.2: an unknown call's first argument is validated as a session, whatever it looks like."""
    client = sim.client()
    assert raw(client, "VM.frobnicate", "not-a-ref")["ErrorDescription"] == [
        "SESSION_INVALID",
        "not-a-ref",
    ]
    assert raw(client, "VM.frobnicate")["ErrorDescription"] == [
        "MESSAGE_METHOD_UNKNOWN",
        "VM.frobnicate",
    ]


def test_parameters_with_defaults_may_be_omitted(sim: CoreSim) -> None:
    """§1.2/§1.5: login with 3 arguments works; `expected` counts only the mandatory two."""
    client = sim.client()
    ref = raw(client, "session.login_with_password", "viewer", "viewpw", "1.0")["Value"]
    assert ref.startswith("OpaqueRef:")
    assert raw(client, "session.login_with_password")["ErrorDescription"] == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH",
        "session.login_with_password",
        "2",
        "0",
    ]


# ------------------------------------------------------------------ §1.3-§1.4 values, errors


def test_every_class_gives_handle_and_uuid_invalid_with_its_datamodel_name(
    root: XenAPI.Session,
) -> None:
    """§1.4: HANDLE_INVALID [class, ref] and UUID_INVALID [class, uuid] use the class's name."""
    bad_ref, bad_uuid = "OpaqueRef:00000000-0000-0000-0000-00000000dead", "no-such-uuid"
    for cls, spec in schema.CLASSES.items():
        if not spec.in_db:
            continue
        got = raw(root, f"{cls}.get_record", root._session, bad_ref)["ErrorDescription"]
        assert got == ["HANDLE_INVALID", cls, bad_ref]
        got = raw(root, f"{cls}.get_by_uuid", root._session, bad_uuid)["ErrorDescription"]
        assert got == ["UUID_INVALID", cls, bad_uuid]


def test_int64_fields_are_digit_strings_and_refs_opaque(root: XenAPI.Session, sim) -> None:
    """§1.3: a 2 GiB memory field arrives as '2147483648'; refs look like OpaqueRef:<uuid>."""
    rec = root.xenapi.VM.get_record(sim.refs["vms"][0])
    assert rec["memory_static_max"] == "2147483648"
    assert rec["VCPUs_max"] == "2"
    assert rec["order"] == "0"
    assert re.fullmatch(r"OpaqueRef:[0-9a-f-]{36}", rec["metrics"])
    assert rec["suspend_VDI"] == "OpaqueRef:NULL"


def test_a_bool_parameter_takes_only_a_boolean(root: XenAPI.Session) -> None:
    """§1.3: "false" for a bool argument is refused (INTERNAL_ERROR), sync and Async alike."""
    s = root._session
    assert raw(root, "probe.flag", s, False)["Value"] is False
    for name in ("probe.flag", "Async.probe.flag"):
        for bad in ("false", 0, "1"):
            error = raw(root, name, s, bad)["ErrorDescription"]
            assert error[0] == "INTERNAL_ERROR"
            assert "Expected bool" in error[1]
    assert root.xenapi.task.get_all() == []


def test_string_map_and_set_parameters_take_only_their_type(root: XenAPI.Session) -> None:
    """§1.3: a number for a string, a set for a map or a map for a set is refused."""
    s = root._session
    assert raw(root, "probe.kinds", s, "n", {}, [])["Value"] == "n"
    for args, expected in (
        ((5, {}, []), "Expected string"),
        (("n", [], []), "Expected map"),
        (("n", {}, {}), "Expected set"),
    ):
        error = raw(root, "probe.kinds", s, *args)["ErrorDescription"]
        assert error[0] == "INTERNAL_ERROR"
        assert error[1].startswith(expected)


def jsonrpc(sim: CoreSim, method_name: str, *params: object) -> dict:
    conn = http.client.HTTPConnection(sim.coordinator, sim.servers.port, timeout=10)
    body = json.dumps({"jsonrpc": "2.0", "method": method_name, "params": params, "id": 1})
    conn.request("POST", "/jsonrpc", body, {"Content-Type": "application/json"})
    out = json.loads(conn.getresponse().read())
    conn.close()
    return out


def test_a_string_xml_cannot_carry_is_refused_on_any_wire(sim: CoreSim, root) -> None:
    """§1.1/§1.3: a control character sent over JSON-RPC is INVALID_VALUE; XML-RPC reads on."""
    vm = sim.refs["vms"][0]
    for bad, shown in (("bad\x01name", "bad\\x01name"), ("\ud800", "\\ud800")):
        out = jsonrpc(sim, "VM.set_name_label", root._session, vm, bad)
        assert out["error"]["message"] == "INVALID_VALUE"
        assert out["error"]["data"] == ["Invalid UTF-8 string in parameter", shown]
    out = jsonrpc(sim, "VM.add_to_other_config", root._session, vm, "k\x02", "v")
    assert out["error"]["message"] == "INVALID_VALUE"
    assert root.xenapi.VM.get_name_label(vm) == "vm-00000"
    assert root.xenapi.VM.get_all_records()


# ------------------------------------------------------------------ §1.5 sessions


def test_non_root_sessions_are_capped_per_user_whatever_the_originator(sim: CoreSim) -> None:
    """§1.5: 500 per non-root user across originators: the 501st login ends the oldest."""
    client = sim.client()
    refs = [
        raw(client, "session.login_with_password", "viewer", "viewpw", "1.0", f"o{i % 2}")["Value"]
        for i in range(501)
    ]
    assert raw(client, "pool.get_all", refs[0])["ErrorDescription"] == ["SESSION_INVALID", refs[0]]
    assert raw(client, "pool.get_all", refs[1])["Status"] == "Success"


def test_root_with_an_originator_gets_500_not_400(sim: CoreSim) -> None:
    """§1.5: root sessions that name an originator are capped at 500 per originator."""
    client = sim.client()
    refs = [
        raw(client, "session.login_with_password", "root", "rootpw", "1.0", "engine")["Value"]
        for _ in range(401)
    ]
    assert raw(client, "pool.get_all", refs[0])["Status"] == "Success"


# ------------------------------------------------------------------ §1.7 generic messages


def test_get_all_where_and_db_column_names(root: XenAPI.Session, sim) -> None:
    """§1.7: get_all_where returns refs; `name__label`/`memory__static_max` and "true" work."""
    refs = root.xenapi.VM.get_all_where(
        'field "name__label"="vm-00001" and field "memory__static_max"="2147483648"'
    )
    assert refs == [sim.refs["vms"][1]]
    templates = root.xenapi.VM.get_all_where('field "is_a_template"="true"')
    assert templates == [sim.refs["template"]]
    assert root.xenapi.VM.get_by_name_label("no such VM") == []


# ------------------------------------------------------------------ §1.9 tasks


def test_a_set_result_is_an_array_fragment(root: XenAPI.Session) -> None:
    """§1.9: a task's result is the XML-RPC serialisation of a set: <value><array><data>."""
    rec = wait_task(root, root.xenapi.Async.probe.names())
    assert rec["status"] == "success"
    assert rec["result"] == (
        "<value><array><data><value>a</value><value>b</value></data></array></value>"
    )
    assert rec["progress"] == 1.0
    assert rec["allowed_operations"] == []
    assert rec["error_info"] == []


def test_many_slow_tasks_never_hold_back_another(root: XenAPI.Session) -> None:
    """§1.9: with 40 tasks still running, a new Async call runs and ends at once."""
    RELEASE.clear()
    try:
        held = [root.xenapi.Async.probe.hold() for _ in range(40)]
        rec = wait_task(root, root.xenapi.Async.probe.names())
        assert rec["status"] == "success"
        assert {root.xenapi.task.get_status(t) for t in held} == {"pending"}
    finally:
        RELEASE.set()


def test_cancel_never_refuses_a_finished_task(root: XenAPI.Session) -> None:
    """§1.9: task.cancel of a finished task succeeds and changes nothing."""
    task = root.xenapi.Async.probe.names()
    wait_task(root, task)
    root.xenapi.task.cancel(task)
    assert root.xenapi.task.get_status(task) == "success"


def test_task_cancel_has_an_async_form_and_destroy_has_none(root: XenAPI.Session) -> None:
    """§1.2/§1.9: task.cancel is a custom call (Async allowed); task.destroy is session-only."""
    RELEASE.clear()
    try:
        held = root.xenapi.Async.probe.hold()
        canceller = root.xenapi.Async.task.cancel(held)
        assert wait_task(root, canceller)["status"] == "success"
        assert "cancel" in root.xenapi.task.get_current_operations(held).values()
    finally:
        RELEASE.set()
    assert raw(root, "Async.task.destroy", root._session, held)["ErrorDescription"] == [
        "Fault",
        "No async mode for this operation (rpc: task.destroy)",
    ]


def test_client_tasks_and_task_garbage_collection_by_age(sim: CoreSim) -> None:
    """§1.9: task.create makes a pending task; GC drops finished ones at 65 min, pending at 24 h."""
    clock = ManualClock()
    sim.pool.clock = clock
    root = sim.session("root")
    pending = root.xenapi.task.create("engine job", "made by a client")
    rec = root.xenapi.task.get_record(pending)
    assert (rec["name_label"], rec["status"], rec["progress"]) == ("engine job", "pending", 0.0)
    done = root.xenapi.Async.probe.names()
    wait_task(root, done)
    clock.advance(66 * 60)
    root.xenapi.task.create("trigger", "")
    assert done not in root.xenapi.task.get_all()
    assert pending in root.xenapi.task.get_all()
    clock.advance(24 * 3600)
    root.xenapi.task.create("trigger", "")
    assert pending not in root.xenapi.task.get_all()


# ------------------------------------------------------------------ §1.10 event.from


def test_event_from_defaults_its_timeout_and_names_classes_in_lower_case(
    root: XenAPI.Session, sim
) -> None:
    """§1.10: timeout may be omitted; mixed-case subscriptions; class names come back lower."""
    out = raw(root, "event.from", root._session, ["VM_Appliance", "Dr_Task"], "")["Value"]
    assert {e["class"] for e in out["events"]} == {"vm_appliance"}
    assert set(out["valid_ref_counts"]) == {"vm_appliance", "dr_task"}
    assert out["valid_ref_counts"]["dr_task"] == 0
    assert re.fullmatch(r"\d{20},\d{20}", out["token"])


def test_event_from_accepts_an_int_timeout_and_returns_nothing_new(root: XenAPI.Session) -> None:
    """§1.10: an int timeout works; nothing new gives an empty list and the same token."""
    first = getattr(root.xenapi.event, "from")(["pool"], "", 0)
    again = getattr(root.xenapi.event, "from")(["pool"], first["token"], 0)
    assert again["events"] == []
    assert again["token"] == first["token"]


def test_every_event_has_id_timestamp_class_operation_ref(root: XenAPI.Session, sim) -> None:
    """§1.10: events carry a string id, timestamp "0.0", class, operation, ref and snapshot."""
    out = getattr(root.xenapi.event, "from")(["host"], "", 0)
    assert out["events"]
    for e in out["events"]:
        assert set(e) == {"id", "timestamp", "class", "operation", "ref", "snapshot"}
        assert e["id"].isdigit()
        assert e["timestamp"] == "0.0"
        assert e["snapshot"] == root.xenapi.host.get_record(e["ref"])
