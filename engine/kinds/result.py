"""What a kind reports at the end of a run."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from engine import run_messages
from store import RunState, VMOutcome


@dataclass
class Result:
    """The overall state the run ends in, why, and its measured RTO (None if not measured)."""

    state: RunState
    reason: str = ""
    rto_seconds: float | None = None
    left_behind: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def verdict(outcomes: Iterable[VMOutcome], power_after: str) -> RunState:
    """`succeeded` when every VM reached what the plan's power setting wants (or there was no
    VM), `failed` when none did, else `partially-succeeded`."""
    reached = [o.status.succeeded(power_after) for o in outcomes]
    if all(reached):
        return RunState.SUCCEEDED
    return RunState.FAILED if not any(reached) else RunState.PARTIALLY_SUCCEEDED


def ending(
    outcomes: Mapping[str, VMOutcome],
    power_after: str,
    *,
    rto: float | None,
    run_id: int,
    pool: str,
) -> str:
    """The run's last line: its RTO when every VM came back; otherwise, on one line, how many
    did not, the first of them in start order named as a VM (with the step that failed, the
    vApp's when its vApp's recovery failed), XAPI's error code and the cause whole (never cut
    mid-sentence), what to do next by that code unless the VM's own message already says it
    (each piece of advice once), where every step is listed, and the RTO."""
    rto_text = run_messages.RTO.format(rto=rto) if rto is not None else run_messages.NO_RTO
    failed = [o for o in outcomes.values() if not o.status.succeeded(power_after)]
    if not failed:
        return rto_text
    # A VM skipped because another step failed says less than the failure itself.
    first = next((o for o in failed if o.code), failed[0])
    code = first.code or first.status.value
    error = " ".join((first.error or first.status.value).split())
    if code in run_messages.ADVISED_BY_THE_VM:
        # Its message says why and what to do; no step failed for it.
        what = run_messages.ENDING_NOT_RECOVERED.format(vm=first.name)
        advice = ""
    else:
        if first.step == run_messages.RECOVER_APP:
            what = run_messages.ENDING_APP_STEP.format(
                step=first.step, app=first.appliance or "?", vm=first.name
            )
        elif first.step:
            what = run_messages.ENDING_WHAT.format(step=first.step, vm=first.name)
        else:
            what = run_messages.ENDING_STATUS.format(vm=first.name, status=first.status.value)
        advice = run_messages.ENDING_NEXT.format(
            next=run_messages.NEXT_BY_CODE.get(code, run_messages.NEXT_DEFAULT).format(
                pool=pool, code=code
            )
        )
    cause = error if code == first.status.value else f"{code}: {error}"
    return run_messages.ENDING.format(
        failed=len(failed),
        total=len(outcomes),
        what=what,
        cause=cause,
        next=advice,
        run_id=run_id,
        rto=rto_text,
    )
