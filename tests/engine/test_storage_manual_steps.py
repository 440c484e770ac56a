"""The manual adapter pauses each storage step until a person confirms
it, for every occasion, and what was confirmed is seen by every process sharing the store."""

from __future__ import annotations

import pytest

from engine.errors import ManualStepRequired, StorageError
from engine.storage.base import ReplicatedLun
from engine.storage.manual import ManualStorageAdapter
from store import open_store

LUN = ReplicatedLun(
    lun="gold-01",
    sr_uuid="0b1e6a52-1f1c-4a55-9f55-5a1c0e4c1b01",
    name="Gold iSCSI 01",
    state="replicating",
    mirror_device_config={"target": "10.20.1.50", "SCSIid": "3600a0b8-mirror"},
    test_copy_device_config={"target": "10.20.1.50", "SCSIid": "3600a0b8-snap"},
)


def _drill(adapter: ManualStorageAdapter) -> ReplicatedLun:
    adapter.confirm("gold-01", "present_test_copy")
    presented = adapter.present_test_copy("gold-01")
    adapter.confirm("gold-01", "remove_test_copy")
    adapter.remove_test_copy("gold-01")
    return presented


def test_next_months_drill_asks_the_storage_team_again():
    """After one drill's present and remove, presenting a test copy needs a new confirmation."""
    adapter = ManualStorageAdapter([LUN])
    _drill(adapter)
    with pytest.raises(ManualStepRequired):
        adapter.present_test_copy("gold-01")


def test_the_configured_test_copy_is_used_on_every_drill():
    """The test copy's own device config is presented each time, never the mirror's."""
    adapter = ManualStorageAdapter([LUN])
    assert adapter.state()[0].test_copy_device_config is None  # nothing presented yet
    assert _drill(adapter).test_copy_device_config == LUN.test_copy_device_config
    assert adapter.state()[0].test_copy_device_config is None
    assert _drill(adapter).test_copy_device_config == LUN.test_copy_device_config


def test_a_confirmed_promotion_is_seen_by_another_process_sharing_the_store(tmp_path):
    """A promote confirmed and done by the bot shows as promoted to a CLI on the same store."""
    bot_store = open_store(tmp_path / "drbot.db")
    bot = ManualStorageAdapter([LUN], confirmed=bot_store.kv("storage-confirmations"))
    bot.confirm("gold-01", "promote")
    bot.promote("gold-01")
    bot_store.close()
    cli_store = open_store(tmp_path / "drbot.db")
    cli = ManualStorageAdapter([LUN], confirmed=cli_store.kv("storage-confirmations"))
    assert cli.state()[0].state == "promoted"
    with pytest.raises(ManualStepRequired):
        cli.reverse("gold-01")
    cli_store.close()


def test_an_unknown_lun_names_the_known_ones_without_markup_brackets():
    """Confirming a LUN that is not configured says which LUNs are, and where to add one."""
    with pytest.raises(StorageError) as err:
        ManualStorageAdapter([LUN]).confirm("nope", "promote")
    assert "gold-01" in str(err.value)
    assert "engine.storage.luns" in str(err.value)
    assert "[" not in str(err.value)


def test_a_control_api_answering_garbage_is_a_storage_error():
    """The sim adapter turns a non-JSON answer into a StorageError, not a ValueError."""
    import http.server
    import threading

    from engine.storage.sim import SimStorageAdapter

    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"<html>not json</html>")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        adapter = SimStorageAdapter(f"http://127.0.0.1:{server.server_address[1]}", timeout=5)
        with pytest.raises(StorageError, match="garbage"):
            adapter.state()
    finally:
        server.shutdown()
        server.server_close()
