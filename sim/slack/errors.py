"""The one way a Web API method says no: `ApiError("channel_not_found")` becomes
`{"ok": false, "error": "channel_not_found"}` (HTTP 200, as Slack answers), or HTTP 429 with
Retry-After for `ratelimited`. Extra fields (`needed`, `provided`, `errors`,
`response_metadata`) go into the body beside the error name."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    def __init__(
        self, error: str, *, status: int = 200, headers: dict[str, str] | None = None, **extra: Any
    ):
        super().__init__(error)
        self.error = error
        self.status = status
        self.headers = headers or {}
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.error, **self.extra}
