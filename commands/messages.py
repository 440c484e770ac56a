"""Every sentence of the commands layer a person reads, in one place.

Front ends add their own framing (Slack blocks, CLI colours) but never reword these, so the
Slack bot and the CLI say the same thing about the same decision. A command a person should
type is a marked span, `⟦show {run_id}⟧` (commands/hints.py), which each front end spells as
pasted there (`/dr show 3`, `drbot runs show 3`); tests/commands/test_hints.py parses every
span of every template in both front ends.
"""

from __future__ import annotations

PREFIX = "/dr"

# -- the commands: usage line and one-line summary ----------------------------------------------

USAGE: dict[str, str] = {
    "help": "help [COMMAND]",
    "status": "status [POOL]",
    "plan": "plan KIND TARGET [--pool POOL] [--power MODE] [--planned] [--disable-ha]",
    "test-failover": (
        "test-failover TARGET [--pool POOL] [--power MODE] [--disable-ha] [--reason TEXT]"
    ),
    "failover": "failover TARGET [--planned] [--pool POOL] [--power MODE] --reason TEXT",
    "failback": "failback TARGET [--pool POOL] [--power MODE] --reason TEXT",
    "runs": "runs [N] [--pool POOL]",
    "show": "show RUN",
    "cancel": "cancel RUN",
    "resume": "resume RUN [--storage-done]",
    "abort": "abort RUN",
    "drill": "drill [--pool POOL]",
    "audit": "audit [N]",
    "approve": "approve APPROVAL",
    "reject": "reject APPROVAL --reason TEXT",
    "confirm-storage": "confirm-storage RUN",
}
SUMMARY: dict[str, str] = {
    "help": "What you may ask of drbot.",
    "status": "Readiness of each protected pool, replication lag, active runs, last drill.",
    "plan": "The dry run: what a test-failover, failover or failback would do, with its checks.",
    "test-failover": "Recover copies in the DR pool to prove they work, then clean up.",
    "failover": "Move production to the DR pool (needs approval and a reason).",
    "failback": "Bring production back from the DR pool (needs approval and a reason).",
    "runs": "The newest runs (of one protected pool with --pool).",
    "show": "One run: its history, steps and each VM's outcome.",
    "cancel": "Stop a running run; a test failover cleans up after itself.",
    "resume": "Go on with an interrupted or paused run where it stopped.",
    "abort": "Undo what a run created.",
    "drill": "Run the weekly DR drill (a test failover) now.",
    "audit": "The last entries of the audit trail, and whether it verifies.",
    "approve": "Approve a run waiting for approval.",
    "reject": "Reject a run waiting for approval, saying why.",
    "confirm-storage": "Confirm that the manual storage step a run waits for was done.",
}
TARGET_HELP = (
    "TARGET is all, a vApp, a VM name or uuid, or a comma list (app:NAME, vm:NAME); "
    "or every pool of a site (site:NAME) or of the estate (all pools)."
)

# -- parsing ------------------------------------------------------------------------------------

UNKNOWN_COMMAND = "`{command}` is not a drbot command."
DID_YOU_MEAN = "Did you mean `{suggestion}`?"
SEE_HELP = f"Type `{PREFIX} help` for the commands you may use."
UNCLOSED_QUOTE = "A quote is not closed; close it or remove it."
TOO_LONG = "The command is {length} characters long; at most {limit} are accepted."
UNKNOWN_OPTION = "`{command}` has no option `{option}`."
NO_OPTIONS = "`{command}` takes no options."
OPTION_NEEDS_VALUE = "`{option}` needs a value."
OPTION_NO_VALUE = "`{option}` takes no value."
OPTION_TWICE = "`{option}` is given twice."
BREAK_GLASS_CLI_ONLY = (
    "--break-glass exists only in the CLI (`drbot run ... --break-glass`), for when chat is down."
)
MISSING_ARGUMENT = "`{command}` needs {what}."
EXTRA_ARGUMENTS = "`{command}` does not take `{extra}`."
NOT_A_NUMBER = "{what} must be a whole number from 1 up, not `{value}`."
UNKNOWN_KIND = "`{kind}` is not a kind of run; use test-failover, failover or failback."
BAD_POWER = "--power is start, start-paused or leave-off, not `{value}`."
ARG_NAMES = {
    "target": "a TARGET",
    "kind": "a KIND (test-failover, failover or failback)",
    "run": "a RUN id",
    "approval": "an APPROVAL id",
}

# -- request validation (requests.py) -----------------------------------------------------------

TARGET_EMPTY = "Say what to recover: all, a vApp name, a VM name or uuid, or a comma list."
TARGET_CONTROL = "A target contains a control character; type the names as plain text."
REASON_EMPTY = "The reason is empty; say why in a few words."

# -- wiring -------------------------------------------------------------------------------------

SIM_STORAGE_URL = (
    'The storage adapter "sim" needs control_url in [engine.storage] (the simulator\'s '
    "control address)."
)

# -- policy -------------------------------------------------------------------------------------

NO_ROLE = "no role"
ANYONE = "anyone"
NOT_ALLOWED = "{who} may not use `{command}`: it needs the {needed} role, and they hold {role}."
ASK_ADMIN_FOR_ROLE = (
    "Ask a drbot admin for the {needed} role ([policy.roles] in the configuration)."
)
WRONG_CHANNEL = "`{command}` changes production and is accepted only in the DR channels."
USE_CHANNELS = "Ask in one of these channels: {channels}."
CONFIGURE_CHANNELS = "No DR channel is configured; an admin adds its id to `channels` in [policy]."
SCHEDULE_NOT_DESTRUCTIVE = "The scheduler runs drills only; `{command}` changes production."
ASK_IN_CHAT = "Ask for it in the DR channel, where approvers see it."
ALLOWED = "allowed: {role} holds the {needed} role's rights"

# -- approvals ----------------------------------------------------------------------------------

SELF_APPROVAL = "{who} asked for approval {id} and cannot approve it too; another approver must."
SELF_APPROVAL_HINT = "Ask an approver who is not you to approve it."
ALREADY_VOTED = "{who} already approved {id}; one approval per person counts."
WAIT_FOR_OTHERS = "It needs {missing} more approval(s) from other approvers."
APPROVAL_ALREADY_APPROVED = "Approval {id} has already reached its quorum."
APPROVAL_ALREADY_STARTED = "Approval {id} was approved and its run has started."
APPROVAL_ALREADY_REJECTED = "Approval {id} was rejected."
APPROVAL_EXPIRED = "Approval {id} expired before it was approved."
APPROVAL_SUPERSEDED = "Approval {id} is void: the plan changed and a new approval was opened."
APPROVAL_FAILED = "Approval {id} was approved but its run could not start."
ASK_AGAIN = "Ask for the run again to open a new approval."

# -- runs ---------------------------------------------------------------------------------------

BREAK_GLASS = (
    "A {kind} from the CLI bypasses chat approvals: add --break-glass and --reason TEXT "
    "(both are recorded in the audit trail), or ask for it in Slack."
)
BREAK_GLASS_HINT = "drbot run {kind} TARGET --break-glass --reason TEXT"
BLOCKED = "The plan has {count} blocker(s): {items}."
BLOCKED_HINT = "Fix the blockers and ask again; a run never starts past a blocker."
CANNOT_RESUME = "Run {run_id} is {state}; only an interrupted or paused run can be resumed."
SHOW_RUN = "See where it is with ⟦show {run_id}⟧."
STORAGE_PENDING = "Run {run_id} waits for a storage step done by hand: {instruction}"
STORAGE_DONE_HINT = "When it is done, confirm it: ⟦resume {run_id} --storage-done⟧."
NO_STORAGE_STEP = "Run {run_id} is {state} and waits for no storage step."
OTHER_STORAGE_STEP = (
    "That Done was for {action} of {lun}, which run {run_id} is past; it now waits for "
    "{now_action} of {now_lun}: click Done on that step's message once it is done."
)
ABORT_LIVE = "Run {run_id} is {state}; a live run is cancelled first, then aborted."
CANCEL_FIRST = "Cancel it with ⟦cancel {run_id}⟧, then abort it once it has stopped."
PLAN_CHANGED_WHY = "the plan changed between approval and run; approve the new plan"

# -- requests over several pools (commands/estate.py) --------------------------------------------
ESTATE_BLOCKED = (
    "{count} of {total} pools cannot run, so none starts (one request, one decision): {items}"
)
ESTATE_BLOCKED_HINT = "Fix what blocks them, or ask for the other pools alone (--pool)."
ESTATE_POOL_BLOCKERS = "{pool}: {blockers}"
ESTATE_BLOCKER = "{name} ({subjects}): {message}"
ESTATE_SUBJECTS = "{n}: {listed}"
ESTATE_SUBJECTS_MORE = "{n}: {listed} and {more} more"
ESTATE_PREVIEW_NOTE = "a run would be blocked: {names}"
ESTATE_PREVIEW_CAPACITY = "Together these pools would not fit: {items}"
ESTATE_CAPACITY = "Together these pools do not fit, so none starts: {items}"
ESTATE_NEED_UNKNOWN = (
    "Cannot tell what {pool} needs in {dr}: its site does not answer and no readiness sample "
    "of it was kept; its memory is left out of the sum."
)
ESTATE_CAPACITY_HINT = "Add DR capacity, or fail over fewer pools at once (--pool)."
ESTATE_WAITING = "waits for run {run_id} ({state}) into {pool}"
ESTATE_HELD = (
    "held by run {run_id} ({state}: needs a person): it keeps {pool} until it is resumed or "
    "aborted (⟦resume {run_id}⟧ / ⟦abort {run_id}⟧); then ask for this pool again"
)
ESTATE_OWN_PAUSED = (
    "run {run_id} is paused: needs a person (⟦resume {run_id}⟧ / ⟦abort {run_id}⟧); the queue into "
    "{dr} went on without it"
)
ESTATE_OWN_STORAGE_STEP = (
    "run {run_id} waits for its storage step on {lun}: the storage team clicks Done (or "
    "⟦resume {run_id} --storage-done⟧); the queue into {dr} waits for it"
)
ESTATE_CLOSED = "not started: drbot stopped before its turn"
ESTATE_UNKNOWN_REQUEST = "No request {request_id} in this process."


# How a plan's checks and LUNs are named to people, by every front end (commands/views.py).
SUBJECTS_VMS = "{n} VMs"
SUBJECTS_VAPPS = "{n} vApps"
SUBJECTS_SRS = "{n} SRs"
SUBJECTS_POOLS = "{n} pools"
SUBJECTS_MORE = "{listed} and {n} more"
# What the storage does to each LUN, in words (`--json` and the engine keep their names).
LUN_ACTIONS = {
    "present_test_copy": "test copy",
    "promote": "promote",
    "reverse": "reverse",
    "none": "-",
}
