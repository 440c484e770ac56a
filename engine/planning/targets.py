"""What a person's target names: vApps and standalone VMs resolved against the records.

A vApp is recovered whole (`VM_appliance.recover`); naming a member VM selects its vApp and
says so. "all" selects every vApp with a member and every standalone real VM; a name that
matches nothing is refused with the near misses, one that matches several VMs as ambiguous.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from engine import messages as m
from engine.errors import TargetNotFound
from engine.models import ApplianceInfo, Check, VMInfo
from engine.protection import Records

# Items that select everything.
EVERYTHING = ("all", "*", "everything")


def parse_target(target: str | Sequence[str]) -> list[str]:
    """Split a target ("all", "app:payments, vm:jump-01", a list) into its items."""
    items = [target] if isinstance(target, str) else list(target)
    out: list[str] = []
    for item in items:
        out += [p.strip() for p in re.split(r"[,;\n]+", item) if p.strip()]
    if not out:
        raise TargetNotFound(m.TARGET_EMPTY)
    return out


def names_everything(items: list[str]) -> bool:
    """Whether one of the items selects everything."""
    return any(i.lower() in EVERYTHING for i in items)


@dataclass
class Selection:
    """What a target selected, in target order, and what the person should be told."""

    appliances: list[ApplianceInfo] = field(default_factory=list)  # in target order
    vms: list[VMInfo] = field(default_factory=list)  # standalone
    explicit: set[str] = field(default_factory=set)  # uuids named explicitly
    notes: list[Check] = field(default_factory=list)


def select(records: Records, items: list[str], pool_name: str) -> Selection:
    """Resolve target items against the records: vApps by name or uuid, VMs by name or uuid.

    Raises:
        TargetNotFound: an item names nothing, or several VMs.
    """
    sel = Selection()
    real = records.real_vms()
    apps = list(records.appliances.values())
    if names_everything(items):
        sel.appliances = sorted(
            (a for a in apps if any(records.vms.get(v) for v in a.vms)), key=lambda a: a.name_label
        )
        sel.vms = sorted((v for v in real if v.appliance is None), key=lambda v: v.name_label)
        return sel
    for item in items:
        kind, _, name = item.partition(":") if ":" in item else ("", "", item)
        kind = kind.lower()
        found_app = [a for a in apps if name in (a.name_label, a.uuid)] if kind != "vm" else []
        if found_app and kind in ("", "app", "vapp"):
            app = found_app[0]
            if app not in sel.appliances:
                sel.appliances.append(app)
                sel.explicit.add(app.uuid)
            continue
        matches = [v for v in real if name in (v.name_label, v.uuid)] if kind != "app" else []
        if not matches:
            raise TargetNotFound(
                m.TARGET_NOT_FOUND.format(name=m.shown(item), pool=pool_name)
                + _did_you_mean(name, [a.name_label for a in apps] + [v.name_label for v in real])
            )
        if len(matches) > 1:
            raise TargetNotFound(
                m.TARGET_AMBIGUOUS.format(name=m.shown(name), count=len(matches), pool=pool_name)
            )
        vm = matches[0]
        sel.explicit.add(vm.uuid)
        if vm.appliance and vm.appliance in records.appliances:
            app = records.appliances[vm.appliance]
            sel.notes.append(
                Check(
                    name="vapp-whole",
                    status="warning",
                    subject=vm.name_label,
                    message=m.TARGET_IS_MEMBER.format(name=vm.name_label, app=app.name_label),
                )
            )
            if app not in sel.appliances:
                sel.appliances.append(app)
                sel.explicit.add(app.uuid)
        elif vm not in sel.vms:
            sel.vms.append(vm)
    return sel


def failed_over_only(sel: Selection, records: Records, replicated: set[str]) -> Selection:
    """Only VMs that live on the failed-over LUNs go back; the DR pool's own VMs stay (unless
    named). For a kind whose policy says `only_failed_over_vms` (a failback)."""

    def on_replicated(vm: VMInfo) -> bool:
        return {sr.uuid for sr in records.disk_srs(vm)} <= replicated

    sel.appliances = [
        a
        for a in sel.appliances
        if all(on_replicated(records.vms[v]) for v in a.vms if v in records.vms)
        or a.uuid in sel.explicit
    ]
    sel.vms = [
        v for v in sel.vms if (records.disk_srs(v) and on_replicated(v)) or v.uuid in sel.explicit
    ]
    return sel


def _did_you_mean(name: str, known: list[str]) -> str:
    """ " Did you mean 'x'?" for a near miss (case, a typo), else ""."""
    by_lower = {k.lower(): k for k in known if k}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.75)
    if not close:
        return ""
    return " " + m.TARGET_DID_YOU_MEAN.format(names=" or ".join(repr(by_lower[c]) for c in close))
