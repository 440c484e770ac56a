"""Who and where: auth.test, apps.connections.open (the app-level token's only use),
conversations.*, users.*, usergroups.* (a paid-plan feature), with Slack's cursor pagination.
"""

from __future__ import annotations

import re

from sim.slack.errors import ApiError
from sim.slack.methods.base import Call, method, resolve_channel
from sim.slack.workspace import Channel


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


@method("conversations.open", tier=3, scopes=("im:write",))
def conversations_open(call: Call) -> dict:
    """A direct message with one person (group DMs are not modelled)."""
    ws = call.world.workspace
    users = [u for u in (call.text("users") or "").split(",") if u]
    if call.text("channel"):
        return {"channel": {"id": resolve_channel(call, call.text("channel")).id}}
    if len(users) != 1:
        raise ApiError("not_enough_users" if not users else "too_many_users")
    user = ws.users.get(users[0])
    if user is None or user.is_bot:
        raise ApiError("user_not_found")
    return {"channel": {"id": ws.im_with(user.id).id}, "already_open": True}
