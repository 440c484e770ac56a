"""Every sentence the reports post or print, in one place."""

from __future__ import annotations

VERDICT_ICON = {
    "ready": ":large_green_circle:",
    "degraded": ":large_yellow_circle:",
    "not-ready": ":red_circle:",
    "unknown": ":white_circle:",
}

# -- readiness summary -------------------------------------------------------------------------
SUMMARY_TITLE = "DR readiness, {when}"
SUMMARY_TEXT = "DR readiness: {counts}"
SUMMARY_POOL = "{icon} *{pool}* → {dr}: *{verdict}*"
SUMMARY_FIGURES = "lag {lag} · metadata {age} old · capacity {capacity} · {unprotected}"
SUMMARY_NO_CHANGE = "No change since the last summary."
SUMMARY_FIRST = "First summary: nothing to compare with yet."
SUMMARY_MORE_POOLS = "…and {count} more pools: {counts}."
UNPROTECTED = "{count} unprotected VMs"
ALL_PROTECTED = "every VM protected"
CHANGE_VERDICT = "verdict {before} → {after}"
CHANGE_UNPROTECTED = "unprotected: {names}"
CHANGE_NEW_UNPROTECTED = "newly unprotected: {names}"
CHANGE_NOW_PROTECTED = "protected again: {names}"
CHANGE_METADATA_STALE = "metadata {age} old (over {limit})"
CHANGE_LAG_HIGH = "replication lag {lag} (RPO target {limit})"
CHANGE_CAPACITY = "DR capacity short: {needed} needed, {free} free"
CHANGE_NETWORKS = "networks missing at the DR site: {names}"
AND_MORE = "{shown} and {more} more"
UNKNOWN_FIGURE = "?"

# -- alerts --------------------------------------------------------------------------------------
ALERT = "{icon} *{pool}* readiness dropped to *{verdict}* (was {before})."
ALERT_TEXT = "{pool} readiness dropped to {verdict}"
RECOVERED = ":white_check_mark: *{pool}* is ready again (was {before} since {since})."
RECOVERED_TEXT = "{pool} is ready again"

# -- drills ---------------------------------------------------------------------------------------
DRILL_ACTOR = "system:drbot-scheduler"
DRILL_REASON = "scheduled DR drill (pre-approved by the [reports.drill] configuration)"
DRILL_BLOCKED = "The scheduled drill could not start: {why}"
DRILL_TITLE = "DR drill #{run_id}: {verdict}"
DRILL_PASS = "PASSED"  # noqa: S105 (a verdict, not a password)
DRILL_FAIL = "FAILED"
DRILL_TEXT = "DR drill #{run_id} {verdict}: RTO {rto} (target {target})"
DRILL_SUMMARY = (
    "{target} from *{source}* into *{dest}*: {vms} VMs in {apps} vApps; "
    "RTO *{rto}* (target {target_rto}); RPO {rpo}; metadata {age} old; cleanup {cleanup}."
)
DRILL_COUNTS = "{recovered}/{vms} recovered · {started}/{vms} started · {failed} failed"
DRILL_WHY = "*Why:* {reason}"
DRILL_FAILED_VMS = "*What failed:*"
DRILL_SLOW_APPS = "*Over the RTO target:* {names}"
DRILL_DETAIL = "Per-VM results, the RTO chart and the RPO chart are in this thread."
CLEANUP_VERIFIED = "verified"
CLEANUP_NOT = "NOT verified"
CHART_RTO_TITLE = "RTO per vApp, drill #{run_id}"
CHART_TREND_TITLE = "RTO of the last {count} drills"
CHART_RPO_TITLE = "RPO over the last {days} days"
CHART_RTO_COMMENT = "RTO per vApp against the {target} target, and the trend of recent drills."
CHART_RPO_COMMENT = "Replication lag and metadata age per pool, from the readiness checks."
CSV_COMMENT = "Per-VM results of drill #{run_id}."

# -- audit ----------------------------------------------------------------------------------------
AUDIT_DIGEST_TITLE = "Audit digest, {when}"
AUDIT_DIGEST_TEXT = "Audit digest: {count} events since {since}"
AUDIT_DIGEST_NONE = "No audit events since {since}."
AUDIT_DIGEST_LINE = "`{type}`: {count}"
AUDIT_DIGEST_RANGE = "entries {first} to {last}"
AUDIT_SINCE_START = "the start"
AUDIT_DIGEST_ACTORS = "*By:* {actors}"
AUDIT_CHAIN_OK = ":lock: Audit chain verified: {count} entries."
AUDIT_CHAIN_BROKEN = (
    ":rotating_light: *The audit chain does not verify*: {detail}. Someone or something edited, "
    "removed or reordered entries; run `drbot audit verify` and keep the store file as evidence."
)
AUDIT_CHAIN_BROKEN_TEXT = "The audit chain does not verify"

# -- CLI -----------------------------------------------------------------------------------------
NO_DRILLS = (
    "No drill in the store yet; run one (`drbot run test-failover all`) or wait for the schedule."
)
NOT_A_DRILL = "Run {run_id} is a {kind}, not a test failover; pick a drill (`drbot runs`)."
NO_SUCH_RUN = "There is no run {run_id}; list them with `drbot runs`."
RUN_OR_LAST = "Give a run id or --last, not both."
WROTE = "Wrote {png}, {rpo}, {csv} and {html}."

# -- schedules (for /dr status and App Home) ------------------------------------------------------
SCHEDULE_LINE = "{name}: next {next}; {last}"
SCHEDULE_LAST = "last {when} ({status})"
SCHEDULE_NEVER_RAN = "not run yet"
SCHEDULE_OFF = "{name}: off"
NEVER = "never"
