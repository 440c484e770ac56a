"""HTTP mode refuses what Slack did not sign: a bad, stale or missing signature gets 401 and
reaches no listener; Slack's own signed deliveries are served."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlencode

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.demo import DemoWorld, demo_world
from tests.bot.conftest import SPEED, bot_said

OLIVIA = "U0ONCALL01"


@pytest.fixture
def http_world(tmp_path: Path) -> Iterator[DemoWorld]:
    with demo_world(tmp_path / "w", scenario="mini", speed=SPEED, mode="http") as w:
        yield w


def post(url: str, body: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        url,
        data=body.encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status
    except urllib.error.HTTPError as refused:
        return refused.code


def command_body(world: DemoWorld) -> str:
    return urlencode(
        {
            "command": "/dr",
            "text": "help",
            "user_id": OLIVIA,
            "user_name": "olivia",
            "channel_id": "C0DROPS001",
            "team_id": world.slack.workspace.team_id,
            "trigger_id": "1.2.3",
            "response_url": world.slack.endpoints()["api_url"] + "x",
        }
    )


def test_signed_deliveries_are_served(http_world):
    """A command the Slack double signs and POSTs is answered."""
    since = http_world.command("olivia", "help")
    bot_said(http_world, since, kind="ephemeral", to=OLIVIA)


def test_bad_missing_and_stale_signatures_are_refused(http_world):
    """A wrong signature, no signature, or a timestamp 6 minutes old: 401, no answer."""
    url = http_world.serving.url
    assert url is not None
    secret = http_world.slack.endpoints()["signing_secret"]
    body = command_body(http_world)
    now = str(int(time.time()))
    stale = str(int(time.time()) - 360)
    verifier = SignatureVerifier(secret)
    good = verifier.generate_signature(timestamp=now, body=body)
    since = http_world.slack.record.last_seq()
    assert (
        post(url, body, {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": "v0=" + "0" * 64})
        == 401
    )
    assert post(url, body, {}) == 401
    assert (
        post(
            url,
            body,
            {
                "X-Slack-Request-Timestamp": stale,
                "X-Slack-Signature": verifier.generate_signature(timestamp=stale, body=body),
            },
        )
        == 401
    )
    assert (
        post(url, body + "&x=1", {"X-Slack-Request-Timestamp": now, "X-Slack-Signature": good})
        == 401
    )
    http_world.serving.bot.worker.wait_idle()
    assert [
        e for e in http_world.slack.record.entries(since=since) if e.user == http_world.bot_user
    ] == []


def test_the_double_signing_in_the_past_is_refused(http_world):
    """When Slack's signing clock is 301 s off, the command fails and the bot does nothing."""
    http_world.slack.configure_delivery(clock_skew=-301)
    delivery = http_world.slack.person("olivia").command("/dr", "help")
    assert delivery.status == "failed"
    assert delivery.attempts[0]["http_status"] == 401
