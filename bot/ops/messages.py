"""User-facing strings of the operator CLI, in one place."""

from __future__ import annotations

REASON_NEEDED = "--break-glass needs --reason TEXT saying why chat approval is bypassed."
BLOCKED = "The plan has blockers; fix them and plan again:"
STARTED = "Run {run_id} started ({kind} of {target} into {pool})."
ENDED = "Run {run_id} ended {state}: {reason}"
INTERRUPTED = "Interrupted at boot: run {run_id} (last step: {step})."
CANCELLING = "Cancelling run {run_id}; steps in flight finish, then it cleans up..."
PAUSED = "paused: {message}"
NEVER = "never"
BAD_INPUT = "{where}: {message}"
UNEXPECTED = "drbot answered {type}, which this command does not expect; please report it."
