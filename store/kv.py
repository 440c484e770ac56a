"""Small durable mappings, one per namespace (e.g. the manual storage adapter's confirmations,
which must survive a restart and be shared by the bot and the operator CLI)."""

from __future__ import annotations

import json
from collections.abc import Iterator, MutableMapping
from typing import Any

from store.db import StoreConnection


class KeyValues(MutableMapping[str, Any]):
    """A `MutableMapping` of JSON values stored in the `kv` table under one namespace."""

    def __init__(self, conn: StoreConnection, namespace: str) -> None:
        self._c = conn
        self.namespace = namespace

    def __getitem__(self, key: str) -> Any:
        with self._c.lock:
            rows = list(
                self._c.db["kv"].rows_where(
                    "namespace = ? and key = ?", [self.namespace, key], select="value_json"
                )
            )
        if not rows:
            raise KeyError(key)
        return json.loads(rows[0]["value_json"])

    def __setitem__(self, key: str, value: Any) -> None:
        with self._c.write() as db:
            db.table("kv").upsert(
                {
                    "namespace": self.namespace,
                    "key": key,
                    "value_json": json.dumps(value, sort_keys=True, default=str),
                    "updated_at": self._c.stamp(),
                },
                pk=("namespace", "key"),
            )

    def __delitem__(self, key: str) -> None:
        with self._c.write() as db:
            cursor = db.execute(
                "DELETE FROM kv WHERE namespace = ? AND key = ?", [self.namespace, key]
            )
            if cursor.rowcount == 0:
                raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        with self._c.lock:
            rows = list(
                self._c.db["kv"].rows_where("namespace = ?", [self.namespace], select="key")
            )
        return iter([r["key"] for r in rows])

    def __len__(self) -> int:
        with self._c.lock:
            return self._c.db["kv"].count_where("namespace = ?", [self.namespace])
