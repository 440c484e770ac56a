"""A store that cannot be used is refused in one sentence naming the file, what is wrong and
what to do: never a traceback, exit code 2 in the CLI, and a failed write leaves nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from store import StoreError, open_store
from tests.hardening.conftest import NOBODY, as_unprivileged, make_store, refused


def _not_sqlite(path: Path) -> Path:
    path.write_text("store_path = 'this is a configuration, not a store'\n" * 40)
    return path


def _truncated(path: Path) -> Path:
    make_store(path, entries=400)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _damaged(path: Path) -> Path:
    """Same size, but every page after the first overwritten (a bad disk, a bad restore)."""
    make_store(path, entries=400)
    data = bytearray(path.read_bytes())
    page = int.from_bytes(data[16:18], "big")
    for i in range(page, len(data)):
        data[i] = (i * 7919) % 251
    path.write_bytes(bytes(data))
    return path


def _directory(path: Path) -> Path:
    path.mkdir()
    return path


BROKEN = {
    "not-sqlite": (_not_sqlite, "is not a SQLite database", "move this file aside"),
    "truncated": (_truncated, "is truncated", "restore it from a backup"),
    "damaged": (_damaged, "is damaged", "restore it from a backup"),
    "directory": (_directory, "is a directory", "set store_path to a file"),
}


def _use(path: Path) -> None:
    """Open the store and read every table, as the commands do."""
    with open_store(path) as store:
        store.runs.list()
        store.audit.entries()
        store.drills.recent("dr")


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_a_broken_store_is_refused_with_what_to_do(tmp_path, case):
    """Opening and reading a broken store raises a StoreError naming the file, the fault and
    the fix (not sqlite3's bare error)."""
    make, problem, fix = BROKEN[case]
    path = make(tmp_path / "drbot.db")
    with pytest.raises(StoreError) as caught:
        _use(path)
    message = str(caught.value)
    assert str(path) in message
    assert problem in message
    assert fix in message


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_the_cli_refuses_a_broken_store_in_one_line(tmp_path, configure, drbot, case):
    """`drbot runs` on a broken store exits 2 with one line naming the file and the fault."""
    make, problem, _ = BROKEN[case]
    path = make(tmp_path / "drbot.db")
    result = drbot("runs", "--config", configure(path))
    line = refused(result)
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert str(path) in line
    assert problem in line


def _fill(store) -> None:
    for i in range(50):
        store.audit.append("Filler", "U1", {"i": i, "pad": "x" * 5000})


def test_a_full_disk_refuses_the_write_and_keeps_what_was_there(tmp_path):
    """When the disk fills (SQLite's max_page_count), the write fails with 'disk is full', the
    entry is not half-written and the trail still verifies."""
    path = tmp_path / "drbot.db"
    with open_store(path) as store:
        store.audit.append("Before", "U1", {"n": 1})
        pages = store.db.execute("PRAGMA page_count").fetchone()[0]
        store.db.execute(f"PRAGMA max_page_count = {pages}")
        with pytest.raises(StoreError) as caught:
            _fill(store)
        assert "disk is full" in str(caught.value)
        assert str(path) in str(caught.value)
        assert "free space" in str(caught.value)
        kept = store.audit.entries()
        assert store.audit.verify()
        assert kept[0]["event_type"] == "Before"
        assert all(len(e["payload"].get("pad", "")) == 5000 for e in kept[1:])


def test_a_store_in_a_read_only_directory_is_refused_at_open(shared_dir):
    """A store whose directory drbot's user may not write (no room for SQLite's -wal and -shm
    files) is refused when opened, saying to give write access."""
    path = make_store(shared_dir / "drbot.db", entries=1)
    path.chmod(0o644)

    def attempt() -> str:
        try:
            open_store(path).close()
        except StoreError as exc:
            return str(exc)
        return "opened"

    message = as_unprivileged(attempt)
    assert message.startswith(f"The store {path} cannot be written"), message
    assert "write access" in message


def test_a_read_only_store_reads_but_refuses_writes(shared_dir):
    """A store file drbot's user may not write is still read; a write is refused saying so,
    and nothing is half-written."""
    path = make_store(shared_dir / "drbot.db", entries=1)
    path.chmod(0o644)
    shared_dir.chmod(0o777)  # the directory is writable: only the file is not
    for own in (Path(f"{path}.audit-key"), Path(f"{path}.anchors")):
        if os.geteuid() == 0:
            os.chown(own, NOBODY, NOBODY)  # the user's own key and anchors

    def attempt() -> list[str]:
        with open_store(path) as store:
            before = len(store.audit.entries())
            try:
                store.audit.append("Write", "U1", {})
            except StoreError as exc:
                return [str(before), str(exc), str(len(store.audit.entries()))]
        return ["written"]

    before, message, after = as_unprivileged(attempt)
    assert message.startswith(f"The store {path} cannot be written"), message
    assert before == after == "1"


def test_the_cli_refuses_a_store_it_may_not_write(shared_dir, configure, drbot):
    """`drbot runs` as a user who may not write the store's directory exits 2 in one line."""
    path = make_store(shared_dir / "drbot.db", entries=1)
    path.chmod(0o644)
    config = configure(path)
    config.rename(shared_dir / "drbot.toml")
    config = shared_dir / "drbot.toml"
    if os.geteuid() == 0:
        os.chown(config, NOBODY, NOBODY)  # the user's own configuration, owner-only

    def attempt() -> list[object]:
        result = drbot("runs", "--config", config)
        return [result.exit_code, result.output, repr(result.exception)]

    code, output, exception = as_unprivileged(attempt)
    assert code == 2, (output, exception)
    assert "Traceback" not in output
    assert output.strip().splitlines() == [output.strip()]
    assert f"The store {path} cannot be written" in output
