"""User-facing strings of the operator CLI, in one place."""

from __future__ import annotations

REASON_NEEDED = "--break-glass needs --reason TEXT saying why chat approval is bypassed."
BLOCKED = "The plan has blockers; fix them and plan again:"
STARTED = "Run {run_id} started ({kind} of {target} into {pool})."
ENDED = "Run {run_id} ended {state}: {reason}"
PAUSED_END = "Run {run_id} is paused: {reason}"
PAUSED_STORAGE = (
    "When that is done: drbot resume {run_id} --storage-done (or drbot abort {run_id} to undo "
    "what the run did)."
)
WAITS_FOR = "Waits for storage step {action!r} on LUN {lun}: {text}"
PAUSED_RESUME = "Go on with: drbot resume {run_id} (or drbot abort {run_id} to undo what it did)."
INTERRUPTED = "Interrupted at boot: run {run_id} (last step: {step})."
CANCELLING = "Cancelling run {run_id}; steps in flight finish, then it cleans up..."
PAUSED = "paused: {message}"
NEVER = "never"
BAD_INPUT = "{where}: {message}"
UNEXPECTED = "drbot answered {type}, which this command does not expect; please report it."
CHECKS_HEADER = "[bold]checks[/bold] ({counts})"
NO_VMS_LISTED = "VMs: read from the replicated metadata during the run (the plan cannot list them)."
NO_VMS = "VMs: none."
# A dry run over several pools (`drbot plan KIND site:NAME` / `all pools`).
PREVIEW_TITLE = "[bold]{kind}[/bold] of [bold]{scope}[/bold]: dry run, nothing started"
PREVIEW_POOL = "[bold]{pool}[/bold] -> {dr}: {counts}"
PREVIEW_WOULD_START = "A real run would start: no pool's plan has a blocker."
PREVIEW_WOULD_NOT_START = "A real run would not start (one request, one decision):"
PREVIEW_BLOCKED_POOLS = (
    "{count} of {total} pools have blockers (above): {pools}; fix them, or ask for the other "
    "pools alone (--pool)"
)
PREVIEW_CHECKS_OK = "ok"
PREVIEW_WHOLE_PLAN = "Each pool's whole plan: drbot plan {kind} all --pool POOL (or --json)."

# A command a hint names (commands/hints.py), spelled as typed in a shell.
COMMAND = "`drbot {line}`"
SLACK_ONLY_COMMAND = "`/dr {line}` in Slack (the CLI has no {command})"
