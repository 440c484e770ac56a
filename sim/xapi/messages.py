"""User-facing strings of the simulator's control API, its runner and `drbot sim` commands."""

from __future__ import annotations

UNKNOWN_ROUTE = "no such endpoint: {method} {path}; see docs/contracts/sim-xapi.md (Control API)"
BAD_JSON = "the request body must be a JSON object: {error}"
BAD_FAULT_KIND = (
    "unknown fault kind {kind!r}: use one of vm_start, lun, task_stall, expire_sessions"
)
FAULT_NEEDS = "fault {kind!r} needs the field {field!r}"
BAD_ERROR = "'error' must be a list of strings, the XAPI error code first, e.g. ['VM_CRASHED']"
BAD_SINCE = "'since' must be a whole number (the last seq you have seen)"
BAD_STALLED = "'count' must be a whole number and 'timeout' a number of seconds"
TEST_COPY_ATTACHED = (
    "the test copy of LUN {lun} is attached to pool {pool}: unplug and forget its SR there "
    "first (or add ?force=true to pull it anyway)"
)

STATE_SAVED = "state saved to {path}"
STATE_RESUMED = "resumed the world from {path} (scenario {scenario!r})"
STATE_UNREADABLE = (
    "cannot resume from {path}: {error}. Remove the directory to start the scenario afresh."
)
SERVING = "sim/xapi serving scenario {scenario!r} at speed {speed}"
ENDPOINTS_WRITTEN = "endpoints written to {path}"
STOPPING = "stopping the simulator"

CTL_UNREACHABLE = (
    "cannot reach the simulator's control API at {url}: {error}. Is `drbot sim serve` "
    "running, and does --endpoints name its endpoints file?"
)
CTL_NO_ENDPOINTS = (
    "no endpoints file at {path}: start `drbot sim serve --endpoints {path}` first, or pass "
    "--control URL"
)
CTL_FAILED = "the simulator refused: {error}"
