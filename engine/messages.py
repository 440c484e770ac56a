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


MANUAL_INSTRUCTIONS: dict[str, str] = {
    "present_test_copy": "Present a writable snapshot (test copy) of the mirror of LUN {lun} "
    "to the DR site, without stopping replication.",
    "remove_test_copy": "Remove the test copy of LUN {lun} from the DR site.",
    "promote": "Break the mirror of LUN {lun} and make the DR copy writable at the DR site.",
    "reverse": "Reverse replication of LUN {lun} so the DR site replicates back to the primary.",
    "sync": "Make LUN {lun} replicate its pending writes now, and confirm when the lag is zero.",
}

# --- configuration --------------------------------------------------------------------------
CONFIG_FILE_MISSING = "Configuration file {path} does not exist; create it or pass --config."
CONFIG_FILE_INVALID = "Configuration file {path} is not valid TOML: {error}. Fix the syntax."
CONFIG_INVALID = "Configuration is invalid: {errors}. Fix these settings in {where}."
CONFIG_UNKNOWN_POOL = "No pool named {name!r} in the configuration; known pools: {known}."
CONFIG_ENDPOINTS_INVALID = (
    "The simulator endpoints file has no {what}; start the simulator with `drbot sim serve` "
    "and point at the endpoints file it writes."
)
TLS_CHOICE = (
    "Pool {name!r} uses https but neither ca_file nor fingerprint is set, and insecure is false: "
    "set one (fingerprint = sha256 of the certificate) so the connection can be verified."
)
NO_URLS = "Pool {name!r} has no urls; list the coordinator's URL first, then the members'."

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
TARGET_AMBIGUOUS = "{name!r} names {count} VMs in pool {pool!r}; use the VM's uuid instead."
TARGET_IS_MEMBER = (
    "VM {name!r} belongs to vApp {app!r}; a vApp is recovered whole, so ask for the vApp."
)
KIND_UNKNOWN = "Unknown kind {kind!r}; use test-failover, failover or failback."
SAME_POOL = (
    "Source and destination are the same pool ({pool!r}); a pool cannot recover into itself."
)
