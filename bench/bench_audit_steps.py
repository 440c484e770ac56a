"""What the audit trail costs a 1,000-VM failover: every step's outcome is an entry of the keyed
hash chain (engine/runner.py `AuditedJournal`), written in the transaction of its journal row.

Measured on a real SQLite store in a temporary directory (as drbot opens it: WAL,
synchronous=NORMAL): the steps of a failover of `--vms` VMs (`--steps` journaled steps a VM:
recover, start, and the vApp/SR steps spread over them) begun and finished through the plain
`Journal` and through the `AuditedJournal`; the difference is what the audit entries cost. Then
the audit channel's side: the feed keeps the entries in the outbox (one transaction) and lays
them out (`blocks.audit_lines`): how many messages the run's steps take.

Run: `python bench/bench_audit_steps.py [--vms 1000] [--steps 3]`.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.slack import blocks
from bot.slack.audit_feed import TOPIC
from engine.clock import SystemClock
from engine.events import EventBus
from engine.journal import Journal
from engine.runner import AuditedJournal
from engine.stepkeys import StepKey, Verb
from store import Kind, open_store

ACTOR = "slack:U0ONCALL01"


def _steps(journal: Journal, vms: int, per_vm: int) -> float:
    t0 = time.perf_counter()
    for vm in range(vms):
        for n in range(per_vm):
            key = StepKey(Verb.RECOVER, (f"vm{n}", f"uuid-{vm:04d}"))
            step_id = journal.begin(key, "recover VM", f"vm-{vm:04d}")
            journal.finish(step_id, key, f"vm-{vm:04d}", {"vm": f"OpaqueRef:{vm}"})
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vms", type=int, default=1000)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = open_store(Path(tmp) / "drbot.db")
        store.audit.append("Decision", ACTOR, {"actor_name": "olivia"})
        runs = [
            store.runs.create(Kind.FAILOVER, "all", "dr", "h" * 64, {}, ACTOR) for _ in range(2)
        ]
        plain = _steps(Journal(store, runs[0], EventBus(), SystemClock()), args.vms, args.steps)
        audited_journal = AuditedJournal(store, runs[1], EventBus(), SystemClock(), ACTOR)
        audited = _steps(audited_journal, args.vms, args.steps)
        entries = args.vms * args.steps
        print(f"steps journaled: {entries:,} per run ({args.vms:,} VMs x {args.steps})")
        print(f"plain journal:   {plain:6.2f} s")
        print(f"with audit:      {audited:6.2f} s")
        extra = audited - plain
        print(f"audit entries:   {extra:6.2f} s in all, {extra / entries * 1e6:.0f} us an entry")
        t0 = time.perf_counter()
        with store.conn.write():
            for e in store.audit.entries():
                store.outbox.add(TOPIC, str(e["seq"]), e)
        kept = time.perf_counter() - t0
        pending = [i["payload"] for i in store.outbox.pending(TOPIC, limit=100_000)]
        t0 = time.perf_counter()
        messages = 0
        while pending:
            _, used = blocks.audit_lines(pending[:2_000], 20)
            pending = pending[used:]
            messages += 1
        laid = time.perf_counter() - t0
        print(f"audit channel:   kept in the outbox in {kept:.2f} s, laid out in {laid:.2f} s")
        print(f"                 {messages} message(s) for {entries + 1:,} entries")
        assert store.audit.verify()
        store.close()


if __name__ == "__main__":
    main()
