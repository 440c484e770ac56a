"""Every sentence the Slack bot shows a person, in one place.

What `commands/` says (refusals, usage lines, help) is shown as it is, never reworded; what is
here frames it for Slack: headers, button labels, confirm dialogs, progress and summaries.
Slack mrkdwn: `*bold*`, `_italic_`, `<@U123>` mentions a person.
"""

# ---- configuration (bot/slack/config.py) --------------------------------------------------------
NEEDS_APP_LEVEL_KEY = (
    "slack.mode is 'socket' but slack.app_token is not set: create an app-level token with "
    "connections:write in the app's settings and set it (or DRBOT_SLACK__APP_TOKEN)."
)
NEEDS_SIGNING_KEY = (
    "slack.mode is 'http' but slack.signing_secret is not set: copy it from the app's Basic "
    "Information page (or set DRBOT_SLACK__SIGNING_SECRET)."
)
NEEDS_REQUESTS_CHANNEL = (
    "slack.channels.requests is not set: give the ID of the channel where /dr requests and "
    "their threads go (e.g. C0DROPS001)."
)
NO_SLACK_SECTION = (
    "The configuration {path} has no [slack] section: add one (see deploy/drbot.example.toml) "
    "or run `drbot sim serve --config {path}` to write one for the Slack double."
)

# ---- serve ---------------------------------------------------------------------------------------
SERVING_SOCKET = "drbot is connected to Slack in Socket Mode; Ctrl-C stops it."
SERVING_HTTP = "drbot listens for Slack on http://{host}:{port}{path}; Ctrl-C stops it."
STOPPED = "drbot stopped."
SLACK_UNREACHABLE = (
    "Slack did not answer auth.test ({error}): check slack.bot_token and the network to Slack."
)

# ---- generic -------------------------------------------------------------------------------------
FAILED = (
    ":warning: Something went wrong on drbot's side while doing that; nothing more was done. "
    "Try again, or use the operator CLI (`drbot runs`) if it keeps failing."
)
USAGE = "Usage: `{usage}`"
DID_YOU_MEAN = "Did you mean `{suggestion}`?"

# ---- reason modal --------------------------------------------------------------------------------
REASON_TITLE = "Reason needed"
REASON_SUBMIT = "Ask for approval"
REASON_CLOSE = "Cancel"
REASON_PROMPT = (
    "*{command} {target}* needs a reason: it is shown to the approvers and kept in the audit trail."
)
REASON_LABEL = "Why?"
REASON_PLACEHOLDER = "e.g. DC1 lost power at 02:10, INC-4711"
REASON_EMPTY = "Give a reason: the approvers read it and the audit trail keeps it."
REASON_TOO_LONG = (
    "This request is too long for the reason form: type it again with `--reason TEXT` at the end."
)
REASON_ASK = (
    "*{command} {target}* needs a reason before it goes to the approvers: it is shown to them "
    "and kept in the audit trail."
)
REASON_BUTTON = "Give a reason"
REASON_GIVEN = "Reason given for *{command} {target}*; the request is on its way to the approvers."
REASON_NOT_YOURS = "Only <@{user}>, who asked for it, can give this request's reason."
REASON_GONE = (
    "This request is no longer waiting for a reason (it was given already, or 30 minutes "
    "passed): mention me again with the command."
)
REJECT_TITLE = "Reject"
REJECT_SUBMIT = "Reject"
REJECT_PROMPT = "Say why you reject approval {approval_id}: the requester sees it in the thread."

# ---- plan and approval ---------------------------------------------------------------------------
ACTION_TITLE = {
    "test-failover": "Test failover",
    "failover": "Failover",
    "failback": "Failback",
    "resume": "Resume run",
    "abort": "Abort run",
}
APPROVAL_HEADER = "{title} of {target}: approval needed"
APPROVAL_HEADER_DONE = "{title} of {target}: {state}"
APPROVAL_FIELDS_FROM = "*From → to*\n{source} → {dest}"
APPROVAL_FIELDS_RTO = "*Estimated RTO*\n{rto}"
APPROVAL_FIELDS_REQUESTER = "*Requested by*\n<@{user}>"
APPROVAL_FIELDS_REASON = "*Reason*\n{reason}"
APPROVAL_FIELDS_HASH = "*Plan hash*\n`{hash}`"
APPROVAL_FIELDS_RUN = "*Run*\n{run_id}"
APPROVAL_SRS = "*SRs to attach* ({count})\n{lines}"
APPROVAL_SR_LINE = "• {name} ({action})"
APPROVAL_ORDER = "*Start order* ({vms} VMs in {apps} vApps, {standalone} standalone)\n{lines}"
APPROVAL_APP_LINE = "• *{name}*: {groups}"
APPROVAL_STANDALONE_LINE = "• standalone: {names}"
APPROVAL_MORE = "… and {count} more (the whole plan is in the thread)"
APPROVAL_CHECKS = "*Pre-checks*: {blockers} blocker(s), {warnings} warning(s), {ok} ok\n{lines}"
APPROVAL_CHECK_LINE = "{icon} {subject}{message}"
APPROVAL_NO_CHECKS = "*Pre-checks*: all passed"
APPROVAL_VOTES = "Approved by {voters}. {left}"
APPROVAL_NO_VOTES = "No approvals yet. {left}"
APPROVAL_LEFT = "{missing} more approval(s) needed (of {quorum}); expires {expires}."
APPROVAL_STATE = {
    "pending": "waiting for approval",
    "approved": "approved; starting",
    "started": "approved; run {run_id} started",
    "rejected": "rejected by <@{by}>: {why}",
    "expired": "expired before enough approvals; ask again with a new request",
    "superseded": "superseded: the plan changed, approval {new} replaces this one (below)",
    "failed": "approved, but the run could not start: {why}",
}
APPROVE = "Approve"
REJECT = "Reject"
CONFIRM_APPROVE_TITLE = "Approve {title}?"
CONFIRM_APPROVE_TEXT = (
    "You approve *{title}* of *{target}* ({source} → {dest}), plan `{hash}`. "
    "It starts when enough approvers agree."
)
CONFIRM_REJECT_TITLE = "Reject {title}?"
CONFIRM_REJECT_TEXT = "You reject *{title}* of *{target}*; you will be asked why."
CONFIRM_YES_APPROVE = "Yes, approve"
CONFIRM_YES_REJECT = "Yes, reject"
CONFIRM_NO = "Cancel"
APPROVAL_FALLBACK = "{title} of {target} ({source} → {dest}): {state}. Plan {hash}."
SUPERSEDED_NOTE = (
    "The plan changed between approval and start (hash `{old}` → `{new}`): the approvals are "
    "void. The new plan needs approval again:"
)

# ---- plan (dry run) ------------------------------------------------------------------------------
PLAN_HEADER = "Plan: {title} of {target}"
PLAN_FALLBACK = "Plan for {title} of {target}: {vms} VMs, RTO {rto}, hash {hash}"
PLAN_BLOCKED = ":no_entry: This plan has blockers: a run would not start until they are fixed."

# ---- progress and summary ------------------------------------------------------------------------
PROGRESS_HEADER = "{title} run {run_id}: {state}"
PROGRESS_FALLBACK = "Run {run_id}: {state}, phase {phase}, {done}/{total} VMs"
PROGRESS_PHASE = "*Phase*\n{phase}"
PROGRESS_COUNTS = "*VMs*\n{done} of {total} done, {failed} failed"
PROGRESS_ELAPSED = "*Elapsed*\n{elapsed}"
PROGRESS_LEFT = "*Estimated time left*\n{left}"
PROGRESS_APPS = "*vApps*\n{lines}"
PROGRESS_APP_LINE = "• {name}: {done}/{total}{failed}"
PROGRESS_APP_FAILED = ", {failed} failed"
PROGRESS_MORE_APPS = "… and {count} more vApps"
PROGRESS_PAUSED = ":double_vertical_bar: Paused: {message}"
UNKNOWN = "unknown"
SUMMARY_HEADER = "{title} run {run_id}: {state}"
SUMMARY_FALLBACK = "Run {run_id} {state}: {ok} of {total} VMs ok, RTO {rto}"
SUMMARY_RTO = "*RTO*\n{rto}"
SUMMARY_OUTCOME = "*VMs*\n{lines}"
SUMMARY_STATUS_LINE = "• {status}: {count}"
SUMMARY_APPS = "*Per vApp*\n{lines}"
SUMMARY_APP_LINE = "• {name}: {counts}"
SUMMARY_FAILED = "*What failed*\n{lines}"
SUMMARY_FAILED_LINE = "• {name}: {status}{error}"
SUMMARY_NEXT = "*What to do next*\n{text}"
SUMMARY_NEXT_OK = "Nothing: every VM is where it should be."
SUMMARY_NEXT_FAILED = (
    "Look at the failed VMs above (`/dr show {run_id}` lists every step), fix the cause, then "
    "plan again for those VMs."
)
SUMMARY_NEXT_INTERRUPTED = "Resume or abort the run with the buttons in this thread."
SUMMARY_NEXT_STOPPED = (
    "Nothing: the run was {state} on request, and what it had not reached was not done "
    "(not-run above). Ask again when it should run."
)
SUMMARY_CLEANUP_OK = (
    ":white_check_mark: Cleanup verified: nothing this test created is left at {pool}."
)
SUMMARY_CLEANUP_LEFT = ":x: Cleanup incomplete: {reason}"
SUMMARY_REASON = "_{reason}_"
SUMMARY_REASON_MORE = "_{count} more sentence(s): `/dr show {run_id}` prints the whole end line._"
STORAGE_STEP = (
    ":floppy_disk: *Storage step for the storage team* (run {run_id}): {instruction}\n"
    "Click *Done* once it is done; the run goes on."
)
STORAGE_DONE = "Done"
STORAGE_CONFIRM_TITLE = "Storage step done?"
STORAGE_CONFIRM_TEXT = "Confirm that {action} of {lun} is done; run {run_id} resumes."
STORAGE_STEP_CLOSED = ":floppy_disk: Storage step (run {run_id}): {instruction}\n{outcome}"
STORAGE_CONFIRMED = ":white_check_mark: Done: <@{user}> confirmed it at {at}; the run went on."
STORAGE_NOT_NEEDED = "No longer waited for: run {run_id} is {state}."

# ---- interrupted runs ----------------------------------------------------------------------------
INTERRUPTED = (
    ":warning: drbot restarted and found run {run_id} ({title} of {target}) *interrupted* "
    "at {step}.\nDone so far: {done}. It will not go on by itself: resume it (goes on where "
    "the journal stopped) or abort it (removes what it created). Approval rules apply."
)
INTERRUPTED_NO_STEP = "its start"
RESUME = "Resume"
ABORT = "Abort"
CONFIRM_RESUME_TITLE = "Resume run {run_id}?"
CONFIRM_RESUME_TEXT = "Run {run_id} goes on where its journal stopped (after approval if needed)."
CONFIRM_ABORT_TITLE = "Abort run {run_id}?"
CONFIRM_ABORT_TEXT = "Everything run {run_id} created is removed (after approval if needed)."
RUN_UPDATED = "<@{user}>: run {run_id} {action}."
INTERRUPTED_OVER = (
    ":information_source: Run {run_id} was interrupted; it is now *{state}*, so there is "
    "nothing left to resume or abort here."
)

# ---- status, runs, show, audit, help -------------------------------------------------------------
STATUS_HEADER = "DR readiness"
STATUS_FALLBACK = "DR readiness: {verdicts}"
STATUS_PAIR = "{icon} *{protected} → {dr}*: {verdict}{vms}{drill}"
STATUS_PAIR_VMS = ", {count} protected VMs"
STATUS_PAIR_DRILL = ", last drill {outcome} {at}"
STATUS_REASON = "    • {reason}"
STATUS_REPLICATION = "*Replication*\n{lines}"
STATUS_LUN = "• {name}: {state}{lag}"
STATUS_LAG = ", lag {lag}"
STATUS_RUNS = "*Active runs*\n{lines}"
RUN_LINE = "• run {id} {kind} of {target} on {pool}: *{state}*{step}"
RUN_LINE_STEP = " (last step {step})"
RUNS_HEADER = "Runs"
RUNS_NONE = "No runs yet."
SHOW_HEADER = "Run {id}: {kind} of {target}"
SHOW_HISTORY = "*History*\n{lines}"
SHOW_HISTORY_LINE = "• {at} {from_state} → *{to_state}* {reason}"
SHOW_STEPS = "*Steps* ({count}, newest last)\n{lines}"
SHOW_STEP_LINE = "• {name} {subject}: {status}{error}"
AUDIT_HEADER = "Audit trail (last {count})"
AUDIT_VERIFIED = "Hash chain verified: {verified}"
AUDIT_LINE = "• #{seq} {at} {event} by {actor}"
HELP_HEADER = "What you may ask drbot"
HELP_ROLE = "Your role: *{role}*. In threads, mention me instead: `@drbot status`."
HELP_NO_ROLE = "You hold no drbot role yet: ask an admin to add you to the configuration."
HELP_LINE = "`{usage}`: {summary}"
REFUSED = ":no_entry: {reason}"
HINT = "_{hint}_"

# ---- App Home ------------------------------------------------------------------------------------
HOME_HEADER = "Disaster recovery"
HOME_READINESS = "*Readiness*"
HOME_APPROVALS = "*Waiting for your approval*"
HOME_NO_APPROVALS = "Nothing waits for your approval."
HOME_APPROVAL_LINE = "*{title} of {target}* by <@{user}>: {missing} more needed, expires {expires}"
HOME_RUNS = "*Active and recent runs*"
HOME_NEXT_DRILL = "*Next drill*: {when}"
HOME_NO_DRILL = "*Next drill*: not scheduled"
HOME_UNAVAILABLE = "Readiness is unavailable right now: {error}"

# ---- audit channel -------------------------------------------------------------------------------
AUDIT_POST_FALLBACK = "Audit entries {first}-{last}"
AUDIT_POST_LINE = "`#{seq}` {at} *{event}* by {actor}{detail} `{hash}`"
AUDIT_ACTOR_NAMED = "{actor} ({name})"
# A run's step entries, collapsed to one line that names the entries it covers (`#first`-`#last`,
# `count` of them: other entries in that range have their own lines) and the last one's hash.
AUDIT_STEPS_LINE = (
    "`#{first}`-`#{last}` {at} *run {run_id}: {count} steps* by {actor}: {counts}{failure} `{hash}`"
)
AUDIT_STEPS_COUNT = "{count:,} {status}"
AUDIT_STEPS_FIRST_FAILED = " (first failed: `#{seq}` {name} {subject} {code})"
AUDIT_ANCHORS_COVERED = " It vouches for the {count} earlier anchors written since the last post."
AUDIT_ANCHOR = (
    ":anchor: *Audit anchor*: entry {seq} has hash `{hash}` (at {at}). A trail cut or rebuilt "
    "behind this point no longer matches it: `drbot audit verify` checks."
)
AUDIT_ANCHOR_LINE = "Anchor file line: `{line}`"

# ---- a command a hint names (commands/hints.py), as typed in Slack -------------------------------
COMMAND = "`/dr {line}`"
