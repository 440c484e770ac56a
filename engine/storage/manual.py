"""The `manual` storage adapter: a person does each storage step and confirms it.

For arrays drbot cannot steer, every action raises `ManualStepRequired` with an instruction
until `confirm(lun, action)` has been recorded for it; the run pauses there and the bot shows
the instruction with a "Done" button to the storage team. After confirmation the action returns
the LUN as configured (its state updated), so a resumed run goes past the step.

Confirmations live in the `confirmed` mapping passed in (the runner may pass a view of its
store so they survive a restart); by default an in-memory dict. A confirmation serves one
occasion: doing an action withdraws the confirmation of the action that undoes it.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping
from typing import Any

from engine import messages
from engine.errors import ManualStepRequired, StorageError
from engine.storage.base import ReplicatedLun

# Which way a LUN replicates, kept with its state: `reverse` flips it, so the reverse that
# starts a failback gives `reversed` and the one that re-protects after it `replicating`.
_FORWARD, _BACKWARD = "primary-to-dr", "dr-to-primary"
# Doing an action withdraws the confirmations of the actions that undo it: a confirmation is
# for one occasion, so next month's drill asks the storage team again instead of attaching a
# test copy nobody presented.
_WITHDRAWS: dict[str, tuple[str, ...]] = {
    "present_test_copy": ("remove_test_copy",),
    "remove_test_copy": ("present_test_copy",),
    "promote": ("reverse", "sync"),
    "reverse": ("promote", "sync"),
    "sync": (),
}
_STATE_KEY = "lun:{lun}"  # where a LUN's state after the last confirmed step is kept


class ManualStorageAdapter:
    """Pauses at every storage step until a person confirms it was done.

    `luns` are as configured: `test_copy_device_config` there says where a test copy appears
    once presented (the mirror's config if absent); `state()` reports it only while presented.
    The `confirmed` mapping keeps both the confirmations and each LUN's state after its last
    confirmed step, so another process (the CLI, the bot after a restart) sees the same world.
    """

    name = "manual"

    def __init__(
        self,
        luns: list[ReplicatedLun],
        confirmed: MutableMapping[str, Any] | None = None,
    ) -> None:
        self._confirmed: MutableMapping[str, Any] = confirmed if confirmed is not None else {}
        self._test_copy = {lun.lun: lun.test_copy_device_config for lun in luns}
        self._luns = {
            lun.lun: self._restore(lun.model_copy(update={"test_copy_device_config": None}))
            for lun in luns
        }
        self._lock = threading.Lock()

    def _restore(self, lun: ReplicatedLun) -> ReplicatedLun:
        kept = self._confirmed.get(_STATE_KEY.format(lun=lun.lun))
        if not isinstance(kept, dict):
            return lun
        return lun.model_copy(update={k: v for k, v in kept.items() if k != "direction"})

    @staticmethod
    def key(lun: str, action: str) -> str:
        return f"{lun}:{action}"

    def confirm(self, lun: str, action: str) -> None:
        """Record that a person did `action` on `lun`."""
        if lun not in self._luns:
            raise StorageError(
                messages.MANUAL_UNKNOWN_LUN.format(lun=lun, known=", ".join(self._luns) or "none")
            )
        with self._lock:
            self._confirmed[self.key(lun, action)] = True

    def is_confirmed(self, lun: str, action: str) -> bool:
        with self._lock:
            return bool(self._confirmed.get(self.key(lun, action)))

    def state(self) -> list[ReplicatedLun]:
        # The array is not readable from here: states are as configured or last confirmed.
        return list(self._luns.values())

    def _step(self, lun: str, action: str) -> ReplicatedLun:
        if lun not in self._luns:
            raise StorageError(
                messages.MANUAL_UNKNOWN_LUN.format(lun=lun, known=", ".join(self._luns) or "none")
            )
        backward = self._direction(lun) == _BACKWARD
        if not self.is_confirmed(lun, action):
            template = messages.MANUAL_INSTRUCTIONS_BACKWARD.get(action) if backward else None
            instruction = (template or messages.MANUAL_INSTRUCTIONS[action]).format(lun=lun)
            raise ManualStepRequired(lun, action, instruction)
        current = self._luns[lun]
        update: dict[str, Any] = {}
        if action == "promote":
            update["state"] = "promoted"
        if action == "reverse":
            update["direction"] = _FORWARD if backward else _BACKWARD
            update["state"] = "replicating" if backward else "reversed"
        if action == "sync":
            update["lag_seconds"] = 0.0
        if action == "remove_test_copy":
            update["test_copy_device_config"] = None
        if action == "present_test_copy":
            update["test_copy_device_config"] = dict(
                self._test_copy[lun] or current.mirror_device_config
            )
        new = current.model_copy(update={k: v for k, v in update.items() if k != "direction"})
        with self._lock:
            self._luns[lun] = new
            key = _STATE_KEY.format(lun=lun)
            kept = self._confirmed.get(key)
            self._confirmed[key] = {**(kept if isinstance(kept, dict) else {}), **update}
            for undone in _WITHDRAWS[action]:
                self._confirmed.pop(self.key(lun, undone), None)
        return new

    def _direction(self, lun: str) -> str:
        kept = self._confirmed.get(_STATE_KEY.format(lun=lun))
        return kept.get("direction", _FORWARD) if isinstance(kept, dict) else _FORWARD

    def present_test_copy(self, lun: str) -> ReplicatedLun:
        return self._step(lun, "present_test_copy")

    def remove_test_copy(self, lun: str) -> ReplicatedLun:
        return self._step(lun, "remove_test_copy")

    def promote(self, lun: str) -> ReplicatedLun:
        return self._step(lun, "promote")

    def reverse(self, lun: str) -> ReplicatedLun:
        return self._step(lun, "reverse")

    def sync(self, lun: str) -> ReplicatedLun:
        return self._step(lun, "sync")
