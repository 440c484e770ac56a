"""HTTP mode: Slack POSTs to the app's request URL, signed (reference slack.md §3.1).

Slash commands are `application/x-www-form-urlencoded` fields; interactions are one form
field `payload=<JSON>`; Events API callbacks are JSON. Every request carries
`X-Slack-Request-Timestamp` and `X-Slack-Signature: v0=HMAC-SHA256(secret,
"v0:{timestamp}:{raw body}")`; event retries add `X-Slack-Retry-Num` and
`X-Slack-Retry-Reason`. The response to the POST is the acknowledgement; an error response
with `X-Slack-No-Retry: 1` asks Slack not to retry that event.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlencode

USER_AGENT = "Slackbot 1.0 (+https://api.slack.com/robots)"


def signature(secret: str, timestamp: str | int, body: bytes | str) -> str:
    """Slack's request signature for a raw body."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    base = b"v0:" + str(timestamp).encode() + b":" + raw
    return "v0=" + hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def encode(kind: str, payload: dict) -> tuple[bytes, str]:
    """The body and content type Slack uses for each kind of delivery."""
    if kind == "slash_commands":
        return urlencode({k: "" if v is None else str(v) for k, v in payload.items()}).encode(), (
            "application/x-www-form-urlencoded"
        )
    if kind == "interactive":
        return urlencode(
            {"payload": json.dumps(payload)}
        ).encode(), "application/x-www-form-urlencoded"
    return json.dumps(payload).encode(), "application/json"


@dataclass
class Answer:
    status: int | None  # None when no HTTP answer came at all
    body: dict | None = None
    failure: str | None = None  # http_timeout, connection_failed, http_error
    no_retry: bool = False  # the app answered X-Slack-No-Retry: 1


def post(
    url: str,
    kind: str,
    payload: dict,
    *,
    secret: str,
    timestamp: int,
    timeout: float,
    retry_num: int | None = None,
    retry_reason: str | None = None,
) -> Answer:
    """POST one delivery and read the app's answer."""
    body, content_type = encode(kind, payload)
    headers = {
        "Content-Type": content_type,
        "User-Agent": USER_AGENT,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": signature(secret, timestamp, body),
    }
    if retry_num:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = retry_reason or "http_error"
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return Answer(
                response.status,
                _ack_body(response.read(), response.headers.get("Content-Type", "")),
            )
    except urllib.error.HTTPError as error:
        no_retry = (error.headers.get("X-Slack-No-Retry") or "").strip() == "1"
        return Answer(error.code, None, "http_error", no_retry)
    except TimeoutError:
        return Answer(None, None, "http_timeout")
    except (urllib.error.URLError, OSError):
        return Answer(None, None, "connection_failed")


def _ack_body(raw: bytes, content_type: str) -> dict:
    text = raw.decode("utf-8", errors="replace").strip()
    if not text:
        return {}
    if "json" in content_type or text.startswith("{"):
        try:
            data = json.loads(text)
            return data if isinstance(data, dict) else {}
        except json.JSONDecodeError:
            pass
    return {"text": text}
