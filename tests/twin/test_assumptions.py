"""What the twin assumes: from the TOML beside the dump, flags over it, and said aloud."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli import _mount, app
from sim.xapi.twin import DumpError, build_twin, load_assumptions, load_dump
from tests.twin.support import DATA

DUMP = DATA / "replicated_pool.xml"


def _replicated(twin) -> set[str]:
    return {sr.name for sr in twin.scenario.sites[0].pools[0].srs if sr.kind == "replicated"}


def test_the_file_beside_the_dump_is_read_and_named() -> None:
    """replicated_pool.twin.toml takes the scratch SR out and sets the lag; the notes say so."""
    a = load_assumptions(DUMP)
    twin = build_twin(load_dump(DUMP), assumptions=a)
    assert _replicated(twin) == {"Gold iSCSI"}
    assert a.lag_seconds == 600
    assert twin.notes[0] == f"assumptions from {DATA / 'replicated_pool.twin.toml'}"
    assert "not replicated: Scratch NFS (named in not_replicated)" in twin.notes


def test_without_a_file_every_shared_sr_with_a_vm_disk_is_replicated(
    dump_copy: Callable[[str], Path],
) -> None:
    """Without a file, each shared SR holding a VM disk is replicated, and the notes say so."""
    dump = dump_copy("replicated_pool.xml")  # no .twin.toml beside the copy
    twin = build_twin(load_dump(dump), assumptions=load_assumptions(dump))
    assert _replicated(twin) == {"Gold iSCSI", "Scratch NFS"}
    assert twin.notes[0].startswith("assumptions: defaults and flags")


def test_a_flag_wins_over_the_file_even_where_the_file_says_the_opposite() -> None:
    """--replicated 'Scratch NFS' replicates it although the file lists it as not replicated."""
    a = load_assumptions(DUMP, replicated=["Gold iSCSI", "Scratch NFS"], lag_seconds=30.0)
    twin = build_twin(load_dump(DUMP), assumptions=a)
    assert _replicated(twin) == {"Gold iSCSI", "Scratch NFS"}
    assert twin.scenario.sites[0].pools[0].srs[-1].lag_seconds == 30.0


def test_names_the_dump_lacks_are_pointed_out() -> None:
    """An assumption naming an SR or network the pool does not have is said, not ignored."""
    a = load_assumptions(DUMP, replicated=["Platinum"], dr_missing_networks=["Nowhere"])
    twin = build_twin(load_dump(DUMP), assumptions=a)
    assert any("SRs Platinum" in n for n in twin.notes)
    assert any("networks Nowhere" in n for n in twin.notes)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("lag = 5\n", "lag"), ("lag_seconds = -1\n", "lag_seconds"), ("= 1\n", "not valid TOML")],
)
def test_a_bad_assumptions_file_gets_one_line_and_exit_2(
    text: str, expected: str, dump_copy: Callable[[str], Path]
) -> None:
    """An unknown key, a bad value or broken TOML is refused in one line naming the file."""
    dump = dump_copy("small_vms.xml")
    toml = dump.with_suffix(".twin.toml")
    toml.write_text(text)
    with pytest.raises(DumpError) as exc:
        load_assumptions(dump)
    assert str(toml) in str(exc.value)
    assert expected in str(exc.value)
    assert "\n" not in str(exc.value)
    _mount()
    result = CliRunner().invoke(app, ["rehearse", str(dump)])
    assert result.exit_code == 2
