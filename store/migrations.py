"""The schema, as an ordered list of migrations applied by sqlite-utils' `Migrations`.

Each migration and the record that it was applied share one transaction, so a failed migration
stays pending and is retried at the next `open_store`. Add new migrations at the end; never edit
one that has shipped.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

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
