"""The generic messages of every class, through the unmodified XenAPI client."""

from __future__ import annotations

import xmlrpc.client

import pytest
import XenAPI

from sim.xapi import schema
from sim.xapi.schema import NULL_REF
from tests.sim_xapi.core_support import CoreSim

CLASSES = [
    "pool",
    "host",
    "host_metrics",
    "SR",
    "PBD",
    "VDI",
    "VBD",
    "VIF",
    "network",
    "PIF",
    "VM",
    "VM_metrics",
    "VM_appliance",
]


@pytest.fixture
def sim():
    s = CoreSim(vms=6)
    yield s
    s.stop()


@pytest.fixture
def api(sim):
    return sim.session().xenapi


@pytest.mark.parametrize("cls", CLASSES)
def test_get_all_records_gives_every_schema_field_of_every_object(sim, api, cls):
    """get_all_records of a class maps every ref to a record with all of the class's fields."""
    records = getattr(api, cls).get_all_records()
    assert set(records) == set(sim.db.refs(cls))
    for rec in records.values():
        assert set(rec) == set(schema.spec(cls).fields)


def test_get_record_and_field_getters_agree(sim, api):
    """get_record equals the field getters, ints as digit strings and refs as refs."""
    vm = sim.refs["vms"][0]
    rec = api.VM.get_record(vm)
    assert rec["VCPUs_max"] == "2"
    assert api.VM.get_VCPUs_max(vm) == "2"
    assert rec["appliance"] == sim.refs["appliance"] == api.VM.get_appliance(vm)
    assert rec["order"] == "0"
    assert api.VM.get_start_delay(vm) == "10"
    assert isinstance(rec["snapshot_time"], xmlrpc.client.DateTime)
    assert rec["snapshot_time"].value == "19700101T00:00:00Z"
    assert api.pool.get_metadata_VDIs(sim.refs["pool"]) == []
    assert api.host.get_API_version_major(sim.refs["hosts"][0]) == "2"


def test_get_all_vm_records_include_templates_snapshots_and_dom0(sim, api):
    """VM.get_all_records holds guests, templates, snapshots and control domains."""
    records = api.VM.get_all_records()
    assert sum(r["is_control_domain"] for r in records.values()) == 2
    assert sum(r["is_a_template"] for r in records.values()) == 1
    assert records[sim.refs["snapshot"]]["is_a_snapshot"] is True
    assert records[sim.refs["snapshot"]]["snapshot_of"] == sim.refs["vms"][0]
    assert sim.refs["snapshot"] in records[sim.refs["vms"][0]]["snapshots"]


def test_get_all_records_where_with_and_or_not_and_parentheses(sim, api):
    """The filter grammar selects by DB field names with and/or/not/parentheses."""
    real = api.VM.get_all_records_where(
        'field "is_a_template"="false" and field "is_control_domain"="false"'
        ' and not (field "is_a_snapshot"="true")'
    )
    assert set(real) == set(sim.refs["vms"])
    by_name = api.VM.get_all_records_where(
        'field "name__label"="vm-00001" or field "name__label"="vm-00002"'
    )
    assert {r["name_label"] for r in by_name.values()} == {"vm-00001", "vm-00002"}
    assert api.VM.get_all_records_where("false") == {}
    assert len(api.VM.get_all_records_where("true")) == len(sim.db.refs("VM"))
    in_app = api.VM.get_all_where(f'field "appliance"="{sim.refs["appliance"]}"')
    assert set(in_app) == set(sim.refs["vms"][:3])
    shared = sim.refs["shared_sr"]
    vdis = api.VDI.get_all_records_where(f'field "SR"="{shared}" and field "type"="user"')
    assert vdis
    assert all(v["SR"] == shared for v in vdis.values())


def test_bad_filter_expression_gives_invalid_value(api):
    """A malformed expression gives INVALID_VALUE [expr, reason]."""
    for expr in ['field "name__label"=', 'field "no_such_field"="x"', "(true", ""]:
        with pytest.raises(XenAPI.Failure) as e:
            api.VM.get_all_records_where(expr)
        assert e.value.details[:2] == ["INVALID_VALUE", expr]


def test_get_by_uuid_and_get_by_name_label(sim, api):
    """get_by_uuid finds the ref; get_by_name_label returns a list, empty when none match."""
    vm = sim.refs["vms"][2]
    uuid = api.VM.get_uuid(vm)
    assert api.VM.get_by_uuid(uuid) == vm
    assert api.VM.get_by_name_label("vm-00002") == [vm]
    assert api.VM.get_by_name_label("no such VM") == []
    with pytest.raises(XenAPI.Failure) as e:
        api.SR.get_by_uuid(uuid)
    assert e.value.details == ["UUID_INVALID", "SR", uuid]


def test_setting_a_reference_keeps_the_reverse_set_in_step(sim, api):
    """VM.set_appliance moves the VM between the VM_appliance.VMs sets."""
    vm = sim.refs["vms"][4]
    app = sim.refs["appliance"]
    api.VM.set_appliance(vm, app)
    assert vm in api.VM_appliance.get_VMs(app)
    api.VM.set_appliance(vm, NULL_REF)
    assert vm not in api.VM_appliance.get_VMs(app)
    with pytest.raises(XenAPI.Failure) as e:
        api.VM.set_appliance(vm, "OpaqueRef:missing")
    assert e.value.details == ["HANDLE_INVALID", "VM_appliance", "OpaqueRef:missing"]


def test_map_add_remove_and_duplicate_key(sim, api):
    """add_to_other_config adds, a duplicate key gives MAP_DUPLICATE_KEY, remove removes."""
    vm = sim.refs["vms"][0]
    api.VM.add_to_other_config(vm, "dr-tier", "gold")
    assert api.VM.get_other_config(vm)["dr-tier"] == "gold"
    with pytest.raises(XenAPI.Failure) as e:
        api.VM.add_to_other_config(vm, "dr-tier", "silver")
    assert e.value.details == [
        "MAP_DUPLICATE_KEY",
        "VM",
        "other_config",
        api.VM.get_uuid(vm),
        "dr-tier",
    ]
    api.VM.remove_from_other_config(vm, "dr-tier")
    assert "dr-tier" not in api.VM.get_other_config(vm)


def test_setters_coerce_digit_strings_and_reject_wrong_types(sim, api):
    """An int setter accepts a digit string; a bool field rejects a string."""
    vm = sim.refs["vms"][0]
    api.VM.set_user_version(vm, "7")
    assert sim.db.get("VM", vm)["user_version"] == 7
    with pytest.raises(XenAPI.Failure) as e:
        api.VM.set_is_a_template(vm, "true")
    assert e.value.details == ["FIELD_TYPE_ERROR", "is_a_template"]
    api.VM.add_tags(vm, "prod")
    assert api.VM.get_tags(vm) == ["prod"]


def test_read_only_fields_have_no_setter(sim, api):
    """A read-only field (power_state) has no set_ message."""
    with pytest.raises(XenAPI.Failure) as e:
        api.VM.set_power_state(sim.refs["vms"][0], "Running")
    assert e.value.details == ["MESSAGE_METHOD_UNKNOWN", "VM.set_power_state"]


def test_host_and_pool_records_look_like_a_real_pool(sim, api):
    """The pool names its master; hosts carry address, versions, licence and metrics."""
    pool = api.pool.get_all()[0]
    master = api.pool.get_master(pool)
    host = api.host.get_record(master)
    assert host["address"] == sim.coordinator
    assert host["software_version"]["product_brand"] == "XenServer"
    assert host["license_params"]["restrict_dr"] == "false"
    assert api.pool.get_restrictions(pool)["restrict_dr"] == "false"
    assert api.host_metrics.get_live(host["metrics"]) is True
    assert int(api.host_metrics.get_memory_total(host["metrics"])) > 0
