"""The control endpoint (`<base>/control/...`, HTTP + JSON): acting as people and looking at
what they see from outside the process, for the demo and for tests in other languages or
processes. Every route maps onto the Python API of `SlackSim` / `Person`.

Errors are `{"error": "..."}` with HTTP 400 (bad request) or 404 (unknown route or thing),
and say what to send instead.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from sim.slack import messages
from sim.slack.actors import ActorError
from sim.slack.clock import ManualClock

if TYPE_CHECKING:
    from sim.slack.server import SlackSim

ROUTES = {
    "GET /control": "this list",
    "GET /control/workspace": "team, app, users, user groups, channels",
    "GET /control/record?channel=&thread_ts=&kind=&user=&since=": "what people saw, in order",
    "GET /control/screen?user=&channel=&thread_ts=": "a channel or thread as a person sees it",
    "GET /control/socket": "open Socket Mode connections",
    "GET /control/deliveries": "every payload sent to the app and how it ended",
    "GET /control/calls?method=": "every Web API request the app made, and its answer",
    "POST /control/command": '{"user", "command", "text", "channel"}',
    "POST /control/click": '{"user", "channel", "ts", "action_id"/"number"/"text", "confirm", '
    '"as_of"}: as_of is the record seq of an earlier version of the message (a stale screen)',
    "POST /control/submit": '{"user", "values"}',
    "POST /control/close_view": '{"user"}',
    "POST /control/home": '{"user"}',
    "POST /control/say": '{"user", "channel", "text", "thread_ts"}',
    "POST /control/clock/advance": '{"seconds"} (ManualClock only)',
    "POST /control/ratelimit": '{"method", "count", "retry_after"}: answer the next calls with 429',
    "POST /control/ratelimit/tier": '{"tier", "per_minute", "burst"}: a smaller rate tier',
    "POST /control/socket/disconnect": '{"reason", "link"}: send a disconnect frame',
    "POST /control/app": '{"socket_mode", "request_url", "clock_skew"}: how payloads reach the app',
    "POST /control/revoke": '{"token"}: make a token answer token_revoked',
    "POST /control/outage": '{"down"}: true: every Web API call answers 503 until false',
}


class ControlError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def route(sim: SlackSim, verb: str, path: str, query: str, body: Any) -> tuple[int, Any]:
    try:
        return 200, _route(sim, verb, path.rstrip("/"), parse_qs(query), body)
    except ControlError as error:
        return error.status, {"error": str(error)}
    except (ActorError, ValueError, KeyError, TimeoutError) as error:
        return 400, {"error": str(error)}


def _need(body: Any, field: str, route_name: str) -> Any:
    if not isinstance(body, dict):
        raise ControlError(400, messages.CONTROL_BAD_JSON)
    if field not in body:
        raise ControlError(400, messages.CONTROL_MISSING.format(field=field, route=route_name))
    return body[field]


def _route(sim: SlackSim, verb: str, path: str, query: dict, body: Any) -> Any:
    one = {k: v[-1] for k, v in query.items()}
    key = f"{verb} {path}"
    world = sim.world
    wait = not isinstance(world.clock, ManualClock)
    if key == "GET /control":
        return ROUTES
    if key == "GET /control/workspace":
        return sim.describe()
    if key == "GET /control/record":
        user = sim.person(one["user"]).id if "user" in one else None
        room = world.workspace.channel(one["channel"]) if "channel" in one else None
        if "channel" in one and room is None:
            raise KeyError(one["channel"])  # answered 400, like any unknown name asked of the sim
        channel = room.id if room is not None else None
        entries = world.record.entries(
            channel=channel,
            thread_ts=one.get("thread_ts"),
            kind=one.get("kind"),
            visible_to=user,
            since=int(one.get("since", 0)),
        )
        return [e.to_json() for e in entries]
    if key == "GET /control/screen":
        person = sim.person(one.get("user", "olivia"))
        return {"text": person.screen(one.get("channel", "dr-ops"), thread_ts=one.get("thread_ts"))}
    if key == "GET /control/socket":
        return sim.socket.links()
    if key == "GET /control/deliveries":
        return [d.summary() for d in sim.dispatcher.log]
    if key == "GET /control/calls":
        return [asdict(c) for c in sim.calls(one.get("method"))]
    if verb != "POST":
        raise ControlError(404, messages.CONTROL_UNKNOWN_ROUTE.format(method=verb, path=path))
    if path == "/control/command":
        person = sim.person(_need(body, "user", path))
        delivery = person.command(
            body.get("command", "/dr"),
            body.get("text", ""),
            body.get("channel", "dr-ops"),
            wait=wait,
        )
        return {
            **delivery.summary(),
            "trigger_id": delivery.trigger_id,
            "response_url": delivery.response_url,
        }
    if path == "/control/click":
        person = sim.person(_need(body, "user", path))
        clicked = person.click(
            _need(body, "channel", path),
            _need(body, "ts", path),
            action_id=body.get("action_id"),
            number=body.get("number"),
            text=body.get("text"),
            value=body.get("value"),
            confirm=bool(body.get("confirm", True)),
            as_of=body.get("as_of"),
            wait=wait,
        )
        return clicked.summary() if clicked else {"status": "denied"}
    if path == "/control/submit":
        return (
            sim.person(_need(body, "user", path))
            .submit(body.get("values") or {}, wait=wait)
            .summary()
        )
    if path == "/control/close_view":
        closed = sim.person(_need(body, "user", path)).close_view(wait=wait)
        return closed.summary() if closed else {"status": "closed"}
    if path == "/control/home":
        home = sim.person(_need(body, "user", path)).open_home(wait=wait)
        return home.summary() if home else {"status": "not subscribed"}
    if path == "/control/say":
        person = sim.person(_need(body, "user", path))
        message = person.say(
            body.get("channel", "dr-ops"),
            _need(body, "text", path),
            thread_ts=body.get("thread_ts"),
        )
        return {"channel": message.channel, "ts": message.ts}
    if path == "/control/clock/advance":
        if not isinstance(world.clock, ManualClock):
            raise ControlError(400, messages.CONTROL_CLOCK_NOT_MANUAL)
        return {"now": world.clock.advance(float(_need(body, "seconds", path)))}
    if path == "/control/ratelimit":
        world.limiter.force(
            _need(body, "method", path), int(body.get("count", 1)), int(body.get("retry_after", 1))
        )
        return {"ok": True}
    if path == "/control/ratelimit/tier":
        raw_tier = _need(body, "tier", path)
        tier = raw_tier if raw_tier == "special" else int(raw_tier)
        burst = body.get("burst")
        try:
            world.limiter.set_tier(
                tier, float(_need(body, "per_minute", path)), float(burst) if burst else None
            )
        except ValueError as error:
            raise ControlError(400, str(error)) from None
        return {"ok": True}
    if path == "/control/socket/disconnect":
        return {
            "told": sim.socket.disconnect(
                body.get("reason", "refresh_requested")
                if isinstance(body, dict)
                else "refresh_requested",
                body.get("link") if isinstance(body, dict) else None,
            )
        }
    if path == "/control/app":
        if not isinstance(body, dict):
            raise ControlError(400, messages.CONTROL_BAD_JSON)
        sim.configure_delivery(
            socket_mode=body.get("socket_mode"),
            request_url=body.get("request_url"),
            clock_skew=body.get("clock_skew"),
        )
        return {
            "socket_mode": world.workspace.app.socket_mode,
            "request_url": world.workspace.app.request_url,
        }
    if path == "/control/revoke":
        world.revoked_tokens.add(_need(body, "token", path))
        return {"ok": True}
    if path == "/control/outage":
        world.outage = bool(_need(body, "down", path))
        return {"down": world.outage}
    raise ControlError(404, messages.CONTROL_UNKNOWN_ROUTE.format(method=verb, path=path))
