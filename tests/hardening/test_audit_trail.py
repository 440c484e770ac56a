"""The audit trail is a keyed chain anchored outside the store: editing, removing, reordering or
cutting entries, or rebuilding the chain without the key, is found and named by `check()` and
`drbot audit verify`; older unkeyed stores migrate without a rewrite."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import stat
from pathlib import Path

import pytest

from store import open_store
from store.audit import GENESIS, Anchor, entry_hash, read_anchors


def _write(path: Path, count: int, **files: object):
    store = open_store(path)
    for name, value in files.items():
        setattr(store.audit, name, value)
    for i in range(count):
        store.audit.append("RunTransitioned", f"U{i % 3}", {"run_id": 1, "i": i})
    return store


@pytest.fixture
def trail(tmp_path):
    """A closed store with 30 entries, anchored every 10 (and at close)."""
    path = tmp_path / "drbot.db"
    _write(path, 30, anchor_every=10).close()
    return path


def _sql(path: Path, *statements: str) -> None:
    """Change the store behind drbot's back, as someone with the file would."""
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        for statement in statements:
            conn.execute(statement)
    conn.close()


def _check(path: Path):
    with open_store(path) as store:
        return store.audit.check()


def test_a_written_trail_holds_and_its_key_and_anchors_are_owner_only(trail):
    """A trail as drbot wrote it checks clean; the key and anchor files are 0600, the anchors
    are every 10 entries and the head at close."""
    result = _check(trail)
    assert result.ok, result.problem
    assert (result.entries, result.keyed_from) == (30, 1)
    key, anchors = Path(f"{trail}.audit-key"), Path(f"{trail}.anchors")
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(anchors.stat().st_mode) == 0o600
    assert [a.seq for a in read_anchors(anchors)][:3] == [10, 20, 30]


def test_an_edited_entry_is_named(trail):
    """Changing one entry's payload names that entry as not matching its signature."""
    _sql(trail, """UPDATE audit SET payload_json = '{"i":99,"run_id":1}' WHERE seq = 7""")
    result = _check(trail)
    assert not result.ok
    assert result.problem.startswith("Entry 7 (RunTransitioned at ")
    assert "does not match its signature" in result.problem


def test_an_entry_deleted_in_the_middle_is_named(trail):
    """Deleting entry 12 names entry 12 as missing."""
    _sql(trail, "DELETE FROM audit WHERE seq = 12")
    assert _check(trail).problem.startswith("Entry 12 is missing")


def test_a_deletion_hidden_by_renumbering_is_found(trail):
    """Deleting entry 12 and renumbering the rest still names where the gap is."""
    _sql(
        trail,
        "DELETE FROM audit WHERE seq = 12",
        "UPDATE audit SET seq = seq + 1000 WHERE seq > 12",
        "UPDATE audit SET seq = seq - 1001 WHERE seq > 1000",
    )
    assert _check(trail).problem.startswith("An entry before entry 12 is missing")


def test_entries_cut_off_the_end_are_found_by_the_anchor(trail):
    """Truncating the last five entries leaves the head short of the last anchor: named."""
    _sql(trail, "DELETE FROM audit WHERE seq > 25")
    problem = _check(trail).problem
    assert problem.startswith("Entries 26-30 are missing from the end")
    assert "truncated" in problem


def test_reordered_entries_are_named(trail):
    """Swapping entries 4 and 5 names entry 4 as moved."""
    _sql(
        trail,
        "UPDATE audit SET seq = -4 WHERE seq = 4",
        "UPDATE audit SET seq = 4 WHERE seq = 5",
        "UPDATE audit SET seq = 5 WHERE seq = -4",
    )
    problem = _check(trail).problem
    # The entry now numbered 4 was written after the one now numbered 5.
    assert problem.startswith("Entry 4 was moved: it was written after entry 5, not after entry 3")


def _rebuild_unkeyed(path: Path, edit_seq: int) -> None:
    """Edit an entry and rebuild every hash after it the old, unkeyed way."""
    import sqlite3

    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    rows = [dict(r) for r in conn.execute("SELECT * FROM audit ORDER BY seq")]
    prev = GENESIS
    with conn:
        for r in rows:
            if r["seq"] == edit_seq:
                r["actor"] = "someone-else"
            digest = entry_hash(
                prev, r["seq"], r["at"], r["event_type"], r["actor"], r["payload_json"]
            )
            conn.execute(
                "UPDATE audit SET actor = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                [r["actor"], prev, digest, r["seq"]],
            )
            prev = digest
    conn.close()


def test_a_chain_rebuilt_without_the_key_is_found(trail):
    """Editing entry 3 and rebuilding the whole chain with the old unkeyed hash (what anyone
    with the file can compute) does not pass: the anchors name what the head was."""
    _rebuild_unkeyed(trail, 3)
    result = _check(trail)
    assert not result.ok
    assert "is not the entry anchored at" in result.problem


def test_a_chain_rebuilt_with_another_key_is_found(trail):
    """Rebuilding with a key that is not drbot's fails at the first entry."""
    import hmac
    import sqlite3

    from store.audit import entry_mac

    guess = hashlib.sha256(b"guess").digest()
    conn = sqlite3.connect(trail)
    conn.row_factory = sqlite3.Row
    prev = GENESIS
    with conn:
        for r in list(conn.execute("SELECT * FROM audit ORDER BY seq")):
            mac = entry_mac(guess, prev, r["at"], r["event_type"], r["actor"], r["payload_json"])
            conn.execute(
                "UPDATE audit SET prev_hash = ?, hash = ? WHERE seq = ?", [prev, mac, r["seq"]]
            )
            prev = mac
    conn.close()
    assert not hmac.compare_digest(guess, bytes.fromhex(Path(f"{trail}.audit-key").read_text()))
    assert _check(trail).problem.startswith("Entry 1 (RunTransitioned at ")


def test_a_forged_anchor_line_is_found(trail):
    """An anchor appended by someone without the key is named as not signed."""
    anchors = Path(f"{trail}.anchors")
    fake = Anchor(seq=30, hash="0" * 64, at="2030-01-01T00:00:00+00:00", mac="f" * 64)
    with anchors.open("a") as f:
        f.write(fake.line() + "\n")
    assert "is not signed with drbot's key" in _check(trail).problem


def test_a_missing_key_is_named_not_mistaken_for_tampering(trail):
    """Without the key file the check says the key is missing and how to restore it."""
    Path(f"{trail}.audit-key").unlink()
    problem = _check(trail).problem
    assert problem.startswith(f"The audit key {trail}.audit-key is missing")
    assert not Path(f"{trail}.audit-key").exists()  # checking never makes a key


def test_an_anchor_never_names_a_write_that_was_rolled_back(tmp_path):
    """An entry appended inside a transaction that fails is not anchored."""
    store = _write(tmp_path / "drbot.db", 1, anchor_every=1)

    def doomed() -> None:
        with store.conn.write():
            store.audit.append("Doomed", "U1", {})
            raise RuntimeError("the rest of the transaction failed")

    with pytest.raises(RuntimeError):
        doomed()
    store.close()
    assert [a.seq for a in read_anchors(Path(f"{tmp_path / 'drbot.db'}.anchors"))] == [1]
    assert _check(tmp_path / "drbot.db").ok


def test_anchors_are_handed_to_listeners(tmp_path):
    """`on_anchor` gets every anchor written, as the audit channel will."""
    store = _write(tmp_path / "drbot.db", 0, anchor_every=2)
    seen: list[Anchor] = []
    store.audit.on_anchor(seen.append)
    for i in range(5):
        store.audit.append("X", "U1", {"i": i})
    forced = store.audit.anchor()
    store.close()
    assert [a.seq for a in seen] == [2, 4, 5]
    assert forced == seen[-1]
    assert forced.text().startswith("audit anchor: entry 5 has hash ")


def _legacy_store(path: Path, count: int) -> None:
    """A store written before the chain was keyed: the old sha256 chain, no key, no anchors."""
    open_store(path).close()
    prev = GENESIS
    rows = []
    for seq in range(1, count + 1):
        at, payload = f"2026-01-01T00:00:{seq:02d}.000000+00:00", json.dumps({"i": seq})
        digest = entry_hash(prev, seq, at, "Old", "U1", payload)
        rows.append((seq, at, "Old", "U1", payload, prev, digest))
        prev = digest
    import sqlite3

    conn = sqlite3.connect(path)
    with conn:
        conn.executemany("INSERT INTO audit VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
    conn.close()


def test_an_unkeyed_store_migrates_by_a_seal(tmp_path):
    """An older store checks as an unkeyed chain; the next entry seals it under the key, and
    the whole trail then checks clean, the old entries named as sealed."""
    path = tmp_path / "old.db"
    _legacy_store(path, 5)
    before = _check(path)
    assert before.ok
    assert before.keyed_from is None
    assert "predate the audit key" in before.notes[0]
    with open_store(path) as store:
        store.audit.append("New", "U2", {})
        entries = store.audit.entries()
    assert [e["event_type"] for e in entries[-2:]] == ["AuditKeyed", "New"]
    assert entries[-2]["payload"] == {"unkeyed_entries": 5, "unkeyed_head": entries[4]["hash"]}
    after = _check(path)
    assert after.ok, after.problem
    assert after.keyed_from == 6
    assert len(after.notes) == 1
    assert "entry 6 sealed them" in after.notes[0]


def test_a_sealed_unkeyed_prefix_cannot_be_rebuilt(tmp_path):
    """After the seal, editing and rebuilding the old unkeyed entries is found."""
    path = tmp_path / "old.db"
    _legacy_store(path, 5)
    with open_store(path) as store:
        store.audit.append("New", "U2", {})
    _rebuild_unkeyed_prefix(path, upto=5)
    assert _check(path).problem.startswith("Entries 1-5 are unkeyed and entry 6 does not seal")


def _rebuild_unkeyed_prefix(path: Path, upto: int) -> None:
    import sqlite3

    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    prev = GENESIS
    with conn:
        for r in list(conn.execute("SELECT * FROM audit WHERE seq <= ? ORDER BY seq", [upto])):
            payload = json.dumps({"i": -r["seq"]})
            digest = entry_hash(prev, r["seq"], r["at"], r["event_type"], r["actor"], payload)
            conn.execute(
                "UPDATE audit SET payload_json = ?, prev_hash = ?, hash = ? WHERE seq = ?",
                [payload, prev, digest, r["seq"]],
            )
            prev = digest
    conn.close()


def test_an_unkeyed_entry_after_keyed_ones_is_a_break(trail):
    """Rebuilding only the end of a keyed chain the unkeyed way is named at its first entry."""
    import sqlite3

    conn = sqlite3.connect(trail)
    conn.row_factory = sqlite3.Row
    r = dict(next(iter(conn.execute("SELECT * FROM audit WHERE seq = 30"))))
    digest = entry_hash(r["prev_hash"], 30, r["at"], r["event_type"], "forger", r["payload_json"])
    with conn:
        conn.execute("UPDATE audit SET actor = 'forger', hash = ? WHERE seq = 30", [digest])
    conn.close()
    assert _check(trail).problem.startswith("Entry 30 is not signed with drbot's key")


# -- the CLI ---------------------------------------------------------------------------------


def test_audit_verify_exits_0_on_a_clean_trail_and_1_naming_the_break(
    tmp_path, trail, configure, drbot
):
    """`drbot audit verify` says the trail holds (exit 0), then names a deleted entry (exit 1)."""
    config = configure(trail)
    clean = drbot("audit", "verify", "--config", config)
    assert clean.exit_code == 0, clean.output
    assert "Audit trail holds: 30 entries, keyed from entry 1" in clean.output
    # the count at the end says what it counts (it read "... of 9." before)
    assert "the head matches the newest of 3 anchors (entry 30, " in " ".join(clean.output.split())
    _sql(trail, "DELETE FROM audit WHERE seq = 12")
    broken = drbot("audit", "verify", "--config", config)
    assert broken.exit_code == 1
    assert "Audit trail broken: Entry 12 is missing" in broken.output
    assert "Traceback" not in broken.output


def test_audit_verify_honours_configured_key_and_anchor_files(tmp_path, configure, drbot):
    """With [audit] key_file and anchor_file set, drbot keys and anchors with those files (0600,
    in a 0700 directory it creates) and verify reads them."""
    path = tmp_path / "drbot.db"
    config = configure(path)
    config.write_text(
        config.read_text()
        + '\n[audit]\nkey_file = "keys/audit.key"\nanchor_file = "anchors.log"\nanchor_every = 2\n'
    )
    from bot.settings import load_settings

    settings = load_settings(config)
    with open_store(settings.store_path) as store:
        for i in range(4):
            store.audit.append("X", "U1", {"i": i})
    key = tmp_path / "keys" / "audit.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    assert [a.seq for a in read_anchors(tmp_path / "anchors.log")] == [2, 4]
    assert not Path(f"{path}.audit-key").exists()
    result = drbot("audit", "verify", "--config", config)
    assert result.exit_code == 0, result.output


def test_audit_export_writes_jsonl_and_csv(trail, configure, drbot):
    """`drbot audit export` gives every entry with its hashes, as JSON lines or CSV."""
    config = configure(trail)
    jsonl = drbot("audit", "export", "--format", "jsonl", "--config", config)
    assert jsonl.exit_code == 0, jsonl.output
    lines = [json.loads(line) for line in jsonl.output.splitlines()]
    assert [e["seq"] for e in lines] == list(range(1, 31))
    assert lines[6]["payload"] == {"run_id": 1, "i": 6}
    assert lines[6]["prev_hash"] == lines[5]["hash"]
    out = configure(trail).parent / "audit.csv"
    as_csv = drbot("audit", "export", "--format", "csv", "-o", out, "--config", config)
    assert as_csv.exit_code == 0, as_csv.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert [int(r["seq"]) for r in rows] == list(range(1, 31))
    assert json.loads(rows[6]["payload_json"]) == {"run_id": 1, "i": 6}


def test_audit_export_refuses_an_unknown_format(trail, configure, drbot):
    """`--format xml` is refused with the valid choices, exit 2."""
    result = drbot("audit", "export", "--format", "xml", "--config", configure(trail))
    assert result.exit_code == 2
    assert "'jsonl', 'csv'" in result.output


def test_an_anchor_that_cannot_be_written_never_fails_the_entry(tmp_path, caplog):
    """With the anchor file unwritable (a directory in its place), appending still succeeds and
    the failure is reported on the drbot.store logger."""
    import logging

    blocked = tmp_path / "anchors"
    blocked.mkdir()
    store = _write(tmp_path / "drbot.db", 0, anchor_every=1, anchor_file=blocked)
    with caplog.at_level(logging.WARNING, logger="drbot.store"):
        entry = store.audit.append("Kept", "U1", {})
    store.close()
    assert entry["seq"] == 1
    assert f"The audit anchor file {blocked} cannot be appended to" in caplog.text
    with open_store(tmp_path / "drbot.db") as again:
        assert [e["event_type"] for e in again.audit.entries()] == ["Kept"]


def test_a_check_while_another_connection_appends_and_anchors_finds_nothing_wrong(tmp_path):
    """check() racing a writer that appends and anchors every entry never reports a problem."""
    import threading

    path = tmp_path / "drbot.db"
    writer = _write(path, 1, anchor_every=1)
    stop = threading.Event()

    def append() -> None:
        i = 0
        while not stop.is_set():
            writer.audit.append("RunTransitioned", "U1", {"i": i})
            i += 1

    thread = threading.Thread(target=append)
    thread.start()
    try:
        with open_store(path) as reader:
            problems = [p for p in (reader.audit.check().problem for _ in range(100)) if p]
    finally:
        stop.set()
        thread.join()
        writer.close()
    assert problems == []


def test_an_anchor_line_still_being_appended_is_not_read_as_a_damaged_file(trail):
    """A last anchor line without its newline yet (a writer mid-append) is left out, not an
    error; the complete anchors before it are read."""
    anchor_file = Path(f"{trail}.anchors")
    whole = read_anchors(anchor_file)
    with anchor_file.open("a", encoding="utf-8") as f:
        f.write(whole[-1].line()[:20])
    assert read_anchors(anchor_file) == whole
