"""The wire format of sim/xapi, read raw and through the unmodified XenAPI client."""

from __future__ import annotations

import http.client
import json
import re
import socket
import ssl
import xmlrpc.client

import pytest
import XenAPI

from sim.xapi.api import method
from tests.sim_xapi.core_support import USERS, CoreSim


def post(sim: CoreSim, path: str, body: bytes, ctype: str = "text/xml", address: str | None = None):
    conn = http.client.HTTPConnection(address or sim.coordinator, sim.servers.port, timeout=10)
    conn.request("POST", path, body, {"Content-Type": ctype})
    resp = conn.getresponse()
    data = resp.read()
    conn.close()
    return resp, data


def xml_call(sim: CoreSim, method: str, *params, path: str = "/") -> str:
    resp, data = post(sim, path, xmlrpc.client.dumps(tuple(params), method).encode())
    assert resp.status == 200
    return data.decode()


def login(sim: CoreSim, user: str = "root") -> str:
    body = xml_call(sim, "session.login_with_password", user, USERS[user][0])
    return re.search(r"<name>Value</name><value>(OpaqueRef:[^<]+)</value>", body).group(1)


def jsonrpc(sim: CoreSim, method: str, params: list, v2: bool = True, req_id=7):
    req = {"method": method, "params": params, "id": req_id}
    if v2:
        req["jsonrpc"] = "2.0"
    resp, data = post(sim, "/jsonrpc", json.dumps(req).encode(), "application/json")
    assert resp.status == 200
    return json.loads(data)


def test_success_envelope_has_status_first_and_untyped_strings(sim):
    """A success is a struct with Status first and string values carry no <string> tag."""
    body = xml_call(sim, "session.login_with_password", "root", "rootpw")
    assert "<fault>" not in body
    assert re.search(
        r"<struct><member><name>Status</name><value>Success</value></member>"
        r"<member><name>Value</name><value>OpaqueRef:[0-9a-f-]{36}</value></member></struct>",
        body,
    )


def test_failure_envelope_is_a_struct_never_a_fault(sim):
    """A failure is Status=Failure with an ErrorDescription array of strings, not a fault."""
    body = xml_call(sim, "session.login_with_password", "root", "wrong")
    assert "<fault>" not in body
    assert (
        "<member><name>Status</name><value>Failure</value></member>"
        "<member><name>ErrorDescription</name><value><array><data>"
        "<value>SESSION_AUTHENTICATION_FAILED</value><value>root</value>"
        "<value>Authentication failure</value></data></array></value></member>"
    ) in body


def test_ints_are_digit_strings_bools_booleans_and_datetimes_xapi_format(sim):
    """Record ints travel as digit strings, bools as <boolean>, datetimes YYYYMMDDTHH:MM:SSZ."""
    session = login(sim)
    vm = sim.refs["vms"][0]
    body = xml_call(sim, "VM.get_record", session, vm)
    assert "<member><name>memory_static_max</name><value>2147483648</value></member>" in body
    assert "<member><name>domid</name><value>1</value></member>" in body
    assert "<member><name>is_a_template</name><value><boolean>0</boolean></value>" in body
    assert "<member><name>suspend_VDI</name><value>OpaqueRef:NULL</value></member>" in body
    assert (
        "<member><name>snapshot_time</name><value><dateTime.iso8601>19700101T00:00:00Z"
        "</dateTime.iso8601></value></member>"
    ) in body
    assert "<i4>" not in body
    assert "<int>" not in body
    assert "<string>" not in body
    metrics = sim.db.get("VM", vm)["metrics"]
    body = xml_call(sim, "VM_metrics.get_record", session, metrics)
    assert "<member><name>0</name><value><double>0</double></value></member>" in body


def test_void_result_is_an_empty_string(sim):
    """A void method answers Value = an empty <value></value>."""
    session = login(sim)
    body = xml_call(sim, "VM.set_name_label", session, sim.refs["vms"][0], "x")
    assert "<member><name>Value</name><value></value></member>" in body


def test_rpc2_path_and_root_path_both_serve_xmlrpc(sim):
    """XML-RPC is answered on / and on /RPC2; other paths are 404."""
    for path in ("/", "/RPC2"):
        assert "<value>Success</value>" in xml_call(sim, "system.listMethods", path=path)
    resp, _ = post(sim, "/nothing", xmlrpc.client.dumps((), "system.listMethods").encode())
    assert resp.status == 404


def test_methodcall_without_params_gets_http_500_html(sim):
    """A methodCall with no <params> gets HTTP 500 with an HTML body, as xapi sends."""
    body = b'<?xml version="1.0"?><methodCall><methodName>session.logout</methodName></methodCall>'
    resp, data = post(sim, "/", body)
    assert resp.status == 500
    assert resp.getheader("content-type") == "text/html"
    assert data.startswith(b"<html><body><h1>HTTP 500 internal server error</h1>")


def test_malformed_xml_gets_http_500_and_the_listener_survives(sim):
    """Broken XML gets HTTP 500, and the next request on the same listener still works."""
    resp, _ = post(sim, "/", b"<methodCall><methodName>x</methodName><params><param>")
    assert resp.status == 500
    assert "<value>Success</value>" in xml_call(sim, "system.listMethods")


def test_garbage_bytes_on_the_socket_do_not_stop_the_listener(sim):
    """A client that sends junk and hangs up leaves the listener serving."""
    with socket.create_connection((sim.coordinator, sim.servers.port), timeout=5) as s:
        s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
        s.recv(1024)
    assert "<value>Success</value>" in xml_call(sim, "system.listMethods")


def test_system_list_methods_names_sync_wire_names(sim):
    """system.listMethods returns the sync names, getters and DR-relevant generics included."""
    names = xmlrpc.client.loads(xml_call(sim, "system.listMethods"))[0][0]["Value"]
    for name in [
        "session.login_with_password",
        "VM.get_all_records",
        "VM.get_all_records_where",
        "pool.get_metadata_VDIs",
        "host.get_API_version_major",
        "event.from",
        "task.cancel",
        "VM_appliance.get_by_uuid",
    ]:
        assert name in names
    assert not any(n.startswith("Async.") for n in names)


def test_unknown_method_with_a_bad_session_gives_session_invalid(sim):
    """An unknown method whose first argument is a session validates that session first."""
    bad = "OpaqueRef:00000000-0000-0000-0000-000000000000"
    assert "<value>SESSION_INVALID</value><value>" + bad in xml_call(sim, "VM.frobnicate", bad)
    session = login(sim)
    body = xml_call(sim, "VM.frobnicate", session)
    assert "<value>MESSAGE_METHOD_UNKNOWN</value><value>VM.frobnicate</value>" in body


def test_parameter_count_mismatch_excludes_the_session(sim):
    """Wrong counts give [name, expected, received], both without the session."""
    session = login(sim)
    body = xml_call(sim, "VM.get_record", session)
    assert (
        "<value>MESSAGE_PARAMETER_COUNT_MISMATCH</value><value>VM.get_record</value>"
        "<value>1</value><value>0</value>"
    ) in body
    body = xml_call(sim, "VM.get_record", session, "a", "b")
    assert "<value>VM.get_record</value><value>1</value><value>2</value>" in body


def test_class_underscore_method_alias_is_accepted(sim):
    """VM_get_name_label is the same call as VM.get_name_label."""
    session = login(sim)
    body = xml_call(sim, "VM_get_name_label", session, sim.refs["vms"][1])
    assert "<name>Value</name><value>vm-00001</value>" in body


def test_async_getter_gets_the_no_async_fault_struct(sim):
    """Async. on a getter: Failure ["Fault", "No async mode ... (rpc: <name without Async.>)"]."""
    s = sim.session()
    with pytest.raises(XenAPI.Failure) as e:
        s.xenapi.Async.VM.get_record(sim.refs["vms"][0])
    assert e.value.details == [
        "Fault",
        "No async mode for this operation (rpc: VM.get_record)",
    ]


def test_bad_ref_and_bad_uuid_give_xapi_errors(sim):
    """A bad ref gives HANDLE_INVALID [class, ref]; a bad uuid UUID_INVALID [class, uuid]."""
    s = sim.session()
    with pytest.raises(XenAPI.Failure) as e:
        s.xenapi.SR.get_record("OpaqueRef:nope")
    assert e.value.details == ["HANDLE_INVALID", "SR", "OpaqueRef:nope"]
    with pytest.raises(XenAPI.Failure) as e:
        s.xenapi.VM_appliance.get_by_uuid("not-a-uuid")
    assert e.value.details == ["UUID_INVALID", "VM_appliance", "not-a-uuid"]


def test_jsonrpc_v2_success_and_error_objects(sim):
    """JSON-RPC 2.0 answers result, or error {code, message, data}, with the request id."""
    out = jsonrpc(sim, "session.login_with_password", ["root", "rootpw"])
    assert out["jsonrpc"] == "2.0"
    assert out["id"] == 7
    assert out["result"].startswith("OpaqueRef:")
    out = jsonrpc(sim, "session.login_with_password", ["root", "bad"], req_id="x")
    assert out == {
        "jsonrpc": "2.0",
        "error": {
            "code": 1,
            "message": "SESSION_AUTHENTICATION_FAILED",
            "data": ["root", "Authentication failure"],
        },
        "id": "x",
    }


def test_jsonrpc_v1_result_error_id(sim):
    """JSON-RPC 1.0 answers {result, error: [code, args...], id}."""
    out = jsonrpc(sim, "session.login_with_password", ["root", "rootpw"], v2=False)
    assert out["error"] is None
    assert out["result"].startswith("OpaqueRef:")
    out = jsonrpc(sim, "VM.get_all", ["OpaqueRef:bad"], v2=False)
    assert out == {"result": None, "error": ["SESSION_INVALID", "OpaqueRef:bad"], "id": 7}


def test_jsonrpc_records_carry_ints_as_numbers_and_share_sessions_with_xmlrpc(sim):
    """A session from XML-RPC works on JSON-RPC, whose records have ints as JSON numbers."""
    session = login(sim)
    records = jsonrpc(sim, "VM.get_all_records", [session])["result"]
    vm = records[sim.refs["vms"][0]]
    assert vm["memory_static_max"] == 2147483648
    assert vm["is_a_template"] is False
    assert vm["snapshot_time"] == "19700101T00:00:00Z"
    assert vm["VBDs"]
    assert vm["VBDs"][0].startswith("OpaqueRef:")


def test_jsonrpc_without_params_gets_http_500(sim):
    """A JSON-RPC request lacking params is malformed: HTTP 500 with an HTML body."""
    body = json.dumps({"jsonrpc": "2.0", "method": "session.login_with_password", "id": 0})
    resp, data = post(sim, "/jsonrpc", body.encode(), "application/json")
    assert resp.status == 500
    assert b"Malformed_method_request" in data
    resp, _ = post(sim, "/jsonrpc", b"{not json", "application/json")
    assert resp.status == 500


def test_keep_alive_serves_many_calls_on_one_connection(sim):
    """HTTP/1.1 keep-alive: one connection carries several calls."""
    conn = http.client.HTTPConnection(sim.coordinator, sim.servers.port, timeout=10)
    for _ in range(3):
        conn.request("POST", "/", xmlrpc.client.dumps((), "system.listMethods").encode())
        resp = conn.getresponse()
        assert resp.status == 200
        assert b"Success" in resp.read()
    conn.close()


def test_every_host_answers_on_its_own_address_and_a_failed_host_refuses(sim):
    """Each host listens on its own address; a failed host refuses, a restored one answers."""
    member = sim.addresses[1]
    client = sim.client(member)
    with pytest.raises(XenAPI.Failure) as e:
        client.xenapi.login_with_password("root", "rootpw")
    assert e.value.details == ["HOST_IS_SLAVE", sim.coordinator]
    sim.pool.down.add(member)
    sim.servers.refresh()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((member, sim.servers.port), timeout=5).close()
    sim.pool.down.discard(member)
    sim.servers.refresh()
    with pytest.raises(XenAPI.Failure) as e:
        sim.client(member).xenapi.login_with_password("root", "rootpw")
    assert e.value.details[0] == "HOST_IS_SLAVE"


def test_https_with_a_generated_self_signed_certificate():
    """With tls=True the hosts speak HTTPS with a generated certificate naming their address."""
    sim = CoreSim(tls=True)
    try:
        assert sim.url.startswith("https://")
        assert "BEGIN CERTIFICATE" in sim.servers.cert_pem
        s = sim.session()
        assert s.xenapi.pool.get_all()
        ctx = ssl.create_default_context(cadata=sim.servers.cert_pem)
        raw = socket.create_connection((sim.coordinator, sim.servers.port), timeout=5)
        with ctx.wrap_socket(raw, server_hostname=sim.coordinator) as tls:
            assert tls.version() is not None
    finally:
        sim.stop()


def test_api_version_property_of_the_client(sim):
    """The client's API_version property works (pool.get_all, get_master, host versions)."""
    s = sim.session()
    assert s.API_version == "2.23"


def test_plain_jsonrpc_client_over_urllib(sim):
    """A plain JSON-RPC client (urllib) logs in, reads records and logs out."""
    import urllib.request

    def call(method: str, params: list):
        req = urllib.request.Request(
            f"{sim.url}/jsonrpc",
            data=json.dumps(
                {"jsonrpc": "2.0", "method": method, "params": params, "id": 1}
            ).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    session = call("session.login_with_password", ["viewer", "viewpw", "2.0", "urllib"])["result"]
    pools = call("pool.get_all_records", [session])["result"]
    assert [p["master"] for p in pools.values()] == [sim.refs["hosts"][0]]
    assert call("session.logout", [session])["result"] == ""
    assert call("pool.get_all", [session])["error"]["message"] == "SESSION_INVALID"


@method("test_core.unsendable", [], read=True)
def _unsendable(call) -> object:
    return object()


def test_a_result_no_wire_type_fits_is_an_internal_error_not_a_dead_listener(sim):
    """A method returning an unsendable value gives INTERNAL_ERROR; the listener goes on."""
    s = sim.session()
    with pytest.raises(XenAPI.Failure) as e:
        s.xenapi.test_core.unsendable()
    assert e.value.details[0] == "INTERNAL_ERROR"
    assert s.xenapi.pool.get_all()
