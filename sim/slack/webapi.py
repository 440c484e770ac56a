"""The Web API: `https://slack.com/api/<method>` on loopback, answering the way Slack does.

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
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from sim.slack import blockkit
from sim.slack.errors import ApiError
from sim.slack.workspace import Channel
from sim.slack.world import StoredFile, World

TEXT_MAX = 40_000


@dataclass
class Call:
    """One Web API request, with its arguments already merged from query and body."""

    world: World
    method: str
    token_kind: str
    args: dict[str, Any]

    def get(self, name: str, default: Any = None) -> Any:
        value = self.args.get(name, default)
        return default if value is None else value

    def text(self, name: str, default: str | None = None) -> str | None:
        value = self.args.get(name)
        return default if value is None else str(value)

    def flag(self, name: str) -> bool:
        value = self.args.get(name)
        return value is True or str(value).lower() in ("true", "1", "yes")

    def integer(self, name: str, default: int) -> int:
        try:
            return int(self.args.get(name, default))
        except (TypeError, ValueError) as error:
            raise ApiError("invalid_arguments") from error

    def json(self, name: str, error: str = "invalid_arguments") -> Any:
        """An argument that is JSON: a JSON body gives it as is, a form body as a string."""
        value = self.args.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as failure:
                raise ApiError(error) from failure
        return value

    def require_scope(self, *scopes: str) -> None:
        granted = self.world.workspace.app.scopes
        missing = [s for s in scopes if s not in granted]
        if missing:
            raise ApiError(
                "missing_scope", needed=",".join(missing), provided=",".join(sorted(granted))
            )


@dataclass
class Method:
    name: str
    handler: Callable[[Call], dict]
    tier: int | str
    scopes: tuple[str, ...]
    tokens: tuple[str, ...]


METHODS: dict[str, Method] = {}


def method(
    name: str, *, tier: int | str, scopes: tuple[str, ...] = (), tokens: tuple[str, ...] = ("bot",)
):
    def register(handler: Callable[[Call], dict]) -> Callable[[Call], dict]:
        METHODS[name] = Method(name, handler, tier, scopes, tokens)
        return handler

    return register


# ---- the gate ----------------------------------------------------------------------------------


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
    try:
        spec = METHODS.get(name)
        if spec is None:
            raise ApiError("unknown_method", req_method=name)
        args, _ = parse_args(query, body, headers.get("content-type", ""))
        token = _token(headers, args)
        token_kind = _token_kind(world, token)
        if token_kind not in spec.tokens:
            raise ApiError("not_allowed_token_type")
        world.limiter.check_method(name, spec.tier)
        call = Call(world, name, token_kind, args)
        if spec.scopes:
            call.require_scope(*spec.scopes)
        with world.lock:
            result = spec.handler(call)
        return 200, {}, {"ok": True, **result}
    except ApiError as refusal:
        return refusal.status, refusal.headers, refusal.body()


def _token(headers: dict[str, str], args: dict[str, Any]) -> str:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
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


# ---- shared checks ----------------------------------------------------------------------------


def resolve_channel(call: Call, ref: str | None, *, for_posting: bool = False) -> Channel:
    """A conversation the bot may see: private channels it is not in do not exist for it."""
    if not ref:
        raise ApiError("channel_not_found")
    ws = call.world.workspace
    user = ws.users.get(ref)
    if user is not None and not user.is_bot and ref.startswith(("U", "W")):
        return ws.im_with(user.id)
    channel = ws.channel(ref)
    if channel is None or (channel.is_private and not ws.bot_is_member(channel)):
        raise ApiError("channel_not_found")
    if for_posting:
        if channel.is_archived:
            raise ApiError("is_archived")
        if not ws.bot_is_member(channel) and "chat:write.public" not in ws.app.scopes:
            raise ApiError("not_in_channel")
    return channel


def message_content(call: Call) -> tuple[str | None, list | None, list | None]:
    """text, blocks and attachments of chat.* calls, checked against Slack's limits."""
    text = call.text("text")
    blocks = (
        call.json("blocks", "invalid_blocks_format")
        if call.args.get("blocks") not in (None, "")
        else None
    )
    attachments = (
        call.json("attachments", "invalid_attachments") if call.args.get("attachments") else None
    )
    if blocks is not None:
        if not isinstance(blocks, list):
            raise ApiError("invalid_blocks_format")
        errors = blockkit.check_message_blocks(blocks)
        if errors:
            raise ApiError("invalid_blocks", errors=errors, response_metadata={"messages": errors})
    if text is not None and len(text) > TEXT_MAX:
        raise ApiError("msg_too_long")
    return text, blocks, attachments


def _metadata(call: Call) -> dict | None:
    return call.json("metadata", "invalid_metadata_format") if call.args.get("metadata") else None


# ---- auth and connections ----------------------------------------------------------------------


@method("auth.test", tier="special")
def auth_test(call: Call) -> dict:
    ws = call.world.workspace
    return {
        "url": f"https://{ws.domain}.slack.com/",
        "team": ws.team_name,
        "user": ws.app.name,
        "team_id": ws.team_id,
        "user_id": ws.app.bot_user_id,
        "bot_id": ws.app.bot_id,
        "is_enterprise_install": False,
    }


@method("apps.connections.open", tier=1, tokens=("app",))
def apps_connections_open(call: Call) -> dict:
    world = call.world
    if "connections:write" not in world.workspace.app.app_token_scopes:
        raise ApiError(
            "missing_scope",
            needed="connections:write",
            provided=",".join(world.workspace.app.app_token_scopes),
        )
    if not world.workspace.app.socket_mode:
        raise ApiError("socket_mode_not_enabled")
    ticket = world.handles.issue_ticket(world.now())
    return {"url": f"{world.socket_url}/link/?ticket={ticket}&app_id={world.workspace.app.id}"}


# ---- chat --------------------------------------------------------------------------------------


@method("chat.postMessage", tier="special", scopes=("chat:write",))
def chat_post_message(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"), for_posting=True)
    text, blocks, attachments = message_content(call)
    if not text and not blocks and not attachments:
        raise ApiError("no_text")
    thread_ts = call.text("thread_ts") or None
    if thread_ts is not None and world.conversations.get(channel.id, thread_ts) is None:
        raise ApiError("invalid_thread_ts")
    world.limiter.check_channel(channel.id)
    message = world.post(
        channel.id,
        world.workspace.app.bot_user_id,
        text or "",
        blocks,
        thread_ts=thread_ts,
        reply_broadcast=call.flag("reply_broadcast") and thread_ts is not None,
        attachments=attachments,
        metadata=_metadata(call),
    )
    return {
        "channel": channel.id,
        "ts": message.ts,
        "message": message.to_api(world.workspace.team_id),
    }


@method("chat.update", tier=3, scopes=("chat:write",))
def chat_update(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"))
    ts = call.text("ts") or ""
    message = world.conversations.get(channel.id, ts)
    if message is None:
        raise ApiError("message_not_found")
    if message.user != world.workspace.app.bot_user_id:
        raise ApiError("cant_update_message")
    text, blocks, attachments = message_content(call)
    if text is None and blocks is None and attachments is None:
        raise ApiError("no_text")
    world.edit(message, text, blocks, attachments=attachments)
    return {
        "channel": channel.id,
        "ts": message.ts,
        "text": message.text,
        "message": message.to_api(world.workspace.team_id),
    }


@method("chat.postEphemeral", tier=4, scopes=("chat:write",))
def chat_post_ephemeral(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"), for_posting=True)
    user = world.workspace.users.get(call.text("user") or "")
    if user is None:
        raise ApiError("user_not_found")
    if user.id not in channel.members:
        raise ApiError("user_not_in_channel")
    text, blocks, attachments = message_content(call)
    if not text and not blocks and not attachments:
        raise ApiError("no_text")
    message = world.post(
        channel.id,
        world.workspace.app.bot_user_id,
        text or "",
        blocks,
        thread_ts=call.text("thread_ts") or None,
        ephemeral_to=user.id,
        attachments=attachments,
    )
    return {"message_ts": message.ts}


@method("chat.delete", tier=3, scopes=("chat:write",))
def chat_delete(call: Call) -> dict:
    world = call.world
    channel = resolve_channel(call, call.text("channel"))
    message = world.conversations.get(channel.id, call.text("ts") or "")
    if message is None:
        raise ApiError("message_not_found")
    if message.user != world.workspace.app.bot_user_id:
        raise ApiError("cant_delete_message")
    world.delete(message)
    return {"channel": channel.id, "ts": message.ts}


# ---- conversations, users, groups ----------------------------------------------------------------


def _read_scope_for(channel: Channel) -> str:
    if channel.is_im:
        return "im:read"
    return "groups:read" if channel.is_private else "channels:read"


@method("conversations.info", tier=3)
def conversations_info(call: Call) -> dict:
    channel = resolve_channel(call, call.text("channel"))
    call.require_scope(_read_scope_for(channel))
    info = channel.to_api(call.world.now(), call.world.workspace.app.bot_user_id)
    info["is_member"] = call.world.workspace.bot_is_member(channel)
    return {"channel": info}


def _page(call: Call, items: list, default_limit: int = 100) -> tuple[list, dict]:
    """Cursor pagination as Slack does it: an opaque cursor, `next_cursor` empty at the end."""
    limit = max(1, min(call.integer("limit", default_limit) or default_limit, 1000))
    cursor = call.text("cursor") or ""
    start = 0
    if cursor:
        match = re.fullmatch(r"offset:(\d+)", cursor)
        if match is None:
            raise ApiError("invalid_cursor")
        start = int(match.group(1))
    page = items[start : start + limit]
    more = start + limit < len(items)
    return page, {"next_cursor": f"offset:{start + limit}" if more else ""}


@method("conversations.members", tier=4)
def conversations_members(call: Call) -> dict:
    channel = resolve_channel(call, call.text("channel"))
    call.require_scope(_read_scope_for(channel))
    page, meta = _page(call, list(channel.members))
    return {"members": page, "response_metadata": meta}


@method("users.info", tier=4, scopes=("users:read",))
def users_info(call: Call) -> dict:
    user = call.world.workspace.users.get(call.text("user") or "")
    if user is None:
        raise ApiError("user_not_found")
    return {"user": user.to_api(call.world.workspace.team_id, call.world.now())}


@method("users.list", tier=2, scopes=("users:read",))
def users_list(call: Call) -> dict:
    ws = call.world.workspace
    members = [u.to_api(ws.team_id, call.world.now()) for u in ws.users.values()]
    page, meta = _page(call, members, 200)
    return {"members": page, "cache_ts": int(call.world.now()), "response_metadata": meta}


def _paid(call: Call) -> None:
    if call.world.workspace.plan == "free":
        raise ApiError("plan_upgrade_required")


@method("usergroups.list", tier=2, scopes=("usergroups:read",))
def usergroups_list(call: Call) -> dict:
    _paid(call)
    ws = call.world.workspace
    include_disabled = call.flag("include_disabled")
    groups = [
        g.to_api(ws.team_id, call.flag("include_users"))
        for g in ws.groups.values()
        if include_disabled or not g.disabled
    ]
    return {"usergroups": groups}


@method("usergroups.users.list", tier=2, scopes=("usergroups:read",))
def usergroups_users_list(call: Call) -> dict:
    _paid(call)
    group = call.world.workspace.groups.get(call.text("usergroup") or "")
    if group is None:
        raise ApiError("no_such_subteam")
    if group.disabled and not call.flag("include_disabled"):
        raise ApiError("no_such_subteam")
    return {"users": list(group.users)}


# ---- views --------------------------------------------------------------------------------------


def _view_spec(call: Call, kind: str, *, replacing: dict | None = None) -> dict:
    """The `view` argument, checked against Slack's limits and of the expected type."""
    spec = call.json("view")
    error, errors = blockkit.check_view(spec)
    if error:
        raise ApiError(error, response_metadata={"messages": errors}) if errors else ApiError(error)
    if spec.get("type") != kind:
        pointer = f"[ERROR] must be {kind} [json-pointer:/view/type]"
        raise ApiError("invalid_arguments", response_metadata={"messages": [pointer]})
    external_id = spec.get("external_id")
    for other in call.world.views.values():
        if external_id and other["external_id"] == external_id and other is not replacing:
            raise ApiError("duplicate_external_id")
    return spec


@method("views.open", tier=4)
def views_open(call: Call) -> dict:
    world = call.world
    trigger = world.handles.exchange_trigger(call.text("trigger_id"), world.now(), world.deadlines)
    spec = _view_spec(call, "modal")
    view = world.make_view(spec, user=trigger.user, root_view_id=None, previous_view_id=None)
    world.modal_stacks[trigger.user] = [view["id"]]
    world.record_view("view_opened", trigger.user, view)
    return {"view": view}


@method("views.push", tier=4)
def views_push(call: Call) -> dict:
    world = call.world
    trigger = world.handles.exchange_trigger(call.text("trigger_id"), world.now(), world.deadlines)
    stack = world.modal_stacks.get(trigger.user, [])
    if not stack:
        raise ApiError("not_found")
    if len(stack) >= 3:
        raise ApiError("push_limit_reached")
    spec = _view_spec(call, "modal")
    view = world.make_view(
        spec, user=trigger.user, root_view_id=stack[0], previous_view_id=stack[-1]
    )
    stack.append(view["id"])
    world.record_view("view_pushed", trigger.user, view)
    return {"view": view}


@method("views.update", tier=4)
def views_update(call: Call) -> dict:
    world = call.world
    current = world.view_by(call.text("view_id"), call.text("external_id"))
    given_hash = call.text("hash")
    if given_hash and given_hash != current["hash"]:
        raise ApiError("hash_conflict")
    spec = _view_spec(call, current["type"], replacing=current)
    view = world.make_view(
        spec,
        user="",
        root_view_id=current["root_view_id"],
        previous_view_id=current["previous_view_id"],
        view_id=current["id"],
    )
    owner = world.owner_of(view["id"])
    if owner:
        world.record_view("view_updated", owner, view)
    return {"view": view}


@method("views.publish", tier=4)
def views_publish(call: Call) -> dict:
    world = call.world
    user = world.workspace.users.get(call.text("user_id") or "")
    if user is None:
        raise ApiError("user_not_found")
    current_id = world.homes.get(user.id)
    given_hash = call.text("hash")
    if given_hash and current_id and given_hash != world.views[current_id]["hash"]:
        raise ApiError("hash_conflict")
    current = world.views.get(current_id) if current_id else None
    spec = _view_spec(call, "home", replacing=current)
    view = world.make_view(
        spec, user=user.id, root_view_id=None, previous_view_id=None, view_id=current_id
    )
    world.homes[user.id] = view["id"]
    world.record_view("home_published", user.id, view)
    return {"view": view}


# ---- files ---------------------------------------------------------------------------------------


@method("files.getUploadURLExternal", tier=4, scopes=("files:write",))
def files_get_upload_url_external(call: Call) -> dict:
    world = call.world
    filename = call.text("filename")
    length = call.args.get("length")
    if not filename or length in (None, ""):
        raise ApiError("invalid_arguments")
    size = call.integer("length", 0)
    if size <= 0:
        raise ApiError("invalid_arguments")
    file_id = world.new_id("F")
    world.files[file_id] = StoredFile(
        file_id,
        filename,
        size,
        alt_txt=call.text("alt_txt") or "",
        user=world.workspace.app.bot_user_id,
        created=world.now(),
    )
    ticket = world.handles.issue_ticket(world.now())
    world.upload_tickets[ticket] = file_id
    return {"upload_url": f"{world.base_url}upload/v1/{ticket}", "file_id": file_id}


@method("files.completeUploadExternal", tier=4, scopes=("files:write",))
def files_complete_upload_external(call: Call) -> dict:
    world = call.world
    items = call.json("files")
    if not isinstance(items, list) or not items:
        raise ApiError("invalid_arguments")
    stored: list[StoredFile] = []
    for item in items:
        if not isinstance(item, dict):
            raise ApiError("invalid_arguments")
        found = world.files.get(str(item.get("id", "")))
        if found is None or found.content is None or found.completed:
            raise ApiError("file_not_found")
        stored.append(found)
    targets = [c for c in (call.text("channels") or "").split(",") if c]
    if call.text("channel_id"):
        targets.insert(0, call.text("channel_id") or "")
    channels = []
    for ref in targets:
        channel = resolve_channel(call, ref)
        if not world.workspace.bot_is_member(channel):
            raise ApiError("not_in_channel")  # chat:write.public does not help uploads
        channels.append(channel)
    thread_ts = call.text("thread_ts") or None
    if thread_ts and channels and world.conversations.get(channels[0].id, thread_ts) is None:
        raise ApiError("invalid_thread_ts")
    for found, item in zip(stored, items, strict=True):
        found.completed = True
        found.title = str(item.get("title") or found.name)
    shown = [f.to_api(world.base_url, world.workspace.team_id) for f in stored]
    for channel in channels:
        world.post(
            channel.id,
            world.workspace.app.bot_user_id,
            call.text("initial_comment") or "",
            thread_ts=thread_ts,
            files=shown,
        )
    return {"files": [{"id": f["id"], "title": f["title"]} for f in shown]}


def receive_upload(world: World, ticket: str, data: bytes) -> tuple[int, str]:
    """The upload URL of files.getUploadURLExternal: takes the bytes once."""
    with world.lock:
        file_id = world.upload_tickets.pop(ticket, None)
        if file_id is None:
            return 404, "invalid_upload_url"
        world.files[file_id].content = data
        return 200, f"OK - {len(data)}"
