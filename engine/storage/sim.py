"""The storage adapter for sim/xapi's arrays, over the simulator's HTTP+JSON control API.

It speaks only HTTP to the control URL (docs/contracts/sim-xapi.md, "Control API"); the engine
imports nothing of `sim/`.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from pydantic import ValidationError

from engine.errors import StorageError
from engine.messages import SIM_STORAGE as _MESSAGE
from engine.messages import SIM_STORAGE_REFUSED
from engine.storage.base import ReplicatedLun

# What a person calls each control API request, for messages.
_ACTIONS = {
    ("POST", "test-copy"): "present a test copy of",
    ("DELETE", "test-copy"): "remove the test copy of",
    ("POST", "promote"): "promote",
    ("POST", "reverse"): "reverse",
    ("POST", "sync"): "sync",
}


class SimStorageAdapter:
    """Reads and steers LUN replication of the simulator's storage arrays."""

    name = "sim"

    def __init__(self, control_url: str, *, timeout: float = 30.0) -> None:
        self.control_url = control_url.rstrip("/")
        self.timeout = timeout

    def _request(self, method: str, path: str) -> Any:
        req = urllib.request.Request(  # noqa: S310 - the configured control URL, http(s) only
            f"{self.control_url}{path}", method=method, data=b"" if method != "GET" else None
        )
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310
                body = resp.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except (ValueError, AttributeError):
                pass
            parts = path.strip("/").split("/")
            if len(parts) == 3 and parts[0] == "replication":
                # The array said no (a failed mirror, a copy already presented): say what and
                # why; the control API itself is fine.
                action = _ACTIONS.get((method, parts[2]), f"{method} {parts[2]}")
                raise StorageError(
                    SIM_STORAGE_REFUSED.format(action=action, lun=parts[1], detail=detail)
                ) from exc
            raise StorageError(
                _MESSAGE.format(what=f"refused {method} {path}", detail=detail)
            ) from exc
        except (urllib.error.URLError, OSError) as exc:
            raise StorageError(_MESSAGE.format(what="is unreachable", detail=exc)) from exc
        try:
            return json.loads(body) if body else None
        except ValueError as exc:
            raise StorageError(_MESSAGE.format(what="answered garbage", detail=exc)) from exc

    def state(self) -> list[ReplicatedLun]:
        answer = self._request("GET", "/replication")
        try:
            return [ReplicatedLun.model_validate(item) for item in answer or []]
        except (ValidationError, TypeError) as exc:
            raise StorageError(_MESSAGE.format(what="answered garbage", detail=exc)) from exc

    def _act(self, method: str, lun: str, action: str) -> ReplicatedLun:
        answer = self._request(method, f"/replication/{lun}/{action}")
        if isinstance(answer, dict) and "lun" in answer:
            return ReplicatedLun.model_validate(answer)
        return self._one(lun)

    def _one(self, lun: str) -> ReplicatedLun:
        for item in self.state():
            if item.lun == lun:
                return item
        raise StorageError(_MESSAGE.format(what="does not know a LUN", detail=lun))

    def present_test_copy(self, lun: str) -> ReplicatedLun:
        return self._act("POST", lun, "test-copy")

    def remove_test_copy(self, lun: str) -> ReplicatedLun:
        return self._act("DELETE", lun, "test-copy")

    def promote(self, lun: str) -> ReplicatedLun:
        return self._act("POST", lun, "promote")

    def reverse(self, lun: str) -> ReplicatedLun:
        return self._act("POST", lun, "reverse")

    def sync(self, lun: str) -> ReplicatedLun:
        return self._act("POST", lun, "sync")
