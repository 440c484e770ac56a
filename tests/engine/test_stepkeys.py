"""Journal keys: each constructor's text is the documented one, and parse reads it back."""

from __future__ import annotations

import pytest

from engine import stepkeys as keys
from engine.stepkeys import StepKey, Verb

U = "0a1b2c3d-0000-4000-8000-000000000001"


@pytest.mark.parametrize(
    ("key", "text"),
    [
        (keys.storage("promote", "lun-7"), "storage:promote:lun-7"),
        (keys.reprotect("lun-7"), "storage:reprotect:lun-7"),
        (keys.attach(U), f"attach:{U}"),
        (keys.EXPAND_METADATA, "expand:metadata"),
        (keys.recover_app(U), f"recover:app:{U}"),
        (keys.recover_vm(U), f"recover:vm:{U}"),
        (keys.start_vm(U), f"start:vm:{U}"),
        (keys.shutdown_vm("prod", U), f"shutdown:prod:vm:{U}"),
        (keys.HA_DISABLE, "ha:disable"),
        (keys.HA_RESTORE, "ha:restore"),
        (keys.mark("rto-start"), "mark:rto-start"),
        (keys.cleanup_stop_vm(U), f"cleanup:stop:vm:{U}"),
        (keys.cleanup("sr", U), f"cleanup:sr:{U}"),
        (keys.finish_dr_task(U), f"finish:drtask:{U}"),
        (keys.rearm(U), f"rearm:{U}"),
        (keys.dr_clean("app", U), f"dr-clean:app:{U}"),
        (keys.NETWORKS_BEFORE, "snapshot:networks"),
    ],
)
def test_each_key_has_its_documented_text_and_parses_back(key, text):
    """A key renders as the journal's documented text, and that text parses to the same key."""
    assert str(key) == text
    assert StepKey.parse(text) == key


def test_a_lun_name_with_colons_stays_whole():
    """An iSCSI name (which holds colons) is one subject, not several parts."""
    key = StepKey.parse("storage:present_test_copy:iqn.2001-05.com.array:lun1")
    assert key.verb is Verb.STORAGE
    assert key.subject == "iqn.2001-05.com.array:lun1"
    assert key == keys.storage("present_test_copy", "iqn.2001-05.com.array:lun1")


@pytest.mark.parametrize("text", ["bogus:x", "recover:vm", "attach:", "storage:promote"])
def test_text_of_no_key_is_refused(text):
    """Text that is no journal key raises ValueError instead of parsing to a wrong key."""
    with pytest.raises(ValueError, match=r"bogus|not a journal key"):
        StepKey.parse(text)
