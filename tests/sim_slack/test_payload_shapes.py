"""What reaches the app, field by field, against reference slack.md §1.1 (slash commands),
§2.1 (block_actions), §2.4 (view_submission, App Home) and §4.2 (Socket Mode frames), read
off the WebSocket by a bare client so no SDK hides a detail."""

from __future__ import annotations

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from sim.slack.server import SlackSim
from tests.sim_slack.conftest import OPS, RawSocketApp, wait_until

AUDIT = "G0DRAUDIT1"
COMMAND_FIELDS = {
    "token",
    "team_id",
    "team_domain",
    "channel_id",
    "channel_name",
    "user_id",
    "user_name",
    "command",
    "text",
    "api_app_id",
    "is_enterprise_install",
    "response_url",
    "trigger_id",
}
BUTTONS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "Plan R7"}},
    {
        "type": "actions",
        "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "Approve"}, "value": "R7"},
            {
                "type": "button",
                "action_id": "reject",
                "text": {"type": "plain_text", "text": "Reject"},
            },
        ],
    },
]
MODAL = {
    "type": "modal",
    "callback_id": "reason",
    "title": {"type": "plain_text", "text": "Why?"},
    "submit": {"type": "plain_text", "text": "Go"},
    "private_metadata": "R7",
    "blocks": [
        {
            "type": "input",
            "block_id": "why",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        }
    ],
}


@pytest.fixture
def app(sim: SlackSim):
    raw = RawSocketApp(sim)
    raw.wait_frames(1)
    yield raw
    raw.close()


def bot(sim: SlackSim) -> WebClient:
    return WebClient(token=sim.endpoints()["bot_token"], base_url=sim.endpoints()["api_url"])


def last_envelope(app: RawSocketApp) -> dict:
    return app.envelopes()[-1]


def test_hello_names_connections_and_debug_info(sim, app):
    """hello carries num_connections, debug_info (host, build, connection time) and the app."""
    hello = app.frames[0]
    assert hello["type"] == "hello"
    assert hello["num_connections"] == 1
    assert set(hello["debug_info"]) == {"host", "build_number", "approximate_connection_time"}
    assert hello["connection_info"] == {"app_id": sim.endpoints()["app_id"]}


def test_slash_command_envelope_and_fields(sim, app):
    """A command's envelope accepts a response payload and carries §1.1's fields, as strings."""
    sim.person("olivia").command("/dr", "status now", channel="dr-ops")
    envelope = last_envelope(app)
    assert set(envelope) == {"envelope_id", "type", "accepts_response_payload", "payload"}
    assert (envelope["type"], envelope["accepts_response_payload"]) == ("slash_commands", True)
    payload = envelope["payload"]
    assert set(payload) == COMMAND_FIELDS
    assert all(isinstance(v, str) for v in payload.values())
    assert (payload["command"], payload["text"], payload["channel_name"]) == (
        "/dr",
        "status now",
        "dr-ops",
    )
    assert payload["is_enterprise_install"] == "false"


def test_private_channel_shows_as_privategroup(sim, app):
    """Commands and clicks in a private channel name it 'privategroup', as Slack does."""
    alex = sim.person("alex")
    alex.command("/dr", "status", channel="dr-audit")
    assert last_envelope(app)["payload"]["channel_name"] == "privategroup"
    ts = bot(sim).chat_postMessage(channel=AUDIT, text="plan", blocks=BUTTONS)["ts"]
    alex.click("dr-audit", ts, number=1)
    assert last_envelope(app)["payload"]["channel"] == {"id": AUDIT, "name": "privategroup"}


def test_block_actions_payload(sim, app):
    """A click sends §2.1's payload: container, message, response_url, trigger_id, state, action."""
    posted = bot(sim).chat_postMessage(channel=OPS, text="Plan R7", blocks=BUTTONS)
    stored = posted["message"]["blocks"]
    assert all(b["block_id"] for b in stored)
    assert stored[1]["elements"][0]["action_id"]  # generated, as Slack does
    clicked = sim.person("alex").click("dr-ops", posted["ts"], number=1)
    envelope = last_envelope(app)
    assert (envelope["type"], envelope["accepts_response_payload"]) == ("interactive", False)
    payload = envelope["payload"]
    assert payload["type"] == "block_actions"
    assert payload["user"] == {
        "id": "U0APPROV01",
        "username": "alex",
        "name": "alex",
        "team_id": "T0DRSIM001",
    }
    assert payload["container"] == {
        "type": "message",
        "message_ts": posted["ts"],
        "channel_id": OPS,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": OPS, "name": "dr-ops"}
    assert payload["message"]["ts"] == posted["ts"]
    assert payload["message"]["blocks"] == stored
    assert payload["state"] == {"values": {}}
    assert payload["response_url"] == clicked.response_url
    assert payload["trigger_id"] == clicked.trigger_id
    (action,) = payload["actions"]
    assert action["block_id"] == stored[1]["block_id"]
    assert action["action_id"] == stored[1]["elements"][0]["action_id"]
    assert (action["type"], action["value"], action["text"]["text"]) == ("button", "R7", "Approve")
    seconds, micros = action["action_ts"].split(".")
    assert abs(int(seconds) - sim.world.now()) < 60
    assert len(micros) == 6


def test_click_on_an_ephemeral_message(sim, app):
    """An ephemeral's click has no message copy; its response_url can replace then delete it."""
    ts = bot(sim).chat_postEphemeral(channel=OPS, user="U0ONCALL01", text="x", blocks=BUTTONS)[
        "message_ts"
    ]
    clicked = sim.person("olivia").click("dr-ops", ts, action_id="reject")
    payload = last_envelope(app)["payload"]
    assert payload["container"]["is_ephemeral"] is True
    assert "message" not in payload
    hook = WebhookClient(clicked.response_url)
    assert hook.send(replace_original=True, text="Rejected").status_code == 200
    edit = sim.record.entries(kind="edit")[-1]
    assert (edit.ts, edit.text, edit.to_user) == (ts, "Rejected", "U0ONCALL01")
    assert hook.send(delete_original=True).status_code == 200
    assert sim.record.entries(kind="delete")[-1].ts == ts
    assert "Rejected" not in sim.person("olivia").screen("dr-ops")


def test_response_url_of_a_button_deletes_or_posts_in_channel(sim, app):
    """A button's response_url deletes the message holding it, or posts in_channel for all."""
    client = bot(sim)
    ts = client.chat_postMessage(channel=OPS, text="Plan", blocks=BUTTONS)["ts"]
    url = sim.person("alex").click("dr-ops", ts, number=1).response_url
    WebhookClient(url).send(text="Alex approved", response_type="in_channel")
    shown = sim.record.entries(kind="message")[-1]
    assert (shown.text, shown.to_user, shown.user) == ("Alex approved", None, "U0DRBOT001")
    WebhookClient(url).send(text="only you", replace_original=False)
    assert sim.record.entries(kind="ephemeral")[-1].to_user == "U0APPROV01"
    WebhookClient(url).send(delete_original=True)
    assert sim.world.conversations.get(OPS, ts) is None
    assert "Plan" not in sim.person("victor").screen("dr-ops")


def test_view_submission_payload(sim, app):
    """A submission accepts a response payload and carries the view with its state values."""
    olivia = sim.person("olivia")
    opened = bot(sim).views_open(trigger_id=olivia.command("/dr").trigger_id, view=MODAL)["view"]
    olivia.submit({"why": {"text": "array lost"}})
    envelope = last_envelope(app)
    assert (envelope["type"], envelope["accepts_response_payload"]) == ("interactive", True)
    payload = envelope["payload"]
    assert payload["type"] == "view_submission"
    assert payload["user"]["id"] == olivia.id
    assert payload["trigger_id"]
    assert payload["response_urls"] == []
    view = payload["view"]
    assert (view["id"], view["callback_id"], view["private_metadata"]) == (
        opened["id"],
        "reason",
        "R7",
    )
    assert view["state"]["values"] == {
        "why": {"text": {"type": "plain_text_input", "value": "array lost"}}
    }
    assert view["root_view_id"] == opened["id"]


def test_app_home_opened_event(sim, app):
    """Opening App Home sends an events_api envelope with retry fields and the event callback."""
    sim.person("victor").open_home()
    envelope = last_envelope(app)
    assert (envelope["type"], envelope["accepts_response_payload"]) == ("events_api", False)
    assert (envelope["retry_attempt"], envelope["retry_reason"]) == (0, "")
    payload = envelope["payload"]
    assert payload["type"] == "event_callback"
    assert (payload["team_id"], payload["api_app_id"]) == ("T0DRSIM001", "A0DRBOT001")
    assert payload["event_id"].startswith("Ev")
    event = payload["event"]
    assert (event["type"], event["user"], event["tab"]) == (
        "app_home_opened",
        "U0VIEWER01",
        "home",
    )
    assert event["channel"].startswith("D")
    assert "view" not in event  # nothing published yet
    assert payload["authorizations"][0]["user_id"] == "U0DRBOT001"


def test_turning_socket_mode_off_is_link_disabled(sim, app):
    """Disabling Socket Mode tells connections link_disabled and hangs up on them."""
    sim.configure_delivery(socket_mode=False)
    assert app.wait_frames(2)[1]["type"] == "disconnect"
    assert app.frames[1]["reason"] == "link_disabled"
    wait_until(lambda: sim.socket.links() == [])


def test_response_url_works_where_the_bot_is_not(sim, app):
    """In a private channel without the bot, a command's response_url answers; posting cannot."""
    url = sim.person("ada").command("/dr", "status", channel="leadership").response_url
    assert WebhookClient(url).send(text="Only you see this").status_code == 200
    shown = sim.record.entries(kind="ephemeral")[-1]
    assert (shown.channel, shown.to_user) == ("G0PRIVATE1", "U0ADMIN001")
    with pytest.raises(SlackApiError) as refused:
        bot(sim).chat_postMessage(channel="G0PRIVATE1", text="x")
    assert refused.value.response["error"] == "channel_not_found"


def test_two_clicks_on_a_still_clock_have_distinct_action_ts(manual_sim):
    """Double clicks while the clock stands still still carry different action_ts."""
    raw = RawSocketApp(manual_sim)
    raw.wait_frames(1)
    ts = bot(manual_sim).chat_postMessage(channel=OPS, text="x", blocks=BUTTONS)["ts"]
    alex = manual_sim.person("alex")
    alex.click("dr-ops", ts, number=1)
    alex.click("dr-ops", ts, number=1)
    stamps = [e["payload"]["actions"][0]["action_ts"] for e in raw.envelopes()]
    assert len(set(stamps)) == 2
    raw.close()
