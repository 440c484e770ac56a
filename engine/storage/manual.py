"""The `manual` storage adapter: a person does each storage step and confirms it.

For arrays drbot cannot steer, every action raises `ManualStepRequired` with an instruction
until `confirm(lun, action)` has been recorded for it; the run pauses there and the bot shows
the instruction with a "Done" button to the storage team. After confirmation the action returns
the LUN as configured (its state updated), so a resumed run goes past the step.

Confirmations live in the `confirmed` mapping passed in (the runner may pass a view of its
store so they survive a restart); by default an in-memory dict.
"""

from __future__ import annotations

import threading
from collections.abc import MutableMapping

from engine import messages
from engine.errors import ManualStepRequired, StorageError
from engine.storage.base import ReplicatedLun

_AFTER: dict[str, str] = {"promote": "promoted", "reverse": "reversed"}


class ManualStorageAdapter:
    """Pauses at every storage step until a person confirms it was done."""

    name = "manual"

    def __init__(
        self,
        luns: list[ReplicatedLun],
        confirmed: MutableMapping[str, bool] | None = None,
    ) -> None:
        self._luns = {lun.lun: lun for lun in luns}
        self._confirmed: MutableMapping[str, bool] = confirmed if confirmed is not None else {}
        self._lock = threading.Lock()

    @staticmethod
    def key(lun: str, action: str) -> str:
        return f"{lun}:{action}"

    def confirm(self, lun: str, action: str) -> None:
        """Record that a person did `action` on `lun`."""
        if lun not in self._luns:
            raise StorageError(f"No LUN {lun!r} is configured; known: {', '.join(self._luns)}.")
        with self._lock:
            self._confirmed[self.key(lun, action)] = True

    def is_confirmed(self, lun: str, action: str) -> bool:
        with self._lock:
            return bool(self._confirmed.get(self.key(lun, action)))

    def state(self) -> list[ReplicatedLun]:
        # The array is not readable from here: states are as configured and lags unknown.
        return list(self._luns.values())

    def _step(self, lun: str, action: str) -> ReplicatedLun:
        if lun not in self._luns:
            raise StorageError(f"No LUN {lun!r} is configured; add it under [[storage.luns]].")
        if not self.is_confirmed(lun, action):
            instruction = messages.MANUAL_INSTRUCTIONS[action].format(lun=lun)
            raise ManualStepRequired(lun, action, instruction)
        current = self._luns[lun]
        update: dict[str, object] = {}
        if action in _AFTER:
            update["state"] = _AFTER[action]
        if action == "sync":
            update["lag_seconds"] = 0.0
        if action == "remove_test_copy":
            update["test_copy_device_config"] = None
        if action == "present_test_copy" and current.test_copy_device_config is None:
            update["test_copy_device_config"] = dict(current.mirror_device_config)
        new = current.model_copy(update=update)
        self._luns[lun] = new
        return new

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
