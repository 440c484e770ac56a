"""The XAPI client's connection handling against sim/xapi's core on loopback."""

from __future__ import annotations

import pytest
from pydantic import SecretStr

from engine.errors import XapiRejected, XapiTransient
from engine.xapi import XapiClient


def test_login_on_coordinator_returns_a_session(core_sim):
    """Connecting by the coordinator's URL logs in and answers calls with that session."""
    sims = core_sim()
    client = sims.client("site-a", urls=[sims["site-a"].url(0)])
    assert client.session.startswith("OpaqueRef:")
    assert client.url == sims["site-a"].url(0)
    assert len(client.call("pool.get_all")) == 1


def test_member_url_is_followed_to_the_coordinator(core_sim):
    """A member answers HOST_IS_SLAVE and the client logs in on the coordinator it names."""
    sims = core_sim()
    site = sims["site-a"]
    client = sims.client("site-a", urls=[site.url(2)])
    assert client.url == site.url(0)


def test_other_known_hosts_are_tried_when_the_coordinator_is_gone(core_sim):
    """With the coordinator down, the client finds the new coordinator through the members."""
    sims = core_sim()
    site = sims["site-a"]
    client = sims.client("site-a", urls=[site.url(0)])
    site.pool.down.add(site.addresses[0])
    site.pool.coordinator_address = site.addresses[1]
    sims.servers.refresh()
    # The hosts learned at login let the client find the new coordinator.
    assert len(client.call("VM.get_all")) > 0
    assert client.url == site.url(1)


def test_session_expiry_is_healed_by_a_fresh_login(core_sim):
    """A call after every session expired succeeds after one transparent re-login."""
    sims = core_sim()
    client = sims.client("site-a")
    before = client.session
    sims.servers.sessions.expire_all()
    assert client.call("pool.get_all")
    assert client.session != before


def test_bad_credentials_are_a_typed_rejection(core_sim):
    """Wrong password raises XapiRejected with SESSION_AUTHENTICATION_FAILED and its args."""
    sims = core_sim()
    endpoint = sims["site-a"].endpoint().model_copy(update={"password": SecretStr("wrong")})
    with pytest.raises(XapiRejected) as err:
        XapiClient.connect(endpoint)
    assert err.value.code == "SESSION_AUTHENTICATION_FAILED"
    assert err.value.args_[0] == "root"
    assert "password" in str(err.value)


def test_unreachable_pool_names_every_host_tried(core_sim):
    """When no host answers, XapiTransient lists the URLs tried and says what to check."""
    sims = core_sim()
    site = sims["site-a"]
    endpoint = site.endpoint()
    site.pool.down.update(site.addresses)
    sims.servers.refresh()
    with pytest.raises(XapiTransient) as err:
        XapiClient.connect(endpoint, connect_timeout=2)
    assert err.value.code == "CONNECTION_REFUSED"
    for url in endpoint.urls:
        assert url in str(err.value)


def test_xapi_failures_carry_code_args_and_method(core_sim):
    """A failing call raises XapiRejected with XAPI's code, string args and the method name."""
    sims = core_sim()
    client = sims.client("site-a")
    with pytest.raises(XapiRejected) as err:
        client.call("VM.get_record", "OpaqueRef:no-such-vm")
    assert err.value.code == "HANDLE_INVALID"
    assert err.value.args_ == ("VM", "OpaqueRef:no-such-vm")
    assert err.value.method == "VM.get_record"
    assert err.value.details == ["HANDLE_INVALID", "VM", "OpaqueRef:no-such-vm"]


def test_read_only_write_is_rbac_denied(core_sim):
    """A write made by a read-only user surfaces RBAC_PERMISSION_DENIED with advice."""
    sims = core_sim()
    client = sims.client("site-a", user="viewer")
    vm = sims["site-a"].refs["vms"][0]
    with pytest.raises(XapiRejected) as err:
        client.call("VM.set_name_label", vm, "x")
    assert err.value.code == "RBAC_PERMISSION_DENIED"
    assert "pool-operator" in str(err.value)
