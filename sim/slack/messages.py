"""Every human-readable string sim/slack produces, in one place.

Slack's own error *names* (`channel_not_found`, `ratelimited` ...) are protocol, not prose,
and live where they are raised; what is here is text a person reads: seed problems, control
endpoint refusals, what a user is shown in the client when something fails.
"""

SEED_NOT_FOUND = (
    "Slack seed file {path} does not exist: pass a .toml or .json seed, or none for the default."
)
SEED_UNREADABLE = "Slack seed file {path} cannot be parsed ({error}): fix its syntax."
SEED_FIELD_MISSING = "A {kind} in the Slack seed has no '{field}': add it."
SEED_BAD_TZ = (
    "Time zone {tz!r} of user {user} is unknown: use an IANA name such as 'Europe/London'."
)
SEED_UNKNOWN_USER = (
    "{where} in the Slack seed names user {user!r}, who is not in [[users]]: add them."
)

# What the Slack client shows a person (the sim records these as "error" entries).
COMMAND_FAILED = '{command} failed with the error "{error}"'
THREAD_TS_OF_REPLY = (
    "The app used reply {reply} as a thread_ts; Slack threads one level deep: name the thread "
    "by its parent's ts ({parent})."
)
INTERACTION_FAILED = "The app did not respond in time ({error}); the action may not have worked."
VIEW_SUBMISSION_FAILED = "We had some trouble connecting ({error}). Try again?"
REQUIRED_FIELD = "Field {block_id}/{action_id} is required: give it a value before submitting."

# Acting as a person: refusals the caller (a test, the demo, the control endpoint) can fix.
UNKNOWN_USER = "No user {ref!r} in this workspace; known: {known}."
UNKNOWN_CHANNEL = "No channel {ref!r} in this workspace; known: {known}."
UNKNOWN_COMMAND = "Command {command} is not defined by the app; it defines {known}."
NOT_A_MEMBER = "{user} is not a member of #{channel}, so cannot do that there."
MESSAGE_NOT_FOUND = "No message {ts} in {channel}."
NO_SUCH_BUTTON = "Message {ts} has no button matching {what}; its buttons are: {known}."
NO_SUCH_VERSION = (
    "Record entry {seq} is not a version of message {ts}: pass the seq of its message, "
    "thread_reply or edit entry."
)
NO_OPEN_VIEW = "{user} has no modal open to submit."

# Control endpoint.
CONTROL_UNKNOWN_ROUTE = "No control route {method} {path}; see GET /control for the list."
CONTROL_BAD_JSON = "The request body is not a JSON object: send Content-Type: application/json."
CONTROL_MISSING = "Field {field!r} is required for {route}."
CONTROL_CLOCK_NOT_MANUAL = "This sim runs on wall time; start it with a ManualClock to move time."
