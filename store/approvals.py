"""Approvals: a request waiting for people to agree, bound to the hash of the plan they saw.

The store keeps plain values and JSON (the commands layer owns the models). Every change is one
write transaction (`BEGIN IMMEDIATE`) whose UPDATE is conditional on the state it expects, so
two clicks at once, a Slack retry or a second process on the same file can never both move an
approval on: exactly one vote reaches the quorum (`VoteOutcome.QUORUM`) and goes on to start the
run; the other sees `DUPLICATE` or `NOT_PENDING`.

States: `pending` -> `approved` (quorum) -> `started` | `failed` | `superseded`;
`pending` -> `rejected` | `expired`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from store.db import StoreConnection, iso
from store.errors import StoreError

PENDING, APPROVED = "pending", "approved"
AFTER_QUORUM = frozenset({"started", "failed", "superseded"})


class ApprovalNotFound(StoreError):
    def __init__(self, approval_id: int) -> None:
        super().__init__(
            f"No approval {approval_id} in the store; ask for the run again to open a new one."
        )
        self.approval_id = approval_id


class VoteOutcome(StrEnum):
    """What a vote did."""

    COUNTED = "counted"
    """Recorded; the quorum is not reached yet."""
    QUORUM = "quorum"
    """Recorded, and it reached the quorum: the approval is now `approved` (only one vote
    ever gets this)."""
    DUPLICATE = "duplicate"
    """This voter had already approved; nothing changed."""
    NOT_PENDING = "not-pending"
    """The approval was already decided, expired or superseded; nothing changed."""
    EXPIRED = "expired"
    """It expired before this vote; it is now `expired`."""


@dataclass(frozen=True)
class Vote:
    outcome: VoteOutcome
    approval: dict[str, Any]


def _decode(row: dict[str, Any], votes: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(row)
    out["request"] = json.loads(row["request_json"])
    out["requester"] = json.loads(row["requester_json"])
    out["decided_by"] = json.loads(row["decided_by_json"]) if row["decided_by_json"] else None
    out["refs"] = json.loads(row["refs_json"]) if row["refs_json"] else {}
    out["votes"] = [
        {"voter_id": v["voter_id"], "voter": json.loads(v["voter_json"]), "at": v["at"]}
        for v in votes
    ]
    return out


class Approvals:
    """Open, vote on, reject, expire and close approvals; attach a front end's references."""

    def __init__(self, conn: StoreConnection) -> None:
        self._c = conn

    def open(
        self,
        *,
        action: str,
        request: dict[str, Any],
        requester_id: str,
        requester: dict[str, Any],
        reason: str | None,
        plan_hash: str,
        quorum: int,
        expires_at: datetime,
        run_id: int | None = None,
        supersedes: int | None = None,
    ) -> dict[str, Any]:
        """A new `pending` approval; returns it."""
        with self._c.write() as db:
            table = db.table("approvals")
            table.insert(
                {
                    "action": action,
                    "request_json": json.dumps(request, sort_keys=True),
                    "requester_id": requester_id,
                    "requester_json": json.dumps(requester, sort_keys=True),
                    "reason": reason,
                    "run_id": run_id,
                    "plan_hash": plan_hash,
                    "quorum": quorum,
                    "state": PENDING,
                    "created_at": self._c.stamp(),
                    "expires_at": iso(expires_at),
                    "decided_at": None,
                    "decided_by_json": None,
                    "rejection": None,
                    "supersedes": supersedes,
                    "superseded_by": None,
                    "refs_json": None,
                }
            )
            assert table.last_pk is not None
            approval_id = int(table.last_pk)
            if supersedes is not None:
                db.execute(
                    "UPDATE approvals SET superseded_by = ? WHERE id = ?", [approval_id, supersedes]
                )
        return self.get(approval_id)

    def get(self, approval_id: int) -> dict[str, Any]:
        """The approval with its votes (oldest first); raises `ApprovalNotFound`."""
        with self._c.lock:
            rows = list(self._c.db["approvals"].rows_where("id = ?", [approval_id]))
            if not rows:
                raise ApprovalNotFound(approval_id)
            votes = list(
                self._c.db["approval_votes"].rows_where(
                    "approval_id = ?", [approval_id], order_by="at, voter_id"
                )
            )
        return _decode(rows[0], votes)

    def recent(self, states: set[str] | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Approvals, newest first (optionally only those in `states`)."""
        where, args = None, []
        if states:
            where = "state in ({})".format(", ".join("?" for _ in states))
            args = sorted(states)
        with self._c.lock:
            ids = [
                r["id"]
                for r in self._c.db["approvals"].rows_where(
                    where, args, order_by="id desc", limit=limit, select="id"
                )
            ]
        return [self.get(i) for i in ids]

    def vote(self, approval_id: int, voter_id: str, voter: dict[str, Any], now: datetime) -> Vote:
        """Count one approval by `voter_id`, atomically (see the module docstring)."""
        at = iso(now)
        with self._c.write() as db:
            row = self._row(approval_id)
            if row["state"] != PENDING:
                outcome = VoteOutcome.NOT_PENDING
            elif at >= row["expires_at"]:
                self._set(db, approval_id, PENDING, state="expired", decided_at=at)
                outcome = VoteOutcome.EXPIRED
            elif db.execute(
                "SELECT 1 FROM approval_votes WHERE approval_id = ? AND voter_id = ?",
                [approval_id, voter_id],
            ).fetchone():
                outcome = VoteOutcome.DUPLICATE
            else:
                db.table("approval_votes").insert(
                    {
                        "approval_id": approval_id,
                        "voter_id": voter_id,
                        "voter_json": json.dumps(voter, sort_keys=True),
                        "at": at,
                    }
                )
                count = db["approval_votes"].count_where("approval_id = ?", [approval_id])
                outcome = VoteOutcome.COUNTED
                if count >= row["quorum"] and self._set(
                    db, approval_id, PENDING, state=APPROVED, decided_at=at
                ):
                    outcome = VoteOutcome.QUORUM
        return Vote(outcome, self.get(approval_id))

    def reject(self, approval_id: int, by: dict[str, Any], reason: str, now: datetime) -> Vote:
        """Reject a pending approval (once); `NOT_PENDING` or `EXPIRED` otherwise."""
        at = iso(now)
        with self._c.write() as db:
            row = self._row(approval_id)
            if row["state"] != PENDING:
                outcome = VoteOutcome.NOT_PENDING
            elif at >= row["expires_at"]:
                self._set(db, approval_id, PENDING, state="expired", decided_at=at)
                outcome = VoteOutcome.EXPIRED
            else:
                self._set(
                    db,
                    approval_id,
                    PENDING,
                    state="rejected",
                    decided_at=at,
                    decided_by_json=json.dumps(by, sort_keys=True),
                    rejection=reason,
                )
                outcome = VoteOutcome.COUNTED
        return Vote(outcome, self.get(approval_id))

    def close(
        self,
        approval_id: int,
        state: str,
        *,
        run_id: int | None = None,
        rejection: str | None = None,
    ) -> dict[str, Any]:
        """Move an `approved` approval to `started`, `failed` or `superseded`."""
        if state not in AFTER_QUORUM:
            raise ValueError(f"an approved approval becomes one of {sorted(AFTER_QUORUM)}")
        with self._c.write() as db:
            changes: dict[str, Any] = {"state": state}
            if run_id is not None:
                changes["run_id"] = run_id
            if rejection is not None:
                changes["rejection"] = rejection
            if not self._set(db, approval_id, APPROVED, **changes):
                row = self._row(approval_id)
                raise StoreError(
                    f"Approval {approval_id} is {row['state']}, not approved; it cannot "
                    f"become {state}."
                )
        return self.get(approval_id)

    def expire_due(self, now: datetime) -> list[dict[str, Any]]:
        """Mark every pending approval whose expiry has come `expired`; returns them."""
        at = iso(now)
        with self._c.write() as db:
            ids = [
                r["id"]
                for r in db.query(
                    "SELECT id FROM approvals WHERE state = ? AND expires_at <= ?", [PENDING, at]
                )
            ]
            for approval_id in ids:
                self._set(db, approval_id, PENDING, state="expired", decided_at=at)
        return [self.get(i) for i in ids]

    def bind(self, approval_id: int, refs: dict[str, Any]) -> dict[str, Any]:
        """Merge a front end's own references (opaque JSON) into the approval's."""
        with self._c.write() as db:
            row = self._row(approval_id)
            merged = {**(json.loads(row["refs_json"]) if row["refs_json"] else {}), **refs}
            db.execute(
                "UPDATE approvals SET refs_json = ? WHERE id = ?",
                [json.dumps(merged, sort_keys=True), approval_id],
            )
        return self.get(approval_id)

    # -- internals ------------------------------------------------------------------------------

    def _row(self, approval_id: int) -> dict[str, Any]:
        rows = list(self._c.db["approvals"].rows_where("id = ?", [approval_id]))
        if not rows:
            raise ApprovalNotFound(approval_id)
        return rows[0]

    @staticmethod
    def _set(db: Any, approval_id: int, expected: str, **changes: Any) -> bool:
        """UPDATE the approval only if it is still in `expected`; True when it was."""
        columns = ", ".join(f"{name} = ?" for name in changes)
        cursor = db.execute(
            f"UPDATE approvals SET {columns} WHERE id = ? AND state = ?",  # noqa: S608 (names are ours)
            [*changes.values(), approval_id, expected],
        )
        return bool(cursor.rowcount == 1)
