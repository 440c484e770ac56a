"""`drbot store backup` / `restore`: an online copy that is consistent while the bot writes,
and a standby started from it that does not act while the primary's leases are live."""

from __future__ import annotations

import sqlite3
import stat
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ops.output import terminal_width
from bot.schedules import LEASE, Schedule, Scheduler
from engine.clock import ManualClock
from store import LeaseHeld, RunState, open_store
from store.backup import backup, restore
from store.errors import StoreUnusable
from tests.ops.conftest import invoke, write_config

PAIRS = "pairs"  # kv namespace the writer keeps two values equal in, in one transaction


def _writer(path: Path, stop: threading.Event, written: threading.Event, count: list[int]) -> None:
    """Write until told to stop, each transaction setting `a` and `b` to the same number and
    appending an audit entry: a copy that caught half a transaction would show a != b."""
    store = open_store(path)
    try:
        n = 0
        while not stop.is_set():
            n += 1
            with store.conn.write() as db:
                for key in ("a", "b"):
                    db.table("kv").upsert(
                        {"namespace": PAIRS, "key": key, "value_json": str(n), "updated_at": "t"},
                        pk=("namespace", "key"),
                    )
            store.audit.append("Tick", "writer", {"n": n})
            count[0] = n
            if n == 50:
                written.set()
    finally:
        store.close()


def test_backup_is_consistent_while_a_writer_runs(tmp_path: Path) -> None:
    """A backup taken while another connection writes continuously is a sound database that
    holds whole transactions only, and the writer is never stopped by it."""
    path = tmp_path / "drbot.db"
    open_store(path).close()
    stop, written, count = threading.Event(), threading.Event(), [0]
    writer = threading.Thread(target=_writer, args=(path, stop, written, count))
    writer.start()
    try:
        assert written.wait(60), "the writer did not start"
        copies = [backup(path, tmp_path / f"copy{i}.db") for i in range(5)]
        before_stop = count[0]
    finally:
        stop.set()
        writer.join(60)
    assert before_stop > 50
    for info in copies:
        conn = sqlite3.connect(info.path)
        try:
            assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
            values = dict(
                conn.execute("SELECT key, value_json FROM kv WHERE namespace = ?", [PAIRS])
            )
            assert values["a"] == values["b"]
            assert int(values["a"]) >= 50
            # one self-contained file: no write-ahead log to carry beside it
            assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
        finally:
            conn.close()
        assert stat.S_IMODE(info.path.stat().st_mode) == 0o600


def test_copied_audit_trail_verifies_with_the_key(tmp_path: Path) -> None:
    """The audit chain in a copy verifies under the original key (the copy is the same trail)."""
    path = tmp_path / "drbot.db"
    with open_store(path) as store:
        for n in range(10):
            store.audit.append("Tick", "U1", {"n": n})
    backup(path, tmp_path / "copy.db")
    # the copy's audit files are the original's: the key is copied by hand, once
    (tmp_path / "copy.db.audit-key").write_bytes((tmp_path / "drbot.db.audit-key").read_bytes())
    (tmp_path / "copy.db.audit-key").chmod(0o600)
    with open_store(tmp_path / "copy.db") as copy:
        assert copy.audit.verify()
        assert len(copy.audit.entries()) == 10


def test_cli_backup_then_restore_on_the_standby(app, config: Path, tmp_path: Path) -> None:
    """`store backup` writes a copy, `store restore` puts it in place at the standby, and a
    second restore over it is refused without --force (exit 2, saying so)."""
    with open_store(config.parent / "drbot.db") as store:
        store.runs.create("test-failover", "all", "prod", "h", {}, "U1")
    copy = tmp_path / "drbot-backup.db"
    done = invoke(app, "store", "backup", copy, "--config", config)
    assert done.exit_code == 0, done.output
    assert "1 run, 0 audit entries" in " ".join(done.output.split())
    assert "no audit key yet" in " ".join(done.output.split())
    standby = write_config(tmp_path / "standby")
    restored = invoke(app, "store", "restore", copy, "--config", standby)
    assert restored.exit_code == 0, restored.output
    with open_store(standby.parent / "drbot.db") as store:
        assert [r.target for r in store.runs.list()] == ["all"]
    assert "Copy the primary's audit key to" in " ".join(restored.output.split())
    again = invoke(app, "store", "restore", copy, "--config", standby)
    assert again.exit_code == 2
    refusal = " ".join(again.output.split())
    assert f"The store {standby.parent / 'drbot.db'} already exists; stop drbot" in refusal
    assert "--force" in again.output
    forced = invoke(app, "store", "restore", copy, "--config", standby, "--force")
    assert forced.exit_code == 0, forced.output


def test_restore_refuses_what_is_not_a_store(app, tmp_path: Path) -> None:
    """Restoring a file that is not a drbot store exits 2 naming it, and replaces nothing."""
    standby = write_config(tmp_path / "standby")
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    result = invoke(app, "store", "restore", junk, "--config", standby)
    assert result.exit_code == 2
    assert "junk.db" in result.output
    assert "not a SQLite database" in result.output
    assert not (standby.parent / "drbot.db").exists()
    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StoreUnusable, match="no runs, leases, audit table"):
        restore(other, standby.parent / "drbot.db")


def test_backup_of_a_missing_store_says_what_to_do(app, config: Path, tmp_path: Path) -> None:
    """Backing up a store that does not exist exits 2 with one line, no traceback."""
    result = invoke(app, "store", "backup", tmp_path / "x.db", "--config", config)
    assert result.exit_code == 2
    assert "drbot.db" in result.output
    assert "Traceback" not in result.output


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_standby_from_a_restored_copy_does_not_act_while_the_primary_lease_is_live(
    tmp_path: Path,
) -> None:
    """A standby started from a copy of the primary's store neither runs scheduled jobs nor
    takes a pool while the leases the copy carries are live; once they ran out (the primary is
    gone) it takes over, and a run the primary was driving is reaped as interrupted."""
    clock = ManualClock(_utc(2026, 6, 1, 1, 59))
    primary_path, copy_path = tmp_path / "primary.db", tmp_path / "copy.db"
    schedule = [Schedule(name="drill", cron="0 2 * * *")]
    primary_jobs: list[datetime] = []
    with open_store(primary_path, now=clock.now) as primary:
        scheduler = Scheduler(
            primary,
            schedule,
            {"drill": primary_jobs.append},
            clock,
            holder="primary",
            lease_seconds=90,
        )
        scheduler.tick()
        run_id = primary.runs.create("failover", "all", "prod", "h", {}, "U1")
        primary.runs.acquire_lease("prod", run_id, "primary", clock.now() + timedelta(seconds=90))
        primary.runs.transition(run_id, RunState.RUNNING, "started")
        backup(primary_path, copy_path)
    standby_path = tmp_path / "standby" / "drbot.db"
    standby_path.parent.mkdir()
    restore(copy_path, standby_path)

    clock.advance(61)  # 02:00:00 is due; the primary's leases run until 02:00:29
    standby_jobs: list[datetime] = []
    with open_store(standby_path, now=clock.now) as standby:
        other = Scheduler(
            standby, schedule, {"drill": standby_jobs.append}, clock, holder="standby"
        )
        assert other.tick() == []
        assert standby.history.lease(LEASE)["holder"] == "primary"
        assert standby.runs.interrupted_at_boot(clock.now()) == []
        second = standby.runs.create("test-failover", "all", "prod", "h2", {}, "U2")
        with pytest.raises(LeaseHeld):
            standby.runs.acquire_lease("prod", second, "standby", clock.now())
        assert standby_jobs == []

        clock.advance(60)  # the primary renewed nothing: its leases have run out
        fired = other.tick()
        assert [(f.schedule, f.status) for f in fired] == [("drill", "running")]
        assert standby_jobs == [_utc(2026, 6, 1, 2, 0)]
        reaped = standby.runs.interrupted_at_boot(clock.now())
        assert run_id in {r.id for r in reaped}
        assert standby.runs.get(run_id).state is RunState.INTERRUPTED
    assert primary_jobs == []


def test_backup_of_a_named_store_needs_no_configuration(app, tmp_path: Path) -> None:
    """`store backup --store FILE` copies that file without reading a configuration (a backup
    job holds no pool password or token)."""
    path = tmp_path / "drbot.db"
    with open_store(path) as store:
        store.runs.create("test-failover", "all", "prod", "h", {}, "U1")
    result = invoke(
        app,
        "store",
        "backup",
        tmp_path / "copy.db",
        "--store",
        path,
        "--json",
        env={"DRBOT_CONFIG": str(tmp_path / "absent.toml")},
    )
    assert result.exit_code == 0, result.output
    assert '"runs": 1' in result.stdout


def test_backup_into_a_missing_directory_names_the_destination(
    app, config: Path, tmp_path: Path
) -> None:
    """A backup whose destination directory does not exist says the destination (not the
    store) cannot be written and how to fix it; one that names a directory asks for a file."""
    open_store(config.parent / "drbot.db").close()
    dest = tmp_path / "nowhere" / "copy.db"
    missing = invoke(app, "store", "backup", dest, "--config", config)
    assert missing.exit_code == 2
    text = " ".join(missing.output.split())
    assert f"The backup destination {dest} cannot be written" in text
    assert f"its directory {dest.parent} does not exist" in text
    assert f"mkdir -p {dest.parent}" in text
    assert "The store" not in text
    folder = invoke(app, "store", "backup", tmp_path, "--config", config)
    assert folder.exit_code == 2
    assert "is a directory; name the file to write" in " ".join(folder.output.split())
    assert "Traceback" not in folder.output


def test_restore_says_the_audit_key_is_in_place_when_it_is(app, tmp_path: Path) -> None:
    """With the key already beside the restored store, restore says it is in place instead of
    asking for it; counts of one are singular."""
    primary = tmp_path / "primary.db"
    with open_store(primary) as store:
        store.runs.create("test-failover", "all", "prod", "h", {}, "U1")
        store.audit.append("Tick", "U1", {})
    copy = tmp_path / "copy.db"
    backup(primary, copy)
    standby = tmp_path / "standby" / "drbot.db"
    standby.parent.mkdir()
    key = standby.with_name("drbot.db.audit-key")
    key.write_bytes(primary.with_name("primary.db.audit-key").read_bytes())
    with terminal_width(1000):  # one line: a long temporary path is not broken
        result = invoke(app, "store", "restore", copy, "--store", standby)
    assert result.exit_code == 0, result.output
    text = result.output
    assert "1 run, 1 audit entry." in text
    assert f"The audit key {key} is in place" in text
    assert "Copy the primary's audit key" not in text
