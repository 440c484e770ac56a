"""The manual storage adapter through the service: a run pauses at each storage step, the
storage team's Done (confirm-storage) records the confirmation and lets it go on."""

from __future__ import annotations

from commands.requests import (
    ApproveRequest,
    ConfirmStorageRequest,
    FailoverRequest,
    ResumeRequest,
    ShowRequest,
)
from commands.results import ApprovalOpened, Refused, RunStarted, RunUpdated, RunView
from commands.service import Service
from commands.wiring import Wiring
from tests.commands.conftest import ALEX, GROUPS, OLIVIA, PRIYA, VICTOR, manual_storage, policy

RUN_TIMEOUT = 120.0
STEPS = 12  # at most one pause per storage step and LUN


def _manual_service(world, tmp_path) -> Service:
    config = world.config.model_copy(update={"storage": manual_storage(world.storage())})
    wiring = Wiring(config, tmp_path / "manual.db")
    return Service(wiring, policy(), members=lambda g: GROUPS.get(g, []))


def test_a_paused_failover_goes_on_when_the_storage_team_confirms_each_step(world, tmp_path):
    """Approved failover pauses; a viewer's Done is refused; the operator's Done resumes it."""
    svc = _manual_service(world, tmp_path)
    array = world.storage()
    try:
        opened = svc.dispatch(
            FailoverRequest(target="web-shop", planned=True, reason="array work"), OLIVIA
        )
        assert isinstance(opened, ApprovalOpened), opened
        svc.dispatch(ApproveRequest(approval_id=opened.approval.id), ALEX)
        started = svc.dispatch(ApproveRequest(approval_id=opened.approval.id), PRIYA)
        assert isinstance(started, RunStarted), started
        run_id = started.run.id
        assert svc.wait(run_id, timeout=RUN_TIMEOUT).state == "paused"
        viewer = svc.dispatch(ConfirmStorageRequest(run_id=run_id), VICTOR)
        assert isinstance(viewer, Refused)
        assert viewer.code == "not-allowed"
        pending = svc.dispatch(ResumeRequest(run_id=run_id), OLIVIA)
        assert isinstance(pending, Refused)
        assert pending.code == "storage-pending"
        assert f"resume {run_id} --storage-done" in pending.hint
        for _ in range(STEPS):
            view = svc.dispatch(ShowRequest(run_id=run_id), VICTOR)
            assert isinstance(view, RunView)
            if view.storage_step is None:
                break
            getattr(array, view.storage_step.action)(view.storage_step.lun)  # done by hand
            done = svc.dispatch(ConfirmStorageRequest(run_id=run_id), OLIVIA)
            assert isinstance(done, RunUpdated), done
            assert done.storage_step == view.storage_step
            svc.wait(run_id, timeout=RUN_TIMEOUT)
        assert svc.wait(run_id, timeout=RUN_TIMEOUT).state == "succeeded"
        confirmed = [
            e for e in svc.wiring.store.audit.entries() if e["event_type"] == "StorageStepConfirmed"
        ]
        assert {e["payload"]["action"] for e in confirmed} == {"sync", "promote"}
        assert {e["actor"] for e in confirmed} == {"slack:U0OLIVIA"}
        again = svc.dispatch(ConfirmStorageRequest(run_id=run_id), OLIVIA)
        assert isinstance(again, Refused)
        assert again.code == "run-state"
    finally:
        svc.close()
