"""The Database of sim/xapi: defaults, reverse sets, write hooks, events and copies."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from sim.xapi import schema
from sim.xapi.db import Database
from sim.xapi.errors import XapiError
from sim.xapi.schema import NULL_REF


def test_create_fills_every_field_with_its_default_and_a_uuid():
    """A created object has every schema field, real-host defaults and a fresh uuid."""
    db = Database()
    vm = db.create("VM", {"name_label": "a"})
    rec = db.get("VM", vm)
    assert set(rec) == set(schema.spec("VM").fields)
    assert rec["power_state"] == "Halted"
    assert rec["domid"] == -1
    assert rec["HVM_shadow_multiplier"] == 1.0
    assert rec["snapshot_time"] == datetime(1970, 1, 1, tzinfo=UTC)
    assert len(rec["uuid"]) == 36
    assert vm.startswith("OpaqueRef:")
    assert db.by_uuid("VM", rec["uuid"]) == vm


def test_get_returns_a_copy():
    """Mutating what get returns does not change the database."""
    db = Database()
    vm = db.create("VM", {"other_config": {"a": "1"}})
    db.get("VM", vm)["other_config"]["b"] = "2"
    assert db.get("VM", vm)["other_config"] == {"a": "1"}


def test_reverse_sets_follow_create_set_and_delete():
    """VBD.VM fills VM.VBDs on create, moves on set, and leaves on delete."""
    db = Database()
    a, b = db.create("VM", {}), db.create("VM", {})
    vbd = db.create("VBD", {"VM": a})
    assert db.get("VM", a)["VBDs"] == [vbd]
    db.set("VBD", vbd, VM=b)
    assert db.get("VM", a)["VBDs"] == []
    assert db.get("VM", b)["VBDs"] == [vbd]
    db.delete("VBD", vbd)
    assert db.get("VM", b)["VBDs"] == []


def test_deleting_a_target_nulls_the_tracked_references_to_it():
    """Deleting a vApp turns its VMs' appliance into OpaqueRef:NULL."""
    db = Database()
    app = db.create("VM_appliance", {"name_label": "x"})
    vm = db.create("VM", {"appliance": app})
    db.delete("VM_appliance", app)
    assert db.get("VM", vm)["appliance"] == NULL_REF


def test_a_reference_to_a_missing_object_is_kept_as_given():
    """A ref to an object this database lacks is stored unchanged (foreign refs)."""
    db = Database()
    vdi = db.create("VDI", {"metadata_of_pool": "OpaqueRef:other-pool"})
    assert db.get("VDI", vdi)["metadata_of_pool"] == "OpaqueRef:other-pool"


def test_unknown_class_field_and_ref_are_errors():
    """Unknown fields are a ValueError; a missing ref is HANDLE_INVALID [cls, ref]."""
    db = Database()
    with pytest.raises(ValueError, match="no field"):
        db.create("VM", {"colour": "red"})
    with pytest.raises(XapiError) as e:
        db.set("SR", "OpaqueRef:x", name_label="y")
    assert e.value.description == ["HANDLE_INVALID", "SR", "OpaqueRef:x"]
    with pytest.raises(XapiError) as e:
        db.by_uuid("VM", "nope")
    assert e.value.description == ["UUID_INVALID", "VM", "nope"]


def test_every_write_bumps_the_generation_once():
    """create, set (of several fields) and delete each bump the generation by one."""
    db = Database()
    g0 = db.generation
    vm = db.create("VM", {})
    db.set("VM", vm, name_label="a", name_description="b")
    db.delete("VM", vm)
    assert db.generation == g0 + 3


def test_write_hook_sees_every_touched_object():
    """on_write reports add, mod (with the whole record, reverse-set followers too) and del."""
    db = Database()
    vm = db.create("VM", {"name_label": "a"})
    seen: list = []
    db.on_write(lambda op, cls, ref, rec: seen.append((op, cls, ref, rec and rec.get("VBDs"))))
    vbd = db.create("VBD", {"VM": vm})
    assert ("add", "VBD", vbd, None) in seen
    assert ("mod", "VM", vm, [vbd]) in seen
    seen.clear()
    db.delete("VBD", vbd)
    assert seen == [("del", "VBD", vbd, None), ("mod", "VM", vm, [])]
    seen.clear()
    db.touch("VM", vm)
    assert seen == []


def test_changes_since_coalesce_and_skip_short_lived_objects():
    """changes_since gives one entry per object, add vs mod by creation, no ephemeral dels."""
    db = Database()
    vm = db.create("VM", {})
    since = db.generation
    db.set("VM", vm, name_label="1")
    db.set("VM", vm, name_label="2")
    new = db.create("VM", {})
    brief = db.create("VM", {})
    db.delete("VM", brief)
    with db.lock:
        live, deleted = db.changes_since(since, {"VM"})
    assert sorted((ref, op) for _, ref, op, _ in live) == sorted([(vm, "mod"), (new, "add")])
    assert deleted == []


def test_json_round_trip_and_copy_are_faithful_and_independent():
    """to_json/from_json and copy keep refs, values and generation; copies are independent."""
    db = Database("primary")
    vm = db.create(
        "VM", {"name_label": "a", "snapshot_time": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}
    )
    vbd = db.create("VBD", {"VM": vm})
    restored = Database.from_json(json.loads(json.dumps(db.to_json())))
    assert restored.get("VM", vm) == db.get("VM", vm)
    assert restored.get("VBD", vbd) == db.get("VBD", vbd)
    assert restored.generation == db.generation
    clone = db.copy()
    clone.set("VM", vm, name_label="changed")
    assert db.get("VM", vm)["name_label"] == "a"
    tables = Database.from_tables(db.tables(), 42)
    assert tables.generation == 42
    assert tables.get("VM", vm) == db.get("VM", vm)
