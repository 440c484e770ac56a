"""The schema, as an ordered list of migrations applied by sqlite-utils' `Migrations`.

Each migration and the record that it was applied share one transaction, so a failed migration
stays pending and is retried at the next `open_store`. Add new migrations at the end; never edit
one that has shipped.
"""

from __future__ import annotations

import json

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

from store.drills import protected_of

migrations = Migrations("drbot.store")


@migrations()
def m001_runs_and_journal(db: Database) -> None:
    db["runs"].create(
        {
            "id": int,
            "kind": str,
            "target": str,
            "pool": str,
            "state": str,
            "plan_hash": str,
            "plan_json": str,
            "requested_by": str,
            "reason": str,
            "created_at": str,
            "updated_at": str,
            "last_step": str,
            "outcome_json": str,
            "error": str,
        },
        pk="id",
        not_null={"kind", "target", "pool", "state", "created_at", "updated_at"},
    )
    db["runs"].create_index(["state"])
    db["run_transitions"].create(
        {
            "id": int,
            "run_id": int,
            "from_state": str,
            "to_state": str,
            "reason": str,
            "at": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "to_state", "at"},
    )
    db["run_transitions"].create_index(["run_id"])
    db["leases"].create(
        {"pool": str, "run_id": int, "holder": str, "until": str},
        pk="pool",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "holder", "until"},
    )


@migrations()
def m002_steps(db: Database) -> None:
    db["steps"].create(
        {
            "id": int,
            "run_id": int,
            "key": str,
            "name": str,
            "subject": str,
            "status": str,
            "task_ref": str,
            "result_json": str,
            "error": str,
            "attempts": int,
            "started_at": str,
            "finished_at": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "key", "name", "status", "attempts", "started_at"},
    )
    db["steps"].create_index(["run_id", "key"], unique=True)


@migrations()
def m003_audit_and_drills(db: Database) -> None:
    db["audit"].create(
        {
            "seq": int,
            "at": str,
            "event_type": str,
            "actor": str,
            "payload_json": str,
            "prev_hash": str,
            "hash": str,
        },
        pk="seq",
        not_null={"at", "event_type", "actor", "payload_json", "prev_hash", "hash"},
    )
    db["drills"].create(
        {
            "id": int,
            "run_id": int,
            "kind": str,
            "pool": str,
            "rto_seconds": float,
            "outcome": str,
            "per_vm_json": str,
            "at": str,
        },
        pk="id",
        foreign_keys=[("run_id", "runs", "id")],
        not_null={"run_id", "kind", "pool", "outcome", "at"},
    )
    db["drills"].create_index(["pool", "at"])


@migrations()
def m004_key_values(db: Database) -> None:
    db["kv"].create(
        {"namespace": str, "key": str, "value_json": str, "updated_at": str},
        pk=("namespace", "key"),
        not_null={"value_json", "updated_at"},
    )


@migrations()
def m005_readiness_history_and_schedules(db: Database) -> None:
    """Readiness samples per pool (kept 30+ days for summaries, alerts and the RPO chart), the
    runs of scheduled jobs (one row per schedule and due time: the claim that makes a job run
    once across replicas) and the scheduler's lease (one active scheduler per store)."""
    db["readiness_samples"].create(
        {
            "id": int,
            "pool": str,
            "dr_pool": str,
            "at": str,
            "verdict": str,
            "lag_seconds": float,
            "metadata_age_seconds": float,
            "capacity_needed_bytes": int,
            "capacity_free_bytes": int,
            "unprotected_count": int,
            "detail_json": str,
        },
        pk="id",
        not_null={"pool", "at", "verdict", "detail_json"},
    )
    db["readiness_samples"].create_index(["pool", "at"])
    db["schedule_runs"].create(
        {
            "id": int,
            "schedule": str,
            "due_at": str,
            "status": str,
            "holder": str,
            "started_at": str,
            "finished_at": str,
            "detail": str,
        },
        pk="id",
        not_null={"schedule", "due_at", "status"},
    )
    db["schedule_runs"].create_index(["schedule", "due_at"], unique=True)
    db["scheduler_lease"].create(
        {"name": str, "holder": str, "until": str},
        pk="name",
        not_null={"holder", "until"},
    )


@migrations()
def m006_approvals(db: Database) -> None:
    db["approvals"].create(
        {
            "id": int,
            "action": str,
            "request_json": str,
            "requester_id": str,
            "requester_json": str,
            "reason": str,
            "run_id": int,
            "plan_hash": str,
            "quorum": int,
            "state": str,
            "created_at": str,
            "expires_at": str,
            "decided_at": str,
            "decided_by_json": str,
            "rejection": str,
            "supersedes": int,
            "superseded_by": int,
            "refs_json": str,
        },
        pk="id",
        not_null={
            "action",
            "request_json",
            "requester_id",
            "requester_json",
            "plan_hash",
            "quorum",
            "state",
            "created_at",
            "expires_at",
        },
    )
    db["approvals"].create_index(["state", "expires_at"])
    db["approval_votes"].create(
        {"approval_id": int, "voter_id": str, "voter_json": str, "at": str},
        pk=("approval_id", "voter_id"),
        foreign_keys=[("approval_id", "approvals", "id")],
        not_null={"voter_json", "at"},
    )


@migrations()
def m007_run_state_details(db: Database) -> None:
    # What the run's current state waits on (a paused run: the manual storage step), kept with
    # the state so every transition replaces it and nothing must remember to clear it.
    db["runs"].add_column("state_details_json", str)
    # Paused runs recorded before kept their step in the kv table's "paused-runs" namespace.
    if "kv" in db.table_names():
        for row in list(db["kv"].rows_where("namespace = ?", ["paused-runs"])):
            db.execute(
                "UPDATE runs SET state_details_json = ? WHERE id = ? AND state = 'paused'",
                [row["value_json"], int(row["key"])],
            )
        db.execute("DELETE FROM kv WHERE namespace = ?", ["paused-runs"])


@migrations()
def m_slack_outbox(db: Database) -> None:
    """What the Slack bot must post, kept until Slack took it (store/outbox.py)."""
    db["outbox"].create(
        {
            "id": int,
            "topic": str,
            "key": str,
            "payload_json": str,
            "created_at": str,
            "posted_at": str,
            "attempts": int,
            "error": str,
        },
        pk="id",
        not_null={"topic", "key", "payload_json", "created_at", "attempts"},
        defaults={"attempts": 0},
    )
    db["outbox"].create_index(["topic", "key"], unique=True)
    db["outbox"].create_index(["topic", "posted_at"])


@migrations()
def m_drills_by_protected_pool(db: Database) -> None:
    """Drills keyed by the protected pool they drilled (a DR pool takes several), filled in for
    the drills already recorded from their runs' plans (store/drills.py `protected_of`)."""
    db["drills"].add_column("protected_pool", str)
    for row in list(
        db.query(
            "SELECT drills.id AS id, drills.kind AS kind, runs.plan_json AS plan_json "
            "FROM drills JOIN runs ON runs.id = drills.run_id"
        )
    ):
        protected = protected_of(row["kind"], json.loads(row["plan_json"] or "{}"))
        db.execute("UPDATE drills SET protected_pool = ? WHERE id = ?", [protected, row["id"]])
    db["drills"].create_index(["protected_pool", "at"])
