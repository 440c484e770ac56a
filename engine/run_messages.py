"""User-facing strings of runs (the runner and the three kinds), in one place.

`engine/messages.py` holds the client's, the planner's and configuration's strings; these are the
ones a person reads about a run: why it will not start, where it stopped, what to do next.

The engine knows no front end: a refusal naming a command marks it `⟦abort {run_id}⟧` (the
`/dr` grammar, no prefix; commands/hints.py), and the Slack bot and the CLI spell it as typed
there. Texts shown outside a refusal (a run's end, cleanup) still say `drbot ...`, and the two
that hold a pool name both spellings (tests/hardening/test_interrupted_keeps_pool.py).
"""

from __future__ import annotations

PLAN_BLOCKED = (
    "The plan has {count} blocker(s): {items}. Fix them (see `drbot plan`) and plan again; "
    "a run never starts past a blocker."
)
PLAN_EDITED = (
    "The plan no longer matches its hash {hash}: it was changed after it was made (and "
    "approved). Plan again and have the new plan approved."
)
PLAN_UNSEALED = "The plan has no hash; make it with the planner (it seals the plan) and retry."
POOL_BUSY = (
    "Pool {pool!r} is busy with run {run_id} ({state}); wait for it to end (⟦show {run_id}⟧), "
    "or cancel it."
)
POOL_HELD_INTERRUPTED = (
    "Pool {pool!r} is held by run {run_id}, interrupted with work half done ({why}); nothing "
    "else may touch the pool until that run is finished or undone: `drbot resume {run_id}` "
    "(in Slack `/dr resume {run_id}`) to finish it, or `drbot abort {run_id}` "
    "(`/dr abort {run_id}`) to undo what it made."
)
POOL_HELD_PAUSED = (
    "Pool {pool!r} is held by run {run_id}, paused until a person does a storage step: do it, "
    "then `drbot resume {run_id} --storage-done` (in Slack the step's Done button), or "
    "`drbot abort {run_id}` (`/dr abort {run_id}`) to undo what it made."
)
RUN_DRIVEN_HERE_ELSEWHERE = (
    "Run {run_id} is {state} and its process is alive ({holder}, this host): it is not stuck. "
    "Wait for it, or stop that process; once it is gone, ⟦{action} {run_id}⟧ takes over "
    "at once."
)
RUN_DRIVEN_ELSEWHERE = (
    "Run {run_id} is {state}, driven by {holder}; drbot cannot tell from here whether that "
    "process still works. Its lease expires at {until} (in {left} s): if it still works, wait "
    "for it; if it is gone, ⟦{action} {run_id}⟧ takes over then."
)
CANNOT_RESUME = (
    "Run {run_id} is {state}; only an interrupted or paused run can be resumed "
    "(see ⟦show {run_id}⟧)."
)
CANNOT_ABORT = (
    "Run {run_id} is {state}; only a running, paused, interrupted, failed or cancelled run "
    "can be aborted."
)
CANNOT_CANCEL = (
    "Run {run_id} is {state}; only a queued, running or paused run can be cancelled (an "
    "interrupted one is aborted: ⟦abort {run_id}⟧)."
)
NOT_RUNNING_HERE = "Run {run_id} is not driven by this process; cancel it where it runs."
UNKNOWN_POOL_CLIENT = "No connection to pool {pool!r}; add it to [pools] in the configuration."
NO_METADATA = (
    "No metadata VDI holding {what} was found on the attached SRs; check that the replicated "
    "SRs holding the pool's metadata were attached and scanned, and plan again."
)
ATTACH_NO_CONFIG = (
    "LUN {lun} has no device_config to attach it with at the destination; check the storage "
    "adapter's state (`drbot status`) or present the mirror by hand."
)
ATTACH_FAILED = (
    "Could not attach the replicated SRs: {items}. Check that the mirror (or test copy) is "
    "presented to the DR site and writable."
)
LEFT_BEHIND = (
    "Cleanup left {items} behind in pool {pool!r}; remove them by hand or `drbot abort {run_id}`."
)
NOT_IN_METADATA = (
    "not in the replicated metadata (created inside the replication lag?); a planned failover "
    "syncs first, or recover it once replication has caught up"
)
NOT_PROTECTED = (
    "{why}; not tried: it cannot come back at the DR site until its disks are on replicated "
    "storage (readiness lists every such VM)"
)
SR_NOT_ATTACHED = "not run: it needs SR {srs}, which the run could not attach (see its notes)"
APP_MEMBER_LEFT_OUT = (
    "not run: vApp {app} is recovered whole or not at all, and its member {vm} cannot be: {why}"
)
ABORT_NEEDS_MANUAL = (
    "The abort needs a storage step done by hand: {step} Then `drbot abort {run_id}` again."
)
LOST_CONTACT = (
    "Lost contact with a pool ({error}); the run is interrupted where its journal says and "
    "keeps its pools. When the pool answers again, `drbot resume {run_id}` (or `drbot abort "
    "{run_id}`)."
)
RECOVER_VM = "recover VM"
RECOVER_APP = "recover vApp"
START_VM = "start VM"
NOT_RECOVERED_NOT_STARTED = "not started: it was not recovered ({status})"
SHUTDOWN_VM = "shut down VM"
ABORT_IRREVERSIBLE = (
    "Not undone (irreversible): {items}; re-protect the pools by hand if they must go back."
)
RESTART_VM = "start VM again"
ABORT_REMOVED = "Recovered VMs, vApps and attached SRs were removed."
ABORT_FAILBACK_REMOVED = "What the failback recovered on the primary was removed."
ABORT_NOTHING_CREATED = "Nothing had been recovered or attached at {pool!r} yet."
ABORT_RESTARTED = (
    "Started again at {pool!r}, in vApp order, the VMs this run had shut down there: {items}."
)
ABORT_ALREADY_RUNNING = "Already running again at {pool!r} (left as they are): {items}."
ABORT_RESTART_FAILED = (
    "Not started again at {pool!r}: {items}. Start them there by hand (xe vm-start), or "
    "`drbot abort {run_id}` again to retry."
)
ABORT_NOT_RESTARTED_PROMOTED = (
    "Not started again at {pool!r}: {items}, which this run shut down there. The run had "
    "promoted (or asked to promote) LUN {luns} for {dest!r}, so the disks at {pool!r} may no "
    "longer be the ones written to, and starting the VMs there could run them twice (split "
    "brain). Decide at the array which copy is current, then start them there by hand or "
    "plan the failover again."
)
ABORT_NOT_RESTARTED_UNREACHABLE = (
    "Not started again at {pool!r}: {items}, which this run shut down there; the pool does not "
    "answer ({error}). Start them there by hand once it does (the storage was not promoted)."
)
NOT_REACHED = "not run: the run stopped before reaching it: {error}"
LUN_STEP_FAILED_VM = "not run: the step {action} of LUN {lun} failed: {error}"
LUN_STEP_FAILED_APP = (
    "not run: vApp {app} has a VM on LUN {lun}, whose step {action} failed: {error}"
)
LUN_STEP_FAILED_METADATA = (
    "not run: its metadata is on LUN {lun}, whose step {action} failed: {error}"
)
LUN_STEP_FAILED_NOTE = (
    "The step {action} of LUN {lun} failed ({error}); the VMs that need it were not run. Fix "
    "it, then run them again with a new plan."
)
ALL_LUNS_FAILED = "Every LUN's storage step failed: {items}."
REPROTECT_INSTRUCTION = (
    "Re-protect LUN {lun}: reverse its replication once more, so the primary site replicates "
    "to the DR site again (the DR copy becomes the read-only mirror)."
)
REPROTECT_SKIPPED = (
    "LUN {lun} was not re-protected: its SR is still attached at the DR site (not every VM on "
    "it failed back). Detach it there, then reverse replication towards the DR site by hand."
)
STILL_RUNNING = (
    "The {kind} stopped before touching the storage: {items} did not shut down at {pool!r}; "
    "recovering them would run them twice. Shut them down there, then plan and run the {kind} "
    "again (what is already shut down stays so)."
)
DID_NOT_SHUT_DOWN = "not run: it did not shut down at {pool!r}: {error}"
CANCELLED_VM = "not run: the run was cancelled before reaching it"
ABORTED_VM = "not run: the run was aborted before reaching it"
ABORTED_VM_RESTARTED = "not run: the run was aborted; started again at {pool!r}"
ABORTED_VM_RUNNING = "not run: the run was aborted; already running again at {pool!r}"
ABORTED_VM_LEFT_DOWN = (
    "not run: the run was aborted; left shut down at {pool!r} (the run's end says why)"
)
SCAN_NO_SR = "SR {sr} is not in the pool after attaching it; attach it again."
SCAN_FAILED = (
    "SR.scan failed ({error}): without a scan today's xapi has no VDI records (metadata, "
    "disks) for an SR it did not know; check the SR and scan it by hand."
)
NETWORK_MADE = (
    "Made by drbot run {run_id} for VMs whose network the pool lacked (private: no PIFs)."
)
ATTACH_NOTHING = (
    "DR_task.create attached nothing for LUN {lun}: SR {sr} is not among the SRs a probe of "
    "its device_config finds ({found}). Check the LUN's SCSIid and target, and the SR uuid, in "
    "the storage configuration; the empty DR_task was destroyed."
)
PROBE_EMPTY = "none"
PROBE_FAILED = "the probe failed: {error}"
REARM_FAILED = (
    "Metadata replication could not be turned on at pool {pool!r} for {items}: the VMs run, "
    "but the DR pool's metadata does not reach the primary, so a failback would find none. "
    "Attach the SR and enable it by hand (xe sr-enable-database-replication uuid=...)."
)
HA_REFUSED = (
    "XAPI refused to start it: HA in pool {pool!r} could then no longer restart its protected "
    "VMs after the host failures it must tolerate ({error}). Start it once HA is off or "
    "ha_host_failures_to_tolerate is lower, or free memory in the pool."
)

# The last line of a run that did not fully succeed (`engine.kinds.result.ending`).
RTO = "RTO {rto:.0f} s"
NO_RTO = "no RTO measured (nothing was started)"
ENDING = (
    "{failed} of {total} VMs did not come back; first {what} ({cause}).{next} "
    "`drbot runs show {run_id}` lists every step. {rto}"
)
ENDING_NEXT = " Next: {next}."
ENDING_WHAT = "{step} {vm} failed"
ENDING_APP_STEP = "{step} {app} failed for its VM {vm}"
ENDING_STATUS = "VM {vm} is {status}"
ENDING_NOT_RECOVERED = "VM {vm} was not recovered"
# Codes whose VM message already says what to do: the ending does not say it again.
ADVISED_BY_THE_VM = frozenset({"NOT_IN_METADATA", "not-protected"})
NEXT_DEFAULT = "fix what {code} says, then plan again for the VMs that did not come back"
NEXT_BY_CODE = {
    "TIMEOUT": (
        "its XAPI task did not end within the task timeout: look at that VM and its host in "
        "pool {pool!r} (xe task-list; a stuck task is cancelled with xe task-cancel), then plan "
        "again for the VMs that did not come back"
    ),
    "HOST_NOT_ENOUGH_FREE_MEMORY": (
        "free memory in pool {pool!r} (stop what can wait, or leave less urgent VMs off), then "
        "plan again for the VMs that did not come back"
    ),
    "NO_HOSTS_AVAILABLE": (
        "bring a host of pool {pool!r} back or free memory there, then plan again for the VMs "
        "that did not come back"
    ),
    "HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN": (
        "turn HA off in pool {pool!r} or lower ha_host_failures_to_tolerate, then plan again "
        "for the VMs that did not come back"
    ),
    "VM_REQUIRES_SR": (
        "attach the SR holding its disks in pool {pool!r}, then plan again for the VMs that "
        "did not come back"
    ),
}

# An SR or a test copy at the DR site that this run did not make (an earlier drill's).
KNOWN_SR_NOT_OURS = (
    "The DR pool {pool!r} already knows SR {sr} ({uuid}) and it is not provably the LUN this "
    "run {made}: {what}. It is likely an earlier drill's test copy, with its stale metadata "
    "and disks, so the run stopped before recovering anything. Remove it at {pool!r} (`drbot "
    "abort` of the run that made it, or by hand: {how}) and remove that copy at the array, "
    "then plan and run again."
)
KNOWN_SR_WHAT = "its PBDs reach {devices} ({attached}){task}"
KNOWN_SR_HOW_TASK = (
    "xe drtask-destroy uuid={task}, which unplugs and forgets it; or xe pbd-unplug "
    "uuid=<each PBD> then xe sr-forget uuid={uuid}"
)
KNOWN_SR_HOW = "xe pbd-unplug uuid=<each PBD> then xe sr-forget uuid={uuid}"
TEST_COPY_NOT_OURS = (
    "LUN {lun} ({sr}) already has a test copy presented ({device}) that this run did not "
    "make: an earlier drill's, left behind. This run does not touch it. Remove it first: "
    "`drbot abort` of the run that made it, or by hand: detach its SR at the DR pool ({how}) "
    "and remove the test copy at the array; then run the test failover again."
)

# A VM whose live record and replicated metadata disagree on its vApp.
RECOVERED_WITH_VAPP = (
    "{vm} was recovered with vApp {app}: the replicated metadata (as of {as_of}) has it in "
    "that vApp, while its live record at {pool!r} no longer did (moved after the last "
    "replication), so VM.recover refused it alone (VM_IS_PART_OF_AN_APPLIANCE) and the vApp's "
    "recovery brought it back"
)
IN_VAPP_IN_METADATA = (
    "the replicated metadata (as of {as_of}) has it in vApp {app}, its live record at {pool!r} "
    "does not, and VM.recover refuses a vApp member alone (VM_IS_PART_OF_AN_APPLIANCE): "
    "recover it with vApp {app}, or once replication has caught up"
)
AS_OF_UNKNOWN = "an unknown time"
