"""The three kinds of run: test failover, failover (planned or not) and failback.

Each kind module has `execute(ctx) -> Result` and `abort(ctx) -> Result`; both are idempotent
over the run's journal, so the runner resumes a run by calling `execute` again. What they share:
`context` (the run's context and per-VM outcomes), `lookups` (reading a pool), `storage_steps`
(the array adapter and attaching SRs), `recovery` (recover and start in vApp order), `shutdown`
(reverse order), `cleanup` (remove what the run created, verify), `ha` (HA off and back on).

Every side effect goes through the run's journal (synchronous ones through `Journal.effect`,
Async ones through `engine.executor`), keyed so that a resumed run skips what is done and checks
the world for what was begun:

    storage:<action>:<lun>      present_test_copy / promote / reverse / sync / remove_test_copy
    attach:<sr uuid>            DR_task.create for a LUN (result: dr_task uuid, introduced SRs)
    expand:metadata             a blind plan's list of vApps and VMs, read from the metadata
    recover:app:<uuid>          Async.VM_appliance.recover
    recover:vm:<uuid>           Async.VM.recover (standalone VMs)
    start:vm:<uuid>             Async.VM.start_on / VM.start
    shutdown:<pool>:vm:<uuid>   Async.VM.clean_shutdown (planned failover, failback)
    ha:disable, ha:restore      HA off for a test failover, and back on
    mark:rto-start, mark:rto-end
    cleanup:..., finish:drtask:..., rearm:..., dr-clean:...   undo and housekeeping
"""

from __future__ import annotations

from engine.kinds import failback, failover, test_failover
from engine.kinds.result import Result

KINDS = {
    "test-failover": test_failover,
    "failover": failover,
    "failback": failback,
}

__all__ = ["KINDS", "Result"]
