"""Modals and the Home tab: views.open/push need a fresh trigger_id (3 s, once), a modal stack
holds three views, views.update checks the hash, views.publish sets a person's Home tab.
"""

from __future__ import annotations

from sim.slack import blockkit
from sim.slack.errors import ApiError
from sim.slack.methods.base import Call, method


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
