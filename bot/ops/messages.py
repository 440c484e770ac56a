"""User-facing strings of the operator CLI, in one place."""

from __future__ import annotations

BREAK_GLASS = (
    "A {kind} from the CLI bypasses chat approvals: add --break-glass and --reason TEXT "
    "(both are recorded in the audit trail), or ask for it in Slack."
)
REASON_NEEDED = "--break-glass needs --reason TEXT saying why chat approval is bypassed."
BLOCKED = "The plan has blockers; fix them and plan again:"
NO_PAIR = (
    "No pool pair in the configuration{what}; add a [[engine.pairs]] entry "
    "(protected = ..., dr = ...)."
)
STARTED = "Run {run_id} started ({kind} of {target} into {pool})."
ENDED = "Run {run_id} ended {state}: {reason}"
INTERRUPTED = "Interrupted at boot: run {run_id} (last step: {step})."
CANCELLING = "Cancelling run {run_id}; steps in flight finish, then it cleans up..."
UNREACHABLE = "unreachable"
STORAGE_PENDING = (
    "Run {run_id} waits for a storage step done by hand: {instruction} When it is done, "
    "run `drbot resume {run_id} --storage-done`."
)
PAUSED = "paused: {message}"
NEVER = "never"
