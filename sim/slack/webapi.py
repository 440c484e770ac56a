"""The Web API: `https://slack.com/api/<method>` on loopback, answering the way Slack does.

While `world.outage` is set (Slack down), every request is answered HTTP 503 with
`service_unavailable`, as Slack's method pages list that error and slack_sdk's
`ServerErrorRetryHandler` expects (it retries 500 and 503 only).

Each request goes through the same gate, in Slack's order: the method exists
(`unknown_method`), a token was sent (`not_authed`) and is known (`invalid_auth`,
`token_revoked`), it is the right kind for the method (`not_allowed_token_type`: the xapp
app-level token opens Socket Mode connections and does nothing else), the method's rate tier
and, for chat.postMessage, the channel's ~1 message a second (HTTP 429, `Retry-After`,
`ratelimited`), then the scopes the method needs (`missing_scope` with `needed` and
`provided`). Arguments come from the query string, a form body or a JSON body, as Slack
accepts; a token is read from `Authorization: Bearer` or a form/query `token` (never from a
JSON body, which Slack ignores).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sim.slack.errors import ApiError
from sim.slack.methods import METHODS
from sim.slack.methods.base import Call
from sim.slack.methods.files import receive_upload
from sim.slack.world import World

__all__ = ["ApiCall", "handle", "parse_args", "receive_upload"]


@dataclass(frozen=True)
class ApiCall:
    """One Web API request as the double saw it (`world.calls`): which method, with which
    arguments (the token left out), and how it was answered. Lets a test ask "did the app
    consult usergroups.users.list?" or "what did files.completeUploadExternal receive?"."""

    method: str
    args: dict[str, Any] = field(default_factory=dict)
    token_kind: str = ""
    status: int = 200
    error: str | None = None
    at: float = 0.0
    retry_after: int | None = None  # a 429's Retry-After, in seconds


def parse_args(query: str, body: bytes, content_type: str) -> tuple[dict[str, Any], bool]:
    """Arguments from the query string and the body; also whether the body was JSON."""
    args: dict[str, Any] = {k: v[-1] for k, v in parse_qs(query, keep_blank_values=True).items()}
    is_json = content_type.split(";")[0].strip().lower() == "application/json"
    if not body:
        return args, is_json
    if is_json:
        try:
            data = json.loads(body.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise ApiError("invalid_json") from error
        if not isinstance(data, dict):
            raise ApiError("json_not_object")
        data.pop("token", None)  # Slack ignores a token in a JSON body
        args.update(data)
    elif content_type.startswith("multipart/"):
        raise ApiError("invalid_form_data")
    else:
        try:
            form = parse_qs(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError as error:
            raise ApiError("invalid_form_data") from error
        args.update({k: v[-1] for k, v in form.items()})
    return args, is_json


def handle(
    world: World, name: str, headers: dict[str, str], query: str, body: bytes
) -> tuple[int, dict, dict]:
    """(HTTP status, extra headers, JSON body) for one Web API request."""
    args: dict[str, Any] = {}
    token_kind = ""
    try:
        if world.outage:
            raise ApiError("service_unavailable", status=503)
        spec = METHODS.get(name)
        if spec is None:
            raise ApiError("unknown_method", req_method=name)
        args, _ = parse_args(query, body, headers.get("content-type", ""))
        token = _token(headers, args)
        args.pop("token", None)
        token_kind = _token_kind(world, token)
        if token_kind not in spec.tokens:
            raise ApiError("not_allowed_token_type")
        world.limiter.check_method(name, spec.tier, world.workspace.team_id)
        call = Call(world, name, token_kind, args)
        if spec.scopes:
            call.require_scope(*spec.scopes)
        with world.lock:
            result = spec.handler(call)
        world.calls.append(ApiCall(name, args, token_kind, 200, None, world.now()))
        return 200, {}, {"ok": True, **result}
    except ApiError as refusal:
        retry_after = refusal.headers.get("Retry-After")
        world.calls.append(
            ApiCall(
                name,
                args,
                token_kind,
                refusal.status,
                refusal.error,
                world.now(),
                int(retry_after) if retry_after else None,
            )
        )
        return refusal.status, refusal.headers, refusal.body()


def _token(headers: dict[str, str], args: dict[str, Any]) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer ") and auth[7:].strip():
        return auth[7:].strip()
    token = args.pop("token", "")
    if not token:
        raise ApiError("not_authed")
    return str(token)


def _token_kind(world: World, token: str) -> str:
    app = world.workspace.app
    if token in world.revoked_tokens:
        raise ApiError("token_revoked")
    if token == app.bot_token:
        return "bot"
    if token == app.app_token:
        return "app"
    raise ApiError("invalid_auth")
