"""How the operator CLI shows plans and runs to people: grouped checks, 80-column tables.

Plans and runs are built as the engine's and the service's models (no simulator needed: what
is under test is only how they are printed)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bot.ops import render
from bot.ops.output import console, terminal_width
from commands.results import RunSummary, RunView, StepView, Transition, VMOutcomeView
from engine.models import AppliancePlan, Check, LunPlan, Plan, VMPlan

REPLACED = "An older, halted copy exists in pool 'prod'; it will be replaced."
NOT_IN_METADATA = (
    "not in the replicated metadata (created inside the replication lag?); a planned failover "
    "syncs first, or recover it once replication has caught up"
)


@pytest.fixture
def narrow() -> Iterator[None]:
    with terminal_width(80):
        yield


def _printed(show, *args) -> list[str]:
    with console.capture() as captured:
        show(*args)
    return [line.rstrip() for line in captured.get().splitlines()]


def _failback(vms: int = 40) -> Plan:
    """A failback of `vms` VMs in one vApp, each with an older copy at the primary, as the
    planner makes it after a failover."""
    members = [VMPlan(uuid=f"u{i}", name=f"vm-{i:02d}") for i in range(vms)]
    checks = [
        Check(name="existing-replaced", status="warning", subject=vm.name, message=REPLACED)
        for vm in members
    ]
    checks += [
        Check(name="rpo", status="warning", subject="Gold iSCSI 01", message="900 s behind."),
        Check(name="rpo", status="warning", subject="Gold iSCSI 02", message="900 s behind."),
        Check(name="metadata", status="blocker", subject="dr", message="No metadata."),
    ]
    return Plan(
        kind="failback",
        target="all",
        source_pool="dr",
        dest_pool="prod",
        appliances=[AppliancePlan(uuid="a", name="payments", order_groups=[members])],
        luns=[
            LunPlan(lun="prod-gold-iscsi-01", sr_uuid="s1", sr_name="Gold iSCSI 01"),
            LunPlan(lun="prod-gold-iscsi-02", sr_uuid="s2", sr_name="Gold iSCSI 02"),
        ],
        checks=checks,
        hash="0" * 64,
    )


def test_checks_saying_the_same_of_many_vms_are_one_line_naming_how_many_and_which():
    """40 VMs with the same warning are one check naming 40 VMs and the first few of them."""
    lines = render.grouped_checks(_failback())
    assert [(c.status, c.name) for c in lines] == [
        ("blocker", "metadata"),
        ("warning", "existing-replaced"),
        ("warning", "rpo"),
    ]
    replaced = lines[1]
    assert replaced.message == REPLACED
    assert replaced.subject.startswith("40 VMs (vm-00, vm-01, ")
    assert replaced.subject.endswith(" more)")
    assert lines[2].subject == "2 SRs (Gold iSCSI 01, Gold iSCSI 02)"


def test_a_grouped_check_names_the_last_subject_rather_than_and_1_more():
    """'and 1 more' would say no less than the name: three subjects are all named."""
    plan = _failback(vms=3)
    (replaced,) = [c for c in render.grouped_checks(plan) if c.name == "existing-replaced"]
    assert replaced.subject == "3 VMs (vm-00, vm-01, vm-02)"


def test_a_failback_plan_at_80_columns_says_each_warning_once(narrow):
    """The plan's table says the replaced-copy warning once, counts every check, fits 80
    columns and never cuts a text; the plan itself (what --json prints) keeps all 40."""
    plan = _failback()
    lines = _printed(render.plan_table, plan)
    assert " ".join(" ".join(lines).split()).count(REPLACED) == 1
    assert "checks (1 blocker, 42 warnings, 0 ok)" in lines
    assert max(len(line) for line in lines) <= 80
    assert not any("\u2026" in line for line in lines)
    assert len([c for c in plan.checks if c.name == "existing-replaced"]) == 40


def test_the_luns_of_a_plan_fit_80_columns_in_words(narrow):
    """Long LUN names keep their line; the action is said in words, not the engine's names."""
    plan = _failback().model_copy(
        update={
            "luns": [
                LunPlan(
                    lun="boston-production-scratch-nfs",
                    sr_uuid="s",
                    sr_name="Scratch NFS",
                    state="replicating",
                    lag_seconds=300,
                    action="present_test_copy",
                )
            ]
        }
    )
    lines = _printed(render.plan_table, plan)
    row = next(line for line in lines if "boston-production-scratch-nfs" in line)
    assert "replicating, 300 s" in row
    assert "test copy" in row
    assert not any("present_test_copy" in line for line in lines)
    assert max(len(line) for line in lines) <= 80


def test_a_blind_plan_says_where_its_vms_will_come_from(narrow):
    """A failover planned with the primary unreadable says the VMs come from the metadata,
    rather than printing an empty table."""
    plan = Plan(
        kind="failover", target="all", source_pool="prod", dest_pool="dr", source_reachable=False
    )
    lines = _printed(render.plan_table, plan)
    assert any("read from the replicated metadata during the run" in line for line in lines)
    assert not any("vApp / VM" in line for line in lines)


def _run_view() -> RunView:
    run = RunSummary(
        id=1,
        kind="test-failover",
        target="all",
        pool="dr",
        protected_pool="prod",
        state="partially-succeeded",
        requested_by="cli:root",
        created_at="2026-12-05T07:16:12+00:00",
        updated_at="2026-12-05T07:20:26+00:00",
        last_step="destroy VM crm-app-02",
    )
    return RunView(
        run=run,
        history=[Transition(at="2026-12-05T07:16:12+00:00", to_state="queued", reason="created")],
        steps=[
            StepView(
                key="start:vm:1",
                name="storage present_test_copy",
                subject="mon-collector-01",
                status="failed",
                attempts=1,
                task_ref="OpaqueRef:0123456789abcdef",
                error="VM.get_by_uuid failed: UUID_INVALID ['VM', '1a72d76f-cda0-4268-9715'].",
            )
        ],
        vms=[
            VMOutcomeView(
                uuid="1",
                name="pay-app-04",
                appliance="payments",
                status="not-in-metadata",
                error=NOT_IN_METADATA,
            )
        ],
    )


def test_runs_and_a_run_fit_80_columns_with_every_error_whole(narrow):
    """`drbot runs` keeps kind, state and time on one line; `runs show` lists each step's and
    VM's error whole under its table, never cut at 80 characters."""
    view = _run_view()
    listed = _printed(render.runs_table, [view.run])
    row = next(line for line in listed if line.lstrip().startswith("1 "))
    assert row.split()[:2] == ["1", "test-failover"]
    assert "partially-succeeded" in row
    assert "12-05 07:16" in row
    shown = _printed(render.run_tables, view)
    assert max(len(line) for line in listed + shown) <= 80
    text = " ".join(" ".join(line.split()) for line in shown)
    assert "caught up" in text  # the end of the VM's error, past 80 characters
    assert "UUID_INVALID" in text
    assert any(line.startswith("not-in-metadata pay-app-04: not in the") for line in shown)


def test_a_wide_terminal_shows_errors_in_their_column():
    """From 120 columns a run's errors are a column of the VM table, whole."""
    with terminal_width(160):
        shown = _printed(render.run_tables, _run_view())
    header = next(line for line in shown if "outcome" in line)
    assert "error" in header
    assert any("pay-app-04" in line and "not in the replicated" in line for line in shown)


def test_a_request_over_several_pools_fits_80_columns_with_its_notes_whole(narrow):
    """`drbot plan/run KIND site:NAME` shows each pool's place, VMs and RTO within 80
    columns, a long note folded under its row rather than cut."""
    from bot.ops.estate import estate_table
    from commands.results import EstateItem, EstateResult

    note = "waits for run 7 (paused at a manual storage step): drbot resume 7 --storage-done"
    result = EstateResult(
        request_id="r1",
        kind="test-failover",
        scope="site:east",
        phase="planned",
        plan_hash="h",
        items=[
            EstateItem(
                protected=f"east-p{i}",
                dr="dr",
                plan_hash="h",
                vms=300,
                position=i,
                estimated_rto_seconds=1431.0,
                state="held",
                note=note,
            )
            for i in (1, 2, 3)
        ],
    )
    lines = _printed(estate_table, result)
    assert lines[0] == "test-failover of site:east: planned"
    assert max(len(line) for line in lines) <= 80
    assert any("east-p3" in line and "1431 s" in line for line in lines)
    assert " ".join(" ".join(lines).split()).count(note) == 3


def test_a_paused_run_says_which_commands_go_on(narrow):
    """A run paused at a manual storage step is not said to have ended: the CLI names the
    step and the exact commands (resume with --storage-done, or abort)."""
    from commands.results import StorageStep

    view = _run_view()
    paused = view.model_copy(
        update={
            "run": view.run.model_copy(update={"state": "paused"}),
            "storage_step": StorageStep(
                lun="prod-gold-iscsi-02", action="sync", instruction="Sync it now."
            ),
        }
    )
    ended = " ".join(" ".join(_printed(render.end, paused, False)).split())
    assert "Run 1 is paused" in ended
    assert "ended" not in ended
    assert "drbot resume 1 --storage-done" in ended
    assert "drbot abort 1" in ended
    shown = " ".join(" ".join(_printed(render.run_tables, paused)).split())
    assert "Waits for storage step 'sync' on LUN prod-gold-iscsi-02: Sync it now." in shown
