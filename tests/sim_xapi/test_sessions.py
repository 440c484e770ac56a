"""Sessions of sim/xapi: login, members, failures, logout, expiry and RBAC."""

from __future__ import annotations

import pytest
import XenAPI

from sim.xapi.db import Database
from sim.xapi.server import serve_pools
from tests.sim_xapi.core_support import CorePool, ManualClock, build_pool, loopback_block


def raw(client, method: str, *args):
    """A call sent as is (no session prepended, no re-login): the raw result struct."""
    return getattr(client, method)(*args)


@pytest.mark.parametrize(
    "args", [("root", "rootpw"), ("root", "rootpw", "2.0"), ("root", "rootpw", "2.0", "me")]
)
def test_login_accepts_two_to_four_arguments(sim, args):
    """session.login_with_password takes uname, pwd and optional version and originator."""
    out = raw(sim.client(), "session.login_with_password", *args)
    assert out["Status"] == "Success"
    assert out["Value"].startswith("OpaqueRef:")


def test_login_with_five_arguments_is_a_count_mismatch(sim):
    """Five login arguments give MESSAGE_PARAMETER_COUNT_MISMATCH [name, 2, 5]."""
    out = raw(sim.client(), "session.login_with_password", "root", "rootpw", "2.0", "me", "x")
    assert out["ErrorDescription"] == [
        "MESSAGE_PARAMETER_COUNT_MISMATCH",
        "session.login_with_password",
        "2",
        "5",
    ]


def test_bad_password_gives_authentication_failed_with_user_and_message(sim):
    """A wrong password gives SESSION_AUTHENTICATION_FAILED [uname, message]."""
    with pytest.raises(XenAPI.Failure) as e:
        sim.client().xenapi.login_with_password("viewer", "nope")
    assert e.value.details == ["SESSION_AUTHENTICATION_FAILED", "viewer", "Authentication failure"]
    with pytest.raises(XenAPI.Failure) as e:
        sim.client().xenapi.login_with_password("nobody", "x")
    assert e.value.details[:2] == ["SESSION_AUTHENTICATION_FAILED", "nobody"]


def test_member_answers_host_is_slave_before_checking_credentials(sim):
    """A pool member answers HOST_IS_SLAVE [coordinator] to any login, good or bad."""
    member = sim.client(sim.addresses[1])
    for pwd in ("rootpw", "wrong"):
        with pytest.raises(XenAPI.Failure) as e:
            member.xenapi.login_with_password("root", pwd)
        assert e.value.details == ["HOST_IS_SLAVE", sim.coordinator]


def test_member_answers_host_is_slave_to_calls_with_a_session(sim):
    """A call with a session sent to a member also gets HOST_IS_SLAVE."""
    s = sim.session()
    out = raw(sim.client(sim.addresses[1]), "VM.get_all", s._session)
    assert out["ErrorDescription"] == ["HOST_IS_SLAVE", sim.coordinator]


def test_unknown_session_gives_session_invalid_with_the_ref(sim):
    """A call with an unknown session gives SESSION_INVALID [ref]."""
    out = raw(sim.client(), "VM.get_all", "OpaqueRef:gone")
    assert out == {"Status": "Failure", "ErrorDescription": ["SESSION_INVALID", "OpaqueRef:gone"]}


def test_logout_ends_the_session(sim):
    """After session.logout the old ref gives SESSION_INVALID."""
    s = sim.client()
    s.xenapi.login_with_password("root", "rootpw")
    ref = s._session
    s.xenapi.session.logout()
    assert raw(sim.client(), "pool.get_all", ref)["ErrorDescription"] == ["SESSION_INVALID", ref]


def test_expired_session_is_renewed_by_the_client_transparently(sim):
    """After expiry the XenAPI client logs in again by itself, and the log shows it."""
    s = sim.session("operator")
    old = s._session
    assert sim.servers.sessions.expire_all() >= 1
    seq = sim.servers.call_log.last_seq
    assert s.xenapi.pool.get_all()
    assert s._session != old
    outcomes = [(c["method"], c["outcome"]) for c in sim.servers.call_log.since(seq)]
    assert outcomes == [
        ("pool.get_all", "SESSION_INVALID"),
        ("session.login_with_password", "Success"),
        ("pool.get_all", "Success"),
    ]


def test_session_record_names_user_originator_and_host(sim):
    """session.get_record describes the session: host, user name, originator."""
    s = sim.session("viewer")
    rec = s.xenapi.session.get_record(s._session)
    assert rec["auth_user_name"] == "viewer"
    assert rec["originator"] == "core-tests"
    assert rec["this_host"] == sim.refs["hosts"][0]
    assert s.xenapi.session.get_this_host(s._session) == sim.refs["hosts"][0]


def test_read_only_user_is_denied_writes_with_xapi_message(sim):
    """A read-only session gets RBAC_PERMISSION_DENIED [perm, message] for a setter."""
    s = sim.session("viewer")
    vm = sim.refs["vms"][0]
    assert s.xenapi.VM.get_name_label(vm) == "vm-00000"
    with pytest.raises(XenAPI.Failure) as e:
        s.xenapi.VM.set_name_label(vm, "mine")
    assert e.value.details == [
        "RBAC_PERMISSION_DENIED",
        "vm.set_name_label",
        "No permission in user session. (Roles with this permission: pool-admin, pool-operator,"
        " vm-power-admin, vm-admin)",
    ]
    assert sim.db.get("VM", vm)["name_label"] == "vm-00000"


def test_pool_operator_may_write_what_the_dr_workflow_writes(sim):
    """A pool-operator session may set VM and vApp fields."""
    s = sim.session("operator")
    s.xenapi.VM_appliance.set_name_description(sim.refs["appliance"], "payments front end")
    assert sim.db.get("VM_appliance", sim.refs["appliance"])["name_description"] == (
        "payments front end"
    )


def test_a_session_of_one_pool_is_invalid_on_another():
    """A session ref of pool A gives SESSION_INVALID on pool B."""
    a_addr, b_addr = loopback_block(1), loopback_block(1)
    a = CorePool(build_pool(a_addr, vms=1, name="a")[0], a_addr)
    b = CorePool(build_pool(b_addr, vms=1, name="b")[0], b_addr)
    with serve_pools([a, b], auth_failure_delay=0) as servers:
        ca = XenAPI.Session(servers.url_for(a_addr[0]))
        cb = XenAPI.Session(servers.url_for(b_addr[0]))
        try:
            ca.xenapi.login_with_password("root", "rootpw")
            out = getattr(cb, "pool.get_all")(ca._session)
            assert out["ErrorDescription"] == ["SESSION_INVALID", ca._session]
            ca.xenapi.session.logout()
        finally:
            ca("close")()
            cb("close")()


def test_foreign_session_reads_its_own_database(sim):
    """A session opened on a foreign database (open_database) routes calls to that database."""
    foreign = Database("foreign")
    vm = foreign.create("VM", {"name_label": "from the metadata VDI"})
    ref = sim.servers.sessions.open_foreign(foreign, pool=sim.pool)
    out = raw(sim.client(), "VM.get_all", ref)
    assert out == {"Status": "Success", "Value": [vm]}
    rec = raw(sim.client(), "session.get_record", ref, ref)["Value"]
    assert rec["auth_user_name"] == "disaster-recovery"
    out = raw(sim.client(), "VM.set_name_label", ref, vm, "x")
    assert out["ErrorDescription"][0] == "RBAC_PERMISSION_DENIED"


def test_call_log_redacts_passwords(sim):
    """The call log records logins without the password."""
    sim.session("viewer")
    entry = next(
        c for c in sim.servers.call_log.since(0) if c["method"] == "session.login_with_password"
    )
    assert entry["args"] == ["viewer", "********", "2.0", "core-tests"]
    assert entry["outcome"] == "Success"
    assert entry["host"] == sim.coordinator
    assert entry["user"] == "viewer"


def test_sessions_idle_for_a_day_are_collected_at_the_next_login(sim):
    """A session idle for more than 24 h (pool clock) is gone after another login."""
    sim.pool.clock = ManualClock()
    old = sim.client()
    old.xenapi.login_with_password("operator", "oppw", "2.0", "idle-test")
    ref = old._session
    sim.pool.clock.advance(25 * 3600)
    sim.session("viewer")
    assert raw(sim.client(), "pool.get_all", ref)["ErrorDescription"] == ["SESSION_INVALID", ref]


def test_root_without_originator_keeps_at_most_400_sessions(sim):
    """The 401st anonymous root login ends the oldest root session, as XAPI caps them."""
    client = sim.client()
    refs = [
        raw(client, "session.login_with_password", "root", "rootpw")["Value"] for _ in range(401)
    ]
    assert raw(client, "pool.get_all", refs[0])["ErrorDescription"] == ["SESSION_INVALID", refs[0]]
    assert raw(client, "pool.get_all", refs[1])["Status"] == "Success"
    assert raw(client, "pool.get_all", refs[-1])["Status"] == "Success"
