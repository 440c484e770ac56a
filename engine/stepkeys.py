"""The keys of a run's journal: one constructor per kind of step, and `parse` to read one back.

Every side effect of a run is journaled under a key unique within the run, so a resumed run
skips what is done and cleanup finds what the run created. The key's text is what the store
keeps (`str(key)`); this module is the only place that knows its shape:

    storage:<action>:<lun>      present_test_copy / promote / reverse / sync / remove_test_copy
    storage:reprotect:<lun>     the `reverse` that ends a failback (re-protection)
    attach:<sr uuid>            DR_task.create for a LUN (result: dr_task uuid, introduced SRs)
    expand:metadata             a blind plan's list of vApps and VMs, read from the metadata
    recover:app:<uuid>          Async.VM_appliance.recover
    recover:vm:<uuid>           Async.VM.recover (standalone VMs)
    start:vm:<uuid>             Async.VM.start_on / VM.start
    shutdown:<pool>:vm:<uuid>   Async.VM.clean_shutdown (planned failover, failback)
    ha:disable, ha:restore      HA off for a test failover, and back on
    mark:<name>                 a journaled moment (rto-start, rto-end)
    cleanup:stop:vm:<uuid>      stop a VM the run recovered
    cleanup:<what>:<uuid>       remove a VM, vApp, network, DR_task or SR the run created
    finish:drtask:<uuid>        destroy a DR_task once recovery is done (or one that attached
                                nothing, or that a failed DR_task.create left)
    network:<name>              make a network the destination lacks, before recovery
    rearm:<sr uuid>             turn metadata replication on at the destination
    dr-clean:<what>:<uuid>      a failback removes the DR site's copy (vm, app, sr)
    snapshot:networks           the destination's networks before recovery (to tell the ones
                                recovery created)

The last part (a uuid, a LUN name) may itself contain `:`; `parse` knows each verb's arity.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Verb(StrEnum):
    """What kind of step a key names (its first part)."""

    STORAGE = "storage"
    ATTACH = "attach"
    EXPAND = "expand"
    RECOVER = "recover"
    START = "start"
    SHUTDOWN = "shutdown"
    HA = "ha"
    MARK = "mark"
    CLEANUP = "cleanup"
    FINISH = "finish"
    REARM = "rearm"
    DR_CLEAN = "dr-clean"
    SNAPSHOT = "snapshot"
    NETWORK = "network"


# How many parts follow the verb; the last one takes whatever remains (it may hold ':').
_ARITY = {
    Verb.STORAGE: 2,
    Verb.ATTACH: 1,
    Verb.EXPAND: 1,
    Verb.RECOVER: 2,
    Verb.START: 2,
    Verb.SHUTDOWN: 3,
    Verb.HA: 1,
    Verb.MARK: 1,
    Verb.FINISH: 2,
    Verb.REARM: 1,
    Verb.DR_CLEAN: 2,
    Verb.SNAPSHOT: 1,
    Verb.NETWORK: 1,
}


@dataclass(frozen=True, order=True)
class StepKey:
    """One journal key: a verb and its parts. `subject` is the last part (a uuid, a LUN)."""

    verb: Verb
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return ":".join((self.verb.value, *self.parts))

    @property
    def subject(self) -> str:
        return self.parts[-1] if self.parts else ""

    @classmethod
    def parse(cls, text: str) -> StepKey:
        """The key a journal row was written under; raises ValueError for text of no key."""
        head, _, rest = text.partition(":")
        verb = Verb(head)
        # cleanup:stop:vm:<uuid> or cleanup:<what>:<uuid>
        cleanup_arity = 3 if rest.startswith("stop:") else 2
        arity = cleanup_arity if verb is Verb.CLEANUP else _ARITY[verb]
        parts = tuple(rest.split(":", arity - 1))
        if len(parts) != arity or not all(parts):
            raise ValueError(f"not a journal key: {text!r}")
        return cls(verb, parts)


def storage(action: str, lun: str) -> StepKey:
    return StepKey(Verb.STORAGE, (action, lun))


def reprotect(lun: str) -> StepKey:
    return StepKey(Verb.STORAGE, ("reprotect", lun))


def attach(sr_uuid: str) -> StepKey:
    return StepKey(Verb.ATTACH, (sr_uuid,))


EXPAND_METADATA = StepKey(Verb.EXPAND, ("metadata",))
HA_DISABLE = StepKey(Verb.HA, ("disable",))
HA_RESTORE = StepKey(Verb.HA, ("restore",))
NETWORKS_BEFORE = StepKey(Verb.SNAPSHOT, ("networks",))


def recover_app(uuid: str) -> StepKey:
    return StepKey(Verb.RECOVER, ("app", uuid))


def recover_vm(uuid: str) -> StepKey:
    return StepKey(Verb.RECOVER, ("vm", uuid))


def start_vm(uuid: str) -> StepKey:
    return StepKey(Verb.START, ("vm", uuid))


def shutdown_vm(pool: str, uuid: str) -> StepKey:
    return StepKey(Verb.SHUTDOWN, (pool, "vm", uuid))


def mark(name: str) -> StepKey:
    return StepKey(Verb.MARK, (name,))


def cleanup_stop_vm(uuid: str) -> StepKey:
    return StepKey(Verb.CLEANUP, ("stop", "vm", uuid))


def cleanup(what: str, uuid: str) -> StepKey:
    return StepKey(Verb.CLEANUP, (what, uuid))


def finish_dr_task(uuid: str) -> StepKey:
    return StepKey(Verb.FINISH, ("drtask", uuid))


def network(name: str) -> StepKey:
    return StepKey(Verb.NETWORK, (name,))


def rearm(sr_uuid: str) -> StepKey:
    return StepKey(Verb.REARM, (sr_uuid,))


def dr_clean(what: str, uuid: str) -> StepKey:
    return StepKey(Verb.DR_CLEAN, (what, uuid))
