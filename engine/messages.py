"""Every user-facing string of the engine, in one place.

Each message names what happened and what to do about it. Functions take the facts and return
one or two sentences; callers never build user-facing text themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

# What to do when XAPI answers with a given code. Keys are XAPI's wire strings (reference §1.8).
XAPI_HINTS: dict[str, str] = {
    "SESSION_AUTHENTICATION_FAILED": "Check the username and password configured for this pool.",
    "SESSION_INVALID": "The session expired; the engine logs in again, check the credentials "
    "if this persists.",
    "HOST_IS_SLAVE": "That host is a pool member; list the coordinator first in the pool's urls.",
    "HOST_OFFLINE": "The host is offline; wait for it or use another host of the pool.",
    "CANNOT_CONTACT_HOST": "The coordinator cannot reach that host; check the management network.",
    "RBAC_PERMISSION_DENIED": "Log in as a pool-operator or pool-admin (DR needs pool-operator).",
    "LICENCE_RESTRICTION": "The pool's licence does not allow this feature; license DR on the "
    "target pool (XenServer Premium; XCP-ng has no restriction).",
    "VM_REQUIRES_SR": "Attach the replicated SR holding this VM's disks to the DR pool first.",
    "VDI_CONTENT_ID_MISSING": "A disk's SR is not attached at the DR site; present the mirror.",
    "VDI_LOCATION_MISSING": "A disk is missing from its replicated SR; check the mirror.",
    "VM_BAD_POWER_STATE": "The VM is in the wrong power state for this; shut it down or leave it.",
    "VM_TO_IMPORT_IS_NOT_NEWER_VERSION": "A newer or equal copy already exists in the target "
    "pool; remove it if the replicated copy must win.",
    "VM_IS_PART_OF_AN_APPLIANCE": "Recover the vApp this VM belongs to instead.",
    "HOST_NOT_ENOUGH_FREE_MEMORY": "Free memory on the DR pool or start fewer VMs.",
    "NO_HOSTS_AVAILABLE": "No host can run this VM; check memory, storage and networks.",
    "NO_MORE_REDO_LOGS_ALLOWED": "A pool replicates its metadata to at most 8 SRs; disable one.",
    "COULD_NOT_IMPORT_DATABASE": "The DR pool cannot read this metadata; keep the DR site on the "
    "same or a newer XenServer version than production.",
    "TOO_BUSY": "The pool is busy; try again in a moment.",
    "TOO_MANY_PENDING_TASKS": "The pool has too many pending tasks; try again in a moment.",
    "CONNECTION_REFUSED": "Nothing answers at this address; check that XAPI runs on the host "
    "and its URL in the config.",
    "CONNECTION_LOST": "The host dropped the connection mid-call; check the pool's health (the "
    "call may or may not have been done).",
    "CONNECTION_FAILED": "Check that the host is up and reachable, and its URL in the config.",
    "TIMEOUT": "The call timed out; check the pool's health or raise timeouts.call_seconds.",
    "PROTOCOL_ERROR": "The server's answer was not XAPI's; check the URL points at a XAPI host.",
    "TLS_VERIFY_FAILED": "The certificate did not verify; set ca_file or fingerprint for this "
    "pool (insecure = true only for a lab).",
}


def xapi_error(code: str, args: Sequence[str], method: str, host: str) -> str:
    where = f" on {host}" if host else ""
    call = f"{method} failed{where}" if method else f"XAPI call failed{where}"
    detail = f": {code}" + (f" {list(args)}" if args else "")
    hint = XAPI_HINTS.get(code, "")
    if not hint and code.startswith("SR_BACKEND_FAILURE"):
        hint = "The storage back end failed; check that the mirror is presented and writable."
    return f"{call}{detail}." + (f" {hint}" if hint else "")


def manual_step(lun: str, action: str, instruction: str) -> str:
    return (
        f"Storage step '{action}' for LUN {lun} must be done by hand: {instruction} "
        "Confirm it when done so the run can go on."
    )


SIM_STORAGE = "The simulator's storage control API {what}: {detail}. Is `drbot sim serve` running?"
SIM_STORAGE_REFUSED = "The simulator's storage array refused to {action} LUN {lun}: {detail}."
MANUAL_UNKNOWN_LUN = (
    "No LUN {lun!r} is configured for the manual storage adapter (known: {known}); add it to "
    "the storage luns (engine.storage.luns) in the configuration."
)

MANUAL_INSTRUCTIONS: dict[str, str] = {
    "present_test_copy": "Present a writable snapshot (test copy) of the mirror of LUN {lun} "
    "to the DR site, without stopping replication.",
    "remove_test_copy": "Remove the test copy of LUN {lun} from the DR site.",
    "promote": "Break the mirror of LUN {lun} and make the DR copy writable at the DR site.",
    "reverse": "Reverse replication of LUN {lun} so the DR site replicates back to the primary.",
    "sync": "Make LUN {lun} replicate its pending writes now, and confirm when the lag is zero.",
}
# While a LUN replicates from the DR site back to the primary (during a failback).
MANUAL_INSTRUCTIONS_BACKWARD: dict[str, str] = {
    "promote": "Break the mirror of LUN {lun} and make the primary site's copy writable.",
    "reverse": "Reverse replication of LUN {lun} once more, so the primary site replicates to "
    "the DR site again (re-protection).",
    "sync": "Make LUN {lun} replicate its pending writes to the primary site now, and confirm "
    "when the lag is zero.",
}

# --- configuration --------------------------------------------------------------------------
CONFIG_FILE_MISSING = "Configuration file {path} does not exist; create it or pass --config."
CONFIG_FILE_INVALID = "Configuration file {path} is not valid TOML: {error}. Fix the syntax."
CONFIG_INVALID = "Configuration is invalid: {errors}. Fix these settings in {where}."
CONFIG_INVALID_MANY = "Configuration is invalid ({count} problems); fix these settings in {where}:"
CONFIG_PROBLEM = "  - {problem}"
CONFIG_MISSING = "{where}: missing; this key is required, expected {expected}"
CONFIG_WRONG = "{where}: got {got}; expected {expected}"
CONFIG_BAD_URL = (
    "url {url!r} is not a URL; expected {scheme}://HOST[:PORT], e.g. {scheme}://10.0.0.10"
)
CONFIG_UNKNOWN_POOL = "No pool named {name!r} in the configuration; known pools: {known}."
CONFIG_UNKNOWN_KEY = "{where}: unknown key{hint}"
CONFIG_DID_YOU_MEAN = "; did you mean {key!r}?"
CONFIG_VALID_KEYS = "; valid keys here: {keys}"
CONFIG_URL_SCHEME = (
    "url {url!r} must start with https:// (http:// only for a lab or the simulator, with "
    "allow_plaintext = true); expected https://HOST[:PORT]"
)
CONFIG_CONTROL_URL = (
    "control_url {url!r} must be the storage control API's URL; expected http(s)://HOST:PORT"
)
CONFIG_PLAINTEXT = (
    "url {url!r} of pool {name!r} is plain HTTP, which sends the pool's password in clear: use "
    "https://, or set allow_plaintext = true in this pool's table (a lab or the simulator only)"
)
CONFIG_PLAINTEXT_WARNING = (
    "Warning: pool {name!r} is reached over plain HTTP ({urls}, allow_plaintext = true): its "
    "password crosses the network in clear. Use https:// outside a lab."
)
CONFIG_TLS_UNVERIFIED = (
    "Warning: TLS to pool {name!r} is not verified (insecure = true): anyone on the path can "
    "pose as the pool and take its password. Set fingerprint or ca_file instead."
)
CONFIG_CA_MISSING = (
    "ca_file {path} does not exist; give the path of the pool's CA certificate (PEM)"
)
CONFIG_CA_UNREADABLE = (
    "ca_file {path} cannot be read ({error}); give drbot's user read access or another path"
)
CONFIG_CA_EMPTY = (
    "ca_file {path} holds no PEM certificate; give the CA certificate that signed the pool's "
    "certificate (-----BEGIN CERTIFICATE-----)"
)
# -- an estate of many pools (engine/config.py, engine/topology.py, engine/capacity.py) -------
CONFIG_PAIR_LUNS_ELSEWHERE = (
    "pairs: {protected!r} -> {dr!r}: the LUNs of {protected!r} ({luns}) replicate to site "
    "{sites}, not to {dr!r}'s site {dr_site!r}; pair {protected!r} with a pool of {sites}, or "
    "fix the LUNs' target_site"
)
CONFIG_NO_DR_POOL = (
    "LUNs {luns} of pool {protected!r} replicate to site {site!r}, which has {found}; "
    "write the pair by hand: [[pairs]] protected = {protected!r}, dr = one of {choices}"
)
CONFIG_DUPLICATE_PAIR = "pairs: {protected!r} -> {dr!r} is listed twice; keep one"
CONFIG_LUN_POOL = "storage.luns: LUN {lun!r} names pool {pool!r}, which is not configured"
PAIR_NONE = "No pair is configured: add a [[pairs]] table (protected = ..., dr = ...)."
PAIR_UNKNOWN = "No pair for {what}; pairs: {choices}."
PAIR_AMBIGUOUS = "{what} could mean {n} pairs: {choices}. Say which with --pool PROTECTED:DR."
PAIR_NOT_PAIRED = "{a!r} and {b!r} are not a pair; pairs: {choices}."
SCOPE_UNKNOWN = (
    "{scope!r} is neither a site nor a pool with a pair; sites: {sites}; or say `all pools`."
)
SCOPE_EMPTY = "Site {site!r} has no protected pool (its pools are DR pools: {pools})."
R_LUNS_ELSEWHERE = (
    "The LUNs of {pool} ({luns}) replicate to site {sites}, not to {dr}'s site {dr_site}: "
    "this pair cannot recover them; pair {pool} with a pool of {sites}."
)
R_ESTATE_CAPACITY = (
    "If site {site} is lost, {pools} fail over into {dr} together: they need {need} and "
    "{dr} has {free} free; {short} would not fit. Add hosts to {dr} or move a pair."
)
R_ESTATE_HA = (
    "If site {site} is lost, {dr} keeps {tolerated} host failure(s) planned for with {pools} "
    "running only if it has {need} beyond them; it has {free}. HA could not restart them all."
)

# --- client ---------------------------------------------------------------------------------
ALL_HOSTS_UNREACHABLE = (
    "Could not reach any host of pool {pool!r} (tried {tried}); check the network to the site "
    "or wait for the pool to come back."
)
COORDINATOR_LOOP = (
    "Pool {pool!r} keeps redirecting between members (HOST_IS_SLAVE); a new coordinator is "
    "probably being elected, try again in a minute."
)
TASK_DEADLINE = "Task {task} ({method}) did not finish before its deadline; it is still running."
FINGERPRINT_MISMATCH = (
    "The certificate of {host} has fingerprint {got}, not the configured {want}; if the host "
    "was reinstalled, update fingerprint in the configuration."
)

# --- targets and planning ---------------------------------------------------------------------
TARGET_EMPTY = "Say what to recover: 'all', a vApp name, a VM name or uuid, or a list of them."
TARGET_NOT_FOUND = (
    "Nothing called {name!r} is protected in pool {pool!r}; use `drbot status` to list vApps "
    "and VMs."
)
TARGET_DID_YOU_MEAN = "Did you mean {names}?"
TARGET_CONFLICT = (
    "{target!r} exists in pool {src!r}, but the metadata pool {dst!r} already has attached (SR "
    "{srs}) does not hold it: that SR was attached before this run, probably by an earlier "
    "drill, and its metadata is older than the source. Remove it at {dst!r} (xe "
    "drtask-destroy, or xe pbd-unplug and xe sr-forget) and plan again."
)
TARGET_AMBIGUOUS = "{name!r} names {count} VMs in pool {pool!r}; use the VM's uuid instead."
TARGET_IS_MEMBER = (
    "VM {name!r} belongs to vApp {app!r}; a vApp is recovered whole, so ask for the vApp."
)
KIND_UNKNOWN = "Unknown kind {kind!r}; use test-failover, failover or failback."
SAME_POOL = (
    "Source and destination are the same pool ({pool!r}); a pool cannot recover into itself."
)
SAME_POOL_UUID = (
    "Pools {src!r} and {dst!r} are the same pool (uuid {uuid}): a pool cannot recover into "
    "itself. Check the urls of both pools in the configuration."
)
DEST_UNREACHABLE = "Pool {pool!r} does not answer; nothing can be recovered into it until it does."
DEST_UNUSABLE = "drbot cannot use pool {pool!r}, so nothing can be recovered into it: {error}"
SOURCE_UNUSABLE = (
    "drbot cannot use pool {pool!r} ({error}) but nothing shows that it is down: its VMs may still "
    "run there. Fix drbot's access to it; a failover stays refused until then (split-brain guard)."
)
SOURCE_UNUSABLE_TEST = (
    "drbot cannot use pool {pool!r}: {error} The plan relies on the replicated metadata alone."
)
SOURCE_UNREACHABLE_SEEN = (
    "Pool {pool!r} does not answer; planning from what drbot last saw of it ({when})."
)
SOURCE_UNKNOWN = (
    "Pool {pool!r} does not answer and drbot has never seen it; the VMs will be read from the "
    "replicated metadata once the mirrors are attached."
)
PLANNED_NEEDS_SOURCE = (
    "A planned failover shuts the VMs down at the source first, but the source does not answer; "
    "run an unplanned failover instead."
)
TARGET_BLIND = (
    "Cannot resolve named targets: the source is unreachable and drbot has no inventory of it. "
    "Recover 'all' (the VM list is read from the replicated metadata after promotion)."
)
RECORDS_UNREAD = (
    "VM records will be read from the latest replicated metadata VDI during the run; the plan "
    "cannot list them in advance."
)
EXISTING_NEWER = (
    "A copy with version {have} (>= the incoming {incoming}) already exists in pool {pool!r}; it "
    "was recovered before. Remove it there, or leave this VM out."
)
EXISTING_RUNNING = (
    "An older copy is {state} in pool {pool!r}; shut it down first (a forced recovery would "
    "silently skip this VM)."
)
EXISTING_REPLACED = "An older, halted copy exists in pool {pool!r}; it will be replaced."
EXISTING_VAPP = "vApp exists in pool {pool!r}; its members will be replaced and it refreshed."
SOURCE_RUNNING_PLANNED = "{state} at the source; the planned failover shuts it down first."
SPLIT_BRAIN = (
    "{state} in pool {pool!r}, which still answers: a failover would start a second copy "
    "(split brain). Use a planned failover, or shut it down at the source first."
)
SR_KNOWN_ATTACHED = (
    "Pool {pool!r} already has this SR attached (left by an earlier run?): the run uses it as is "
    "and will not forget it afterwards. Forget it first for a clean test."
)
SR_KNOWN_DETACHED = (
    "Pool {pool!r} knows this SR but has it detached: DR_task.create would skip it, so the run "
    "plugs its PBDs instead."
)
SR_KNOWN_FAILBACK = "The original pool still knows this SR; the run plugs it after reversal."
NAME_CONFLICT = (
    "Another VM with this name (a different uuid) exists in pool {pool!r}; after recovery two "
    "VMs share the name, so refer to them by uuid."
)
TEST_DUPLICATE = (
    "Running at the source and started, not paused, by this test: a second live copy with the "
    "same MACs and IPs appears. Start paused, or test on an isolated network."
)
SUSPENDED = (
    "Suspended at the source: it is recovered suspended and left so (VM.start refuses a "
    "suspended VM); resume it when its dependencies are up."
)
INSIDE_LAG = (
    "Created after the mirror's last consistent point ({since}): it is most likely not in the "
    "replicated metadata yet, and then it cannot be recovered (the run reports it "
    "not-in-metadata). Sync replication (or plan a planned failover)."
)
MISSING_FROM_METADATA = (
    "Exists at the source but not in the replicated metadata read at the destination: it was "
    "created or changed inside the replication lag and cannot be recovered until replication "
    "catches up."
)
INSIDE_LAG_PLANNED = "Created inside the replication lag; the planned failover syncs it first."
LOCAL_STORAGE = "A disk is on SR {sr!r}, which is local to a host and never replicated. {left_out}"
NOT_REPLICATED = (
    "A disk is on SR {sr!r}, which is not replicated to the DR site; recovery would drop it. "
    "{left_out}"
)
SNAPSHOT_NOT_REPLICATED = (
    "Snapshot {whose!r} has a disk on SR {sr!r}, which is not replicated to the DR site: "
    "VM.recover imports snapshots too and fails without it. Delete the snapshot or move its "
    "disk to a replicated SR. {left_out}"
)
SUSPEND_NOT_REPLICATED = (
    "The VM is suspended and its memory image is on SR {sr!r}, which is not replicated to the "
    "DR site: VM.recover fails without it. Resume or shut the VM down, or make a replicated SR "
    "the pool's suspend SR. {left_out}"
)
LEFT_OUT_VM = "This VM is left out of the plan."
LEFT_OUT_APP = (
    "Its vApp {app} is left out of the plan, with every member (a vApp is recovered whole or "
    "not at all)."
)
# A member of a left-out vApp whose own disks are replicated: which member keeps it out, why.
LEFT_OUT_WITH_VAPP = (
    "Left out with its vApp {app}: its member {vm} {problem}, and a vApp is recovered whole or "
    "not at all. This VM's own disks are replicated: once {vm} can be recovered (see its own "
    "check), or is taken out of the vApp, the vApp comes back whole."
)
MEMBER_PROBLEMS = {
    "local-storage": "has a disk on SR {sr!r}, which is local to a host and never replicated",
    "not-replicated": "has a disk on SR {sr!r}, which is not replicated to the DR site",
    "snapshot-not-replicated": (
        "has a snapshot ({whose!r}) with a disk on SR {sr!r}, which is not replicated to the DR "
        "site"
    ),
    "suspend-not-replicated": (
        "is suspended with its memory image on SR {sr!r}, which is not replicated to the DR site"
    ),
}
NAMED_BLOCKER = "Move the disk to replicated storage, or leave it out of the target."
NOTHING_TO_RECOVER = "Nothing in the target can be recovered; see the other checks."
NO_LUNS = (
    "The storage adapter reports no replicated LUN between these sites; check the storage "
    "settings (adapter, control_url or luns) in the configuration."
)
LUN_SHARED = (
    "LUN {lun} also holds {names}, live in pool {pool!r} and not in this {kind}: replication "
    "works per LUN, so it stops for them too, and reversing it later copies the other site "
    "over what they write meanwhile. Add them to the target, or shut them down (or move their "
    "disks) first."
)
LUN_STATE = "LUN {lun} is {state}; this run needs it {want}."
METADATA_IN_FLIGHT = (
    "Metadata writes of the last ~{lag} s are still on their way to the DR site: VMs created or "
    "changed since may be missing or older there. A planned failover syncs them first."
)
LAG_HIGH = "Replication is {lag} s behind (limit {limit} s): recent changes would be lost."
NO_METADATA = (
    "Pool {pool!r} replicates no metadata: enable it on a replicated SR (XenCenter: Pool > "
    "Disaster Recovery > Configure) so the DR site can recreate its VMs."
)
METADATA_STALE = (
    "No metadata VDI of pool {pool!r} is up to date (metadata_latest is false everywhere): "
    "its redo log is broken; check the metadata LUN."
)
METADATA_NOT_REPLICATED = (
    "Metadata VDI on SR {sr!r} is not on a LUN replicated to the destination; enable metadata "
    "replication on a replicated SR."
)
NETWORK_MISSING = (
    "No network named {network!r} or on its bridge in pool {dest!r}, and none mapped: the run "
    "makes an isolated private network of that name before recovery. Add it to {dest!r}, or "
    "map it to one of its networks in the network_map of the configuration's pair with "
    "protected = {protected!r}."
)
NETWORK_BY_BRIDGE = "Lands on {dest!r} (same bridge {bridge})."
NETWORK_BY_MAP = (
    "Mapped to {dest!r} by the configuration; XAPI matches only by name or bridge, so the run "
    "moves the VIFs after recovery."
)
NETWORK_PRIVATE = "The destination network has no PIFs: VMs on it reach nothing outside the host."
LICENCE_DR = "Hosts without the DR licence feature: {hosts}. License them or use XCP-ng."
LICENCE_OK = "Every host is licensed for DR."
LICENCE_VAPP_START = (
    "The pool may not start vApps (VM_appliance_start is restricted); VMs are started one by one "
    "in vApp order instead."
)
HA_ON = (
    "HA is on in the DR pool: it could restart test copies on the network. Turn HA off for the "
    "test, or ask for the test with --disable-ha (in Slack `/dr test-failover all --disable-ha`, "
    "on the CLI `drbot run test-failover all --disable-ha`) to let the run turn it off and back "
    "on after."
)
HA_WILL_DISABLE = "HA is on in the DR pool; the run turns it off for the test and back on after."
HA_CAPACITY = (
    "HA is on in pool {pool!r} and must tolerate {n} host failure(s): with these VMs started "
    "({need}), the HA-protected VMs of its busiest host ({protected}) would not fit in what "
    "the other hosts have left, and XAPI refuses such starts "
    "(HA_OPERATION_WOULD_BREAK_FAILOVER_PLAN). Turn HA off for the run, lower "
    "ha_host_failures_to_tolerate, or recover less."
)
NO_LIVE_HOSTS = "No live, enabled host in the pool."
CAPACITY_SHORT = (
    "The VMs need {need} and pool {pool!r} has {free} free; free memory or recover less."
)
CAPACITY_TIGHT = "The VMs need {need} of the {free} free in pool {pool!r}; little room is left."
CAPACITY_OK = "The VMs need {need}; pool {pool!r} has {free} free."
CAPACITY_NO_HOST = "This VM needs {need} and no host has more than {free} free."
RTO_FROM_HISTORY = "median of the last {n} drills"
RTO_FROM_LAST = "the last drill"
RTO_FROM_MODEL = (
    "model of the run ({par} at a time, {rtt} ms per XAPI call seen), no drill history yet"
)

# --- readiness ----------------------------------------------------------------------------------
R_SOURCE_DOWN = "Protected pool {pool!r} does not answer: if this is a disaster, plan a failover."
R_SOURCE_UNUSABLE = "drbot cannot read protected pool {pool!r}: {error}"
R_RUNNING_TWICE = (
    "Split brain: {names} run in both {pool!r} and {dr!r} (same uuid, same MACs and disks' "
    "data diverging). Shut down the copy that must not run (after a failover, the one in "
    "{pool!r}) now."
)
R_STORAGE_UNREADABLE = "Cannot read replication state: {error}"
R_LUN_FAILED = "LUN {lun} has failed: nothing on it can be recovered. Call the storage team."
R_LUN_STATE = "LUN {lun} is {state}, not replicating: the DR site is not receiving changes. {todo}"
R_LUN_TODO: dict[str, str] = {
    "promoted": "Its mirror is broken (after a failover or failback): once the pool runs where it "
    "should, have replication set up again towards the DR site to protect it.",
    "reversed": "It replicates from the DR site back to the primary (a failback under way): "
    "finish the failback, then have replication set up towards the DR site again.",
}
R_LUN_TODO_OTHER = "Ask the storage team to restore replication towards the DR site."
R_NO_INVENTORY = "drbot has no inventory of pool {pool!r}; protection cannot be assessed."
R_METADATA_UNHEALTHY = (
    "No metadata target of pool {pool!r} is both up to date and replicated: the DR site could "
    "not recreate its VMs."
)
R_METADATA_TARGET_STALE = (
    "Metadata on SR {sr!r} is not up to date (metadata_latest is false): its redo log is broken."
)
R_METADATA_LIMIT = "{n} metadata targets: XAPI allows at most 8 per pool."
R_METADATA_SINGLE = "Metadata is replicated to one SR only; a second target survives its loss."
R_LOCAL = "disk on local storage {sr!r}: never recoverable"
R_NOT_REPLICATED = "disk on {sr!r}, which is not replicated"
R_SNAPSHOT_NOT_REPLICATED = "snapshot {whose!r} has a disk on {sr!r}, which is not replicated"
R_SUSPEND_NOT_REPLICATED = "suspend image on {sr!r}, which is not replicated"
R_INSIDE_LAG = "not in the replicated metadata yet (created after {since})"
R_NO_DISKS = "no disk on any SR: nothing to recover"
R_LEFT_OUT_WITH_VAPP = (
    "left out with its vApp {app}: its member {vm} cannot be recovered ({why}), and a vApp is "
    "recovered whole or not at all"
)
R_UNPROTECTED = "{n} of {total} VMs are not protected: {names}."
R_NOTHING_PROTECTED = "No VM of this pool can be recovered at the DR site."
R_NO_HOST_FITS = "The largest VM needs {need}; no DR host has more than {free} free."
R_HA_ON = "HA is on in the DR pool: a test failover turns it off for the test."
R_STALE_INVENTORY = (
    "drbot's view of this pool is from {when}: following its changes fails ({error}). "
    "Check the connection to the pool."
)
R_NO_DRILL = "No drill on record: run a test failover to prove recovery works."
R_DRILL_FAILED = "The last drill ended {outcome}: fix what it found and run another."
R_DRILL_OLD = "The last drill was {days} days ago: run a test failover at least monthly."
R_DRILL_UNREADABLE = "Cannot read drill history: {error}"


def shown(text: str, limit: int = 60) -> str:
    """What a person typed, as a message echoes it: on one line (runs of white space made one
    space), whole up to `limit` characters, else its start and its length (a 10,000-character
    paste must not fill the screen or the thread). The one shortener of every layer."""
    flat = " ".join(text.split())
    if len(flat) <= limit:
        return flat
    return f"{flat[: limit - 1]}\u2026 ({len(text)} characters)"


def listed(names: list[str], limit: int = 8) -> str:
    """Names (of VMs, SRs) for a message: all of them up to `limit`, else the first `limit`
    and how many more. The only thing a message shortens: a list, never a sentence."""
    if len(names) <= limit:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"
