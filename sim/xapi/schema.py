"""The XAPI classes the simulator serves, with every field a real host writes.

Field names are the API names (`name_label`, `memory_static_max`); the database dumps in
`xapi-db-samples/` store the same fields with namespaces joined by a double underscore
(`name__label`), which is also what `get_all_records_where` expressions use, so
`api_name(db_name)` maps one to the other. Field lists come from those dumps (schema 5.63)
plus the fields later releases added that reference §4 names (`domain_type`,
`generation_id`, `is_tools_sr`, `cbt_enabled`, `locking_mode`, `purpose` ...). Defaults
are what a fresh object of a real host carries (the dumps' most common values).

Types are the API's: a field's `kind` decides how setters coerce input and how
`get_all_records_where` compares it; values are plain Python values (see `db.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

NULL_REF = "OpaqueRef:NULL"
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Field kinds.
S = "string"  # also enums and uuids
I = "int"  # noqa: E741 - the datamodel's own one-letter vocabulary reads best here
F = "float"
B = "bool"
D = "datetime"
R = "ref"
SS = "string set"
RS = "ref set"
M = "map"  # string -> string unless `value_kind` says otherwise


@dataclass(frozen=True)
class Field:
    """One field of a class: API name, kind, default, writability and reference target."""

    name: str
    kind: str
    default: Any = None
    rw: bool = False
    target: str | None = None  # class of a ref / ref set
    value_kind: str = S  # for maps: kind of the values

    def fresh_default(self) -> Any:
        """A new default value (lists and dicts are never shared between objects)."""
        if self.default is not None:
            d = self.default
            return list(d) if isinstance(d, list) else dict(d) if isinstance(d, dict) else d
        return _KIND_DEFAULTS[self.kind]()


_KIND_DEFAULTS: dict[str, Callable[[], Any]] = {
    S: str,
    I: int,
    F: float,
    B: bool,
    D: lambda: EPOCH,
    R: lambda: NULL_REF,
    SS: list,
    RS: list,
    M: dict,
}


@dataclass
class ClassSpec:
    """A class of the datamodel: its fields in declaration order and what it exposes."""

    name: str
    fields: dict[str, Field] = field(default_factory=dict)
    get_all: bool = True  # has get_all / get_all_records(_where)
    in_db: bool = True  # stored in a Database (session is not)

    @property
    def has_name_label(self) -> bool:
        return "name_label" in self.fields

    def defaults(self) -> dict[str, Any]:
        return {n: f.fresh_default() for n, f in self.fields.items()}


def _f(name: str, kind: str, default: Any = None, rw: bool = False, **kw: Any) -> Field:
    return Field(name, kind, default, rw, **kw)


def _rw(name: str, kind: str, default: Any = None, **kw: Any) -> Field:
    return Field(name, kind, default, True, **kw)


def _ref(name: str, target: str, rw: bool = False) -> Field:
    return Field(name, R, None, rw, target=target)


def _refs(name: str, target: str) -> Field:
    return Field(name, RS, None, False, target=target)


def _named(rw: bool = True) -> list[Field]:
    return [_f("name_label", S, rw=rw), _f("name_description", S, rw=rw)]


def _ops(*allowed: str) -> list[Field]:
    return [_f("allowed_operations", SS, list(allowed)), _f("current_operations", M)]


def _plugged_device(metrics: str) -> list[Field]:
    """The fields a VBD and a VIF share: attachment state, QoS and a metrics object."""
    return [
        _f("reserved", B),
        _rw("other_config", M),
        _f("currently_attached", B),
        _f("status_code", I),
        _f("status_detail", S),
        _f("runtime_properties", M),
        _rw("qos_algorithm_type", S),
        _rw("qos_algorithm_params", M),
        _f("qos_supported_algorithms", SS),
        _f("metrics", R, target=metrics),
    ]


_TAGS = _rw("tags", SS)
_BLOBS = _f("blobs", M)

SOFTWARE_VERSION = {
    "product_version": "8.4.0",
    "product_version_text": "8.4",
    "product_version_text_short": "8.4",
    "platform_name": "XCP",
    "platform_version": "3.4.0",
    "product_brand": "XenServer",
    "build_number": "8.4.0",
    "hostname": "localhost",
    "date": "2026-08-01",
    "dbv": "0.0.1",
    "xapi": "24.19",
    "xen": "4.17.4-6",
    "linux": "4.19.0+1",
    "xencenter_min": "2.21",
    "xencenter_max": "2.23",
    "network_backend": "openvswitch",
}

# What a licensed (DR-capable) pool reports in pool.restrictions / host.license_params.
RESTRICTIONS_LICENSED = {
    "restrict_dr": "false",
    "restrict_vm_appliance_start": "false",
    "restrict_vswitch_controller": "false",
    "restrict_lab": "false",
    "restrict_stage": "false",
    "restrict_storagelink": "false",
    "restrict_storagelink_site_recovery": "false",
    "restrict_web_selfservice": "true",
    "restrict_web_selfservice_manager": "true",
    "restrict_hotfix_apply": "false",
    "restrict_export_resource_data": "false",
    "restrict_read_caching": "false",
    "restrict_cifs": "false",
    "restrict_health_check": "false",
    "restrict_xcm": "false",
    "restrict_vm_memory_introspection": "false",
    "restrict_batch_hotfix_apply": "false",
    "restrict_management_on_vlan": "false",
    "restrict_ws_proxy": "false",
    "restrict_vlan": "false",
    "restrict_qos": "false",
    "restrict_pool_attached_storage": "false",
    "restrict_netapp": "false",
    "restrict_equalogic": "false",
    "restrict_pooling": "false",
    "enable_xha": "true",
    "restrict_marathon": "false",
    "restrict_email_alerting": "false",
    "restrict_historical_performance": "false",
    "restrict_wlb": "false",
    "restrict_rbac": "false",
    "restrict_checkpoint": "false",
    "restrict_cpu_masking": "false",
    "restrict_connection": "false",
    "platform_filter": "false",
    "regular_nag_dialog": "false",
    "restrict_vmpr": "false",
    "restrict_vmss": "false",
    "restrict_intellicache": "false",
    "restrict_gpu": "false",
}
RESTRICTIONS_UNLICENSED = {
    **RESTRICTIONS_LICENSED,
    "restrict_dr": "true",
    "restrict_vm_appliance_start": "true",
}

_CLASS_FIELDS: dict[str, list[Field]] = {
    "pool": [
        _f("uuid", S),
        _rw("name_label", S),
        _rw("name_description", S),
        _ref("master", "host"),
        _ref("default_SR", "SR", rw=True),
        _ref("suspend_image_SR", "SR", rw=True),
        _ref("crash_dump_SR", "SR", rw=True),
        _rw("other_config", M),
        _f("ha_enabled", B),
        _f("ha_configuration", M),
        _f("ha_statefiles", SS),
        _f("ha_host_failures_to_tolerate", I),
        _f("ha_plan_exists_for", I),
        _rw("ha_allow_overcommit", B),
        _f("ha_overcommitted", B),
        _BLOBS,
        _TAGS,
        _rw("gui_config", M),
        _f("wlb_url", S),
        _f("wlb_username", S),
        _f("wlb_enabled", B),
        _f("wlb_verify_cert", B),
        _f("redo_log_enabled", B),
        _ref("redo_log_vdi", "VDI"),
        _f("vswitch_controller", S),
        _f("restrictions", M, RESTRICTIONS_LICENSED),
        _refs("metadata_VDIs", "VDI"),
        _f("ha_cluster_stack", S, "xhad"),
        _f("allowed_operations", SS),
        _f("current_operations", M),
        _f("guest_agent_config", M),
        _f("cpu_info", M),
        _f("policy_no_vendor_device", B),
        _f("live_patching_disabled", B),
        _f("igmp_snooping_enabled", B),
        _f("uefi_certificates", S),
        _f("is_psr_pending", B),
        _f("tls_verification_enabled", B),
        _f("repository_proxy_url", S),
        _f("client_certificate_auth_enabled", B),
        _f("migration_compression", B),
        _f("coordinator_bias", B, True),
    ],
    "host": [
        _f("uuid", S),
        *_named(),
        *_ops("provision", "evacuate", "reboot", "shutdown", "vm_start", "vm_resume"),
        _f("API_version_major", I, 2),
        _f("API_version_minor", I, 23),
        _f("API_version_vendor", S, "XenSource"),
        _f("API_version_vendor_implementation", M),
        _f("enabled", B, True),
        _f("software_version", M, SOFTWARE_VERSION),
        _rw("other_config", M),
        _f("capabilities", SS, ["xen-3.0-x86_64", "hvm-3.0-x86_32", "hvm-3.0-x86_64"]),
        _f("cpu_configuration", M),
        _f("sched_policy", S, "credit"),
        _f("supported_bootloaders", SS, ["pygrub", "eliloader"]),
        _refs("resident_VMs", "VM"),
        _rw("logging", M),
        _refs("PIFs", "PIF"),
        _ref("suspend_image_sr", "SR", rw=True),
        _ref("crash_dump_sr", "SR", rw=True),
        _f("crashdumps", RS),
        _f("patches", RS),
        _f("updates", RS),
        _refs("PBDs", "PBD"),
        _f("host_CPUs", RS),
        _f("cpu_info", M),
        _f("hostname", S),
        _f("address", S),
        _ref("metrics", "host_metrics"),
        _f("license_params", M, RESTRICTIONS_LICENSED),
        _f("ha_statefiles", SS),
        _f("ha_network_peers", SS),
        _BLOBS,
        _TAGS,
        _f("external_auth_type", S),
        _f("external_auth_service_name", S),
        _f("external_auth_configuration", M),
        _f("edition", S, "xcp-ng"),
        _f("license_server", M, {"address": "localhost", "port": "27000"}),
        _f("bios_strings", M),
        _f("power_on_mode", S),
        _f("power_on_config", M),
        _ref("local_cache_sr", "SR"),
        _f("chipset_info", M, {"iommu": "true"}),
        _f("PCIs", RS),
        _f("PGPUs", RS),
        _f("ssl_legacy", B),
        _f("guest_VCPUs_params", M),
        _f("display", S, "enabled"),
        _f("virtual_hardware_platform_versions", SS, ["0", "1", "2"]),
        _ref("control_domain", "VM"),
        _f("iscsi_iqn", S),
        _f("multipathing", B),
        _f("uefi_certificates", S),
        _f("certificates", RS),
        _f("editions", SS, ["xcp-ng"]),
        _f("tls_verification_enabled", B),
        _f("last_software_update", D),
        _f("https_only", B),
        _f("numa_affinity_policy", S, "default_policy"),
        _f("memory_overhead", I, 194228224),
        _f("boot_free_mem", I),
    ],
    "host_metrics": [
        _f("uuid", S),
        _f("memory_total", I),
        _f("memory_free", I),
        _f("live", B, True),
        _f("last_updated", D),
        _rw("other_config", M),
    ],
    "SR": [
        _f("uuid", S),
        *_named(),
        *_ops("forget", "vdi_create", "vdi_snapshot", "plug", "update", "destroy", "scan"),
        _refs("VDIs", "VDI"),
        _refs("PBDs", "PBD"),
        _f("virtual_allocation", I),
        _f("physical_utilisation", I),
        _f("physical_size", I),
        _f("type", S, "lvmoiscsi"),
        _f("content_type", S, "user"),
        _f("shared", B),
        _rw("other_config", M),
        _TAGS,
        _rw("sm_config", M),
        _BLOBS,
        _f("local_cache_enabled", B),
        _ref("introduced_by", "DR_task"),
        _f("clustered", B),
        _f("is_tools_sr", B),
        _f("default_vdi_visibility", B, True),
    ],
    "PBD": [
        _f("uuid", S),
        _ref("host", "host"),
        _ref("SR", "SR"),
        _f("device_config", M),
        _f("currently_attached", B),
        _rw("other_config", M),
    ],
    "VDI": [
        _f("uuid", S),
        *_named(),
        *_ops("clone", "destroy", "resize", "update", "snapshot", "copy"),
        _ref("SR", "SR"),
        _refs("VBDs", "VBD"),
        _f("crash_dumps", RS),
        _f("virtual_size", I),
        _f("physical_utilisation", I),
        _f("type", S, "user"),
        _f("sharable", B),
        _f("read_only", B),
        _rw("other_config", M),
        _f("storage_lock", B),
        _f("location", S),
        _f("managed", B, True),
        _f("missing", B),
        _ref("parent", "VDI"),
        _rw("xenstore_data", M),
        _rw("sm_config", M),
        _f("is_a_snapshot", B),
        _ref("snapshot_of", "VDI"),
        _refs("snapshots", "VDI"),
        _f("snapshot_time", D),
        _TAGS,
        _f("allow_caching", B),
        _f("on_boot", S, "persist"),
        _ref("metadata_of_pool", "pool"),
        _f("metadata_latest", B),
        _f("is_tools_iso", B),
        _f("cbt_enabled", B),
    ],
    "VBD": [
        _f("uuid", S),
        *_ops("attach"),
        _ref("VM", "VM"),
        _ref("VDI", "VDI"),
        _f("device", S),
        _rw("userdevice", S, "0"),
        _rw("bootable", B),
        _f("mode", S, "RW"),
        _f("type", S, "Disk"),
        _rw("unpluggable", B, True),
        _f("storage_lock", B),
        _f("empty", B),
        *_plugged_device("VBD_metrics"),
    ],
    "VIF": [
        _f("uuid", S),
        *_ops("attach"),
        _f("device", S, "0"),
        _ref("network", "network"),
        _ref("VM", "VM"),
        _f("MAC", S),
        _f("MTU", I, 1500),
        *_plugged_device("VIF_metrics"),
        _f("MAC_autogenerated", B, True),
        _f("locking_mode", S, "network_default"),
        _f("ipv4_allowed", SS),
        _f("ipv6_allowed", SS),
        _f("ipv4_configuration_mode", S, "None"),
        _f("ipv4_addresses", SS),
        _f("ipv4_gateway", S),
        _f("ipv6_configuration_mode", S, "None"),
        _f("ipv6_addresses", SS),
        _f("ipv6_gateway", S),
        _f("reserved_pci", R),
    ],
    "network": [
        _f("uuid", S),
        *_named(),
        *_ops(),
        _refs("VIFs", "VIF"),
        _refs("PIFs", "PIF"),
        _rw("MTU", I, 1500),
        _rw("other_config", M),
        _f("bridge", S),
        _f("managed", B, True),
        _BLOBS,
        _TAGS,
        _f("default_locking_mode", S, "unlocked"),
        _f("assigned_ips", M),
        _f("purpose", SS),
    ],
    "PIF": [
        _f("uuid", S),
        _f("device", S),
        _ref("network", "network"),
        _ref("host", "host"),
        _f("MAC", S),
        _f("MTU", I, 1500),
        _f("VLAN", I, -1),
        _f("metrics", R, target="PIF_metrics"),
        _f("physical", B, True),
        _f("currently_attached", B, True),
        _f("ip_configuration_mode", S, "None"),
        _f("IP", S),
        _f("netmask", S),
        _f("gateway", S),
        _f("DNS", S),
        _f("bond_slave_of", R),
        _f("bond_master_of", RS),
        _f("VLAN_master_of", R),
        _f("VLAN_slave_of", RS),
        _f("management", B),
        _rw("other_config", M),
        _rw("disallow_unplug", B),
        _f("tunnel_access_PIF_of", RS),
        _f("tunnel_transport_PIF_of", RS),
        _f("ipv6_configuration_mode", S, "None"),
        _f("IPv6", SS),
        _f("ipv6_gateway", S),
        _f("primary_address_type", S, "IPv4"),
        _f("managed", B, True),
        _f("properties", M),
        _f("capabilities", SS),
        _f("igmp_snooping_status", S, "unknown"),
        _f("sriov_physical_PIF_of", RS),
        _f("sriov_logical_PIF_of", RS),
        _f("PCI", R),
    ],
    "VM": [
        _f("uuid", S),
        *_ops(
            "changing_dynamic_range",
            "changing_static_range",
            "destroy",
            "export",
            "start_on",
            "start",
            "clone",
            "copy",
            "snapshot",
        ),
        _f("power_state", S, "Halted"),
        *_named(),
        _rw("user_version", I, 1),
        _rw("is_a_template", B),
        _f("is_default_template", B),
        _ref("suspend_VDI", "VDI"),
        _ref("resident_on", "host"),
        _ref("scheduled_to_be_resident_on", "host"),
        _ref("affinity", "host", rw=True),
        _f("memory_overhead", I, 10485760),
        _f("memory_target", I, 1073741824),
        _f("memory_static_max", I, 1073741824),
        _f("memory_dynamic_max", I, 1073741824),
        _f("memory_dynamic_min", I, 1073741824),
        _f("memory_static_min", I, 536870912),
        _rw("VCPUs_params", M),
        _f("VCPUs_max", I, 1),
        _f("VCPUs_at_startup", I, 1),
        _rw("actions_after_softreboot", S, "soft_reboot"),
        _rw("actions_after_shutdown", S, "destroy"),
        _rw("actions_after_reboot", S, "restart"),
        _f("actions_after_crash", S, "restart"),
        _f("consoles", RS),
        _refs("VIFs", "VIF"),
        _refs("VBDs", "VBD"),
        _f("VUSBs", RS),
        _f("crash_dumps", RS),
        _f("VTPMs", RS),
        _rw("PV_bootloader", S),
        _rw("PV_kernel", S),
        _rw("PV_ramdisk", S),
        _rw("PV_args", S),
        _rw("PV_bootloader_args", S),
        _rw("PV_legacy_args", S),
        _rw("HVM_boot_policy", S, "BIOS order"),
        _rw("HVM_boot_params", M, {"order": "cd"}),
        _f("HVM_shadow_multiplier", F, 1.0),
        _rw("platform", M, {"acpi": "1", "apic": "true", "pae": "true", "viridian": "true"}),
        _rw("PCI_bus", S),
        _rw("other_config", M),
        _f("domid", I, -1),
        _f("domarch", S),
        _f("last_boot_CPU_flags", M),
        _f("is_control_domain", B),
        _ref("metrics", "VM_metrics"),
        _ref("guest_metrics", "VM_guest_metrics"),
        _f("last_booted_record", S),
        _rw("recommendations", S),
        _rw("xenstore_data", M),
        _rw("ha_always_run", B),
        _f("ha_restart_priority", S),
        _f("is_a_snapshot", B),
        _ref("snapshot_of", "VM"),
        _refs("snapshots", "VM"),
        _f("snapshot_time", D),
        _f("transportable_snapshot_id", S),
        _BLOBS,
        _TAGS,
        _f("blocked_operations", M),
        _f("snapshot_info", M),
        _f("snapshot_metadata", S),
        _ref("parent", "VM"),
        _refs("children", "VM"),
        _f("bios_strings", M),
        _f("protection_policy", R),
        _f("is_snapshot_from_vmpp", B),
        _f("snapshot_schedule", R),
        _f("is_vmss_snapshot", B),
        _ref("appliance", "VM_appliance", rw=True),
        _f("start_delay", I),
        _f("shutdown_delay", I),
        _f("order", I),
        _f("VGPUs", RS),
        _f("attached_PCIs", RS),
        _rw("suspend_SR", R),
        _f("version", I),
        _f("generation_id", S),
        _f("hardware_platform_version", I),
        _f("has_vendor_device", B),
        _f("requires_reboot", B),
        _f("reference_label", S),
        _f("domain_type", S, "hvm"),
        _f("NVRAM", M),
        _f("pending_guidances", SS),
    ],
    "VM_metrics": [
        _f("uuid", S),
        _f("memory_actual", I),
        _f("VCPUs_number", I),
        _f("VCPUs_utilisation", M, value_kind=F),
        _f("VCPUs_CPU", M, value_kind=I),
        _f("VCPUs_params", M),
        _f("VCPUs_flags", M),
        _f("state", SS),
        _f("start_time", D),
        _f("install_time", D),
        _f("last_updated", D),
        _rw("other_config", M),
        _f("hvm", B),
        _f("nested_virt", B),
        _f("nomigrate", B),
        _f("current_domain_type", S, "unspecified"),
    ],
    "VM_guest_metrics": [
        _f("uuid", S),
        _f("os_version", M),
        _f("PV_drivers_version", M),
        _f("PV_drivers_up_to_date", B),
        _f("memory", M),
        _f("disks", M),
        _f("networks", M),
        _f("other", M),
        _f("last_updated", D),
        _rw("other_config", M),
        _f("live", B, True),
        _f("can_use_hotplug_vbd", S, "unspecified"),
        _f("can_use_hotplug_vif", S, "unspecified"),
        _f("PV_drivers_detected", B),
    ],
    "VM_appliance": [
        _f("uuid", S),
        *_named(),
        *_ops("start"),
        _refs("VMs", "VM"),
    ],
    "DR_task": [
        _f("uuid", S),
        _refs("introduced_SRs", "SR"),
    ],
    "task": [
        _f("uuid", S),
        *_named(rw=False),
        *_ops("cancel", "destroy"),
        _f("created", D),
        _f("finished", D),
        _f("status", S, "pending"),
        _ref("resident_on", "host"),
        _f("progress", F),
        _f("type", S, "<none/>"),
        _f("result", S),
        _f("error_info", SS),
        _rw("other_config", M),
        _ref("subtask_of", "task"),
        _refs("subtasks", "task"),
        _f("backtrace", S, "()"),
    ],
    "SM": [
        _f("uuid", S),
        *_named(rw=False),
        _f("type", S),
        _f("vendor", S),
        _f("copyright", S),
        _f("version", S, "1.0"),
        _f("required_api_version", S, "1.0"),
        _f("configuration", M),
        _f("capabilities", SS),
        _f("features", M, value_kind=I),
        _rw("other_config", M),
        _f("driver_filename", S),
        _f("required_cluster_stack", SS),
    ],
    "message": [
        _f("uuid", S),
        _f("name", S),
        _f("priority", I),
        _f("cls", S),
        _f("obj_uuid", S),
        _f("timestamp", D),
        _f("body", S),
    ],
    "session": [
        _f("uuid", S),
        _ref("this_host", "host"),
        _f("this_user", R),
        _f("last_active", D),
        _f("pool", B),
        _rw("other_config", M),
        _f("is_local_superuser", B),
        _f("subject", R),
        _f("validation_time", D),
        _f("auth_user_sid", S),
        _f("auth_user_name", S),
        _f("rbac_permissions", SS),
        _f("tasks", RS),
        _f("parent", R),
        _f("originator", S),
        _f("client_certificate", B),
    ],
}

CLASSES: dict[str, ClassSpec] = {
    name: ClassSpec(name, {f.name: f for f in fields}) for name, fields in _CLASS_FIELDS.items()
}
CLASSES["session"].get_all = False
CLASSES["session"].in_db = False
CLASSES["message"].get_all = True

# Lower-case name -> class name, for event.from subscriptions and event class names.
BY_LOWER = {name.lower(): name for name in CLASSES}

# (class, ref field) <-> (class, set field): the set is the reverse side of the reference and
# the database keeps both in step.
REVERSE: list[tuple[tuple[str, str], tuple[str, str]]] = [
    (("VBD", "VM"), ("VM", "VBDs")),
    (("VIF", "VM"), ("VM", "VIFs")),
    (("VBD", "VDI"), ("VDI", "VBDs")),
    (("VDI", "SR"), ("SR", "VDIs")),
    (("PBD", "SR"), ("SR", "PBDs")),
    (("PBD", "host"), ("host", "PBDs")),
    (("VIF", "network"), ("network", "VIFs")),
    (("PIF", "network"), ("network", "PIFs")),
    (("PIF", "host"), ("host", "PIFs")),
    (("VM", "appliance"), ("VM_appliance", "VMs")),
    (("SR", "introduced_by"), ("DR_task", "introduced_SRs")),
    (("VDI", "metadata_of_pool"), ("pool", "metadata_VDIs")),
    (("VM", "resident_on"), ("host", "resident_VMs")),
    (("VM", "snapshot_of"), ("VM", "snapshots")),
    (("VM", "parent"), ("VM", "children")),
    (("VDI", "snapshot_of"), ("VDI", "snapshots")),
    (("task", "subtask_of"), ("task", "subtasks")),
]
# class -> [(ref field, target class, set field)] for quick updates on write.
REFS_WITH_SETS: dict[str, list[tuple[str, str, str]]] = {}
for (_cls, _fld), (_tcls, _tset) in REVERSE:
    REFS_WITH_SETS.setdefault(_cls, []).append((_fld, _tcls, _tset))
# target class -> [(pointing class, ref field, set field on target)].
POINTED_BY: dict[str, list[tuple[str, str, str]]] = {}
for (_cls, _fld), (_tcls, _tset) in REVERSE:
    POINTED_BY.setdefault(_tcls, []).append((_cls, _fld, _tset))


def spec(cls: str) -> ClassSpec:
    """The spec of `cls` (KeyError for classes the simulator does not know)."""
    return CLASSES[cls]


def api_name(db_or_api_name: str) -> str:
    """`name__label` (database column) -> `name_label` (API field); API names pass through."""
    return db_or_api_name.replace("__", "_")
