"""The control endpoint: acting as people and reading what they see over HTTP + JSON."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError


def call(sim, verb: str, path: str, body: dict | None = None) -> tuple[int, object]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        sim.endpoints()["control"] + path,
        data=data,
        method=verb,
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_routes_are_listed(sim):
    """GET /control lists the routes."""
    status, routes = call(sim, "GET", "")
    assert status == 200
    assert "POST /control/command" in routes


def test_say_then_screen_and_record(sim):
    """A message said through the control endpoint shows on the screen and in the record."""
    status, posted = call(
        sim, "POST", "/say", {"user": "alex", "channel": "dr-ops", "text": "on it"}
    )
    assert status == 200
    _, screen = call(sim, "GET", "/screen?user=victor&channel=dr-ops")
    assert f"alex {posted['ts']}\n  on it" in screen["text"]
    _, record = call(sim, "GET", "/record?channel=dr-ops")
    assert [(e["kind"], e["user"], e["text"]) for e in record] == [
        ("message", "U0APPROV01", "on it")
    ]


def test_command_without_an_app_reports_dispatch_failed(sim):
    """A command typed through the control endpoint with no app connected ends dispatch_failed."""
    status, answer = call(sim, "POST", "/command", {"user": "olivia", "text": "status"})
    assert (status, answer["status"], answer["error"]) == (200, "failed", "dispatch_failed")
    _, record = call(sim, "GET", "/record?user=olivia&kind=error")
    assert record[0]["text"] == '/dr failed with the error "dispatch_failed"'


def test_forced_rate_limit(sim):
    """POST /control/ratelimit makes the next call of a method answer 429."""
    call(sim, "POST", "/ratelimit", {"method": "auth.test", "count": 1, "retry_after": 7})
    client = WebClient(token=sim.endpoints()["bot_token"], base_url=sim.endpoints()["api_url"])
    with pytest.raises(SlackApiError) as failure:
        client.auth_test()
    assert failure.value.response.headers["Retry-After"] == "7"
    assert client.auth_test()["ok"] is True


def test_an_outage_answers_503_to_every_call_until_it_is_over(sim):
    """POST /control/outage {"down": true}: every Web API call answers HTTP 503
    service_unavailable (and is recorded so) until {"down": false}."""
    assert call(sim, "POST", "/outage", {"down": True}) == (200, {"down": True})
    client = WebClient(token=sim.endpoints()["bot_token"], base_url=sim.endpoints()["api_url"])
    with pytest.raises(SlackApiError) as failure:
        client.chat_postMessage(channel="C0DROPS001", text="x")
    assert failure.value.response.status_code == 503
    assert failure.value.response["error"] == "service_unavailable"
    assert sim.world.conversations.history("C0DROPS001") == []
    assert [(c.method, c.status) for c in sim.calls()] == [("chat.postMessage", 503)]
    call(sim, "POST", "/outage", {"down": False})
    assert client.chat_postMessage(channel="C0DROPS001", text="x")["ok"] is True


def test_refusals_say_what_to_do(sim):
    """Bad requests get a 4xx and a message: unknown route, field, person; a wall clock."""
    assert call(sim, "GET", "/nope")[0] == 404
    status, answer = call(sim, "POST", "/say", {"channel": "dr-ops"})
    assert (status, answer["error"]) == (400, "Field 'user' is required for /control/say.")
    status, answer = call(sim, "POST", "/say", {"user": "zed", "text": "x"})
    assert status == 400
    assert answer["error"].startswith("No user 'zed'")
    status, answer = call(sim, "POST", "/clock/advance", {"seconds": 5})
    assert status == 400
    assert "ManualClock" in answer["error"]


def test_clock_moves_on_a_manual_sim(manual_sim, clock):
    """On a ManualClock sim, POST /control/clock/advance moves time."""
    before = clock.now()
    status, answer = call(manual_sim, "POST", "/clock/advance", {"seconds": 30})
    assert status == 200
    assert answer["now"] == pytest.approx(before + 30)


def test_calls_are_listed(sim):
    """GET /control/calls?method= lists the app's Web API requests with their answers."""
    client = WebClient(token=sim.endpoints()["bot_token"], base_url=sim.endpoints()["api_url"])
    client.chat_postMessage(channel="C0DROPS001", text="hi")
    status, calls = call(sim, "GET", "/calls?method=chat.postMessage")
    assert status == 200
    assert [(c["method"], c["args"]["text"], c["error"]) for c in calls] == [
        ("chat.postMessage", "hi", None)
    ]


def test_a_smaller_tier_is_429_sooner_and_the_call_log_keeps_retry_after(manual_sim, clock):
    """Tier 3 made 6 a minute: the 7th chat.update is 429 with Retry-After 10 s (one call
    every 10 s), kept in the call log; tier 4 is untouched; 10 s later a call passes."""
    endpoints = manual_sim.endpoints()
    client = WebClient(token=endpoints["bot_token"], base_url=endpoints["api_url"])
    status, _ = call(manual_sim, "POST", "/ratelimit/tier", {"tier": 3, "per_minute": 6})
    assert status == 200
    ts = client.chat_postMessage(channel="C0DROPS001", text="progress")["ts"]
    for n in range(6):
        client.chat_update(channel="C0DROPS001", ts=ts, text=f"{n}%")
    with pytest.raises(SlackApiError) as failure:
        client.chat_update(channel="C0DROPS001", ts=ts, text="7")
    assert failure.value.response.headers["Retry-After"] == "10"
    assert manual_sim.calls("chat.update")[-1].retry_after == 10
    assert client.chat_postEphemeral(channel="C0DROPS001", user="U0ONCALL01", text="t4")["ok"]
    clock.advance(10)
    assert client.chat_update(channel="C0DROPS001", ts=ts, text="done")["ok"] is True


def test_a_bad_tier_is_refused_with_what_to_send(sim):
    """An unknown tier or a rate of zero is a 400 naming the tiers and what a rate must be."""
    for body in ({"tier": 9, "per_minute": 5}, {"tier": 3, "per_minute": 0}):
        status, answer = call(sim, "POST", "/ratelimit/tier", body)
        assert status == 400
        assert "positive number" in answer["error"]
