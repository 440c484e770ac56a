"""Acting as people beyond the Bolt flows: views closed, Home buttons, DMs, refusals."""

from __future__ import annotations

import json

import pytest

from sim.slack.actors import ActorError
from tests.sim_slack.conftest import OPS, RawSocketApp, bot

HOME = {
    "type": "home",
    "blocks": [
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "refresh",
                    "text": {"type": "plain_text", "text": "Refresh"},
                }
            ],
        }
    ],
}
MODAL = {
    "type": "modal",
    "title": {"type": "plain_text", "text": "Hi"},
    "notify_on_close": True,
    "callback_id": "hi",
    "blocks": [],
}


@pytest.fixture
def app(raw_app: RawSocketApp) -> RawSocketApp:
    return raw_app


def test_button_on_the_home_tab_sends_a_view_container(sim, app):
    """A click on the Home tab sends block_actions with a view container and the view."""
    bot(sim).views_publish(user_id="U0VIEWER01", view=HOME)
    delivery = sim.person("victor").click_in_view(sim.world.homes["U0VIEWER01"], number=1)
    payload = app.envelopes()[-1]["payload"]
    assert delivery.status == "acked"
    assert payload["container"] == {"type": "view", "view_id": sim.world.homes["U0VIEWER01"]}
    assert payload["actions"][0]["action_id"] == "refresh"
    assert payload["view"]["type"] == "home"


def test_closing_a_modal_notifies_the_app_only_when_asked(sim, app):
    """Cancel on a modal with notify_on_close sends view_closed and removes the modal."""
    olivia = sim.person("olivia")
    bot(sim).views_open(trigger_id=olivia.command("/dr").trigger_id, view=MODAL)
    assert olivia.close_view().status == "acked"
    assert app.envelopes()[-1]["payload"]["type"] == "view_closed"
    assert olivia.view() is None
    assert sim.record.entries(kind="view_closed")[0].to_user == olivia.id


def test_direct_messages_with_the_app(sim, app):
    """A command in the DM reports channel_name directmessage; the bot can post there by user ID."""
    olivia = sim.person("olivia")
    olivia.command("/dr", "status", channel=None)
    assert app.envelopes()[-1]["payload"]["channel_name"] == "directmessage"
    posted = bot(sim).chat_postMessage(channel=olivia.id, text="your run finished")
    assert posted["channel"].startswith("D")
    assert "your run finished" in olivia.screen(None)


def test_people_can_only_act_where_they_can(sim, app):
    """Acting outside one's channels, on missing buttons or unknown commands is refused clearly."""
    victor = sim.person("victor")
    with pytest.raises(ActorError, match="not a member of #dr-audit"):
        victor.command("/dr", "status", channel="dr-audit")
    with pytest.raises(ActorError, match="not defined by the app"):
        victor.command("/deploy")
    ts = bot(sim).chat_postMessage(channel=OPS, text="no buttons")["ts"]
    with pytest.raises(ActorError, match="has no button"):
        victor.click("dr-ops", ts, action_id="approve")
    with pytest.raises(ActorError, match="No user 'mallory'"):
        sim.person("mallory")


def test_in_channel_ack_echoes_the_command(sim):
    """An in_channel ack shows the typed command from the person, then the app's answer to all."""
    raw = RawSocketApp(sim, ack=False)
    raw.wait_frames(1)
    delivery = sim.person("alex").command("/dr", "status", wait=False)
    envelope = raw.wait_frames(2)[1]
    raw.connection.send(
        json.dumps(
            {
                "envelope_id": envelope["envelope_id"],
                "payload": {"response_type": "in_channel", "text": "ready"},
            }
        )
    )
    delivery.wait()
    shown = [(e.user, e.text) for e in sim.record.entries(channel=OPS, kind="message")]
    assert shown == [("U0APPROV01", "/dr status"), ("U0DRBOT001", "ready")]
    raw.close()


def test_invalid_blocks_in_an_ack_show_the_author_an_error(sim):
    """An ack whose blocks break Slack's limits is not shown; its author sees invalid_blocks."""
    raw = RawSocketApp(sim, ack=False)
    raw.wait_frames(1)
    delivery = sim.person("olivia").command("/dr", "status", wait=False)
    envelope = raw.wait_frames(2)[1]
    blocks = [{"type": "divider"}] * 51
    raw.connection.send(
        json.dumps({"envelope_id": envelope["envelope_id"], "payload": {"blocks": blocks}})
    )
    delivery.wait()
    assert sim.record.entries(kind="ephemeral") == []
    assert sim.record.entries(kind="error")[0].text == '/dr failed with the error "invalid_blocks"'
    raw.close()


def test_seed_limits_change_the_channel_rate(tmp_path):
    """A seed's [limits] sets the per-channel burst of chat.postMessage."""
    from sim.slack.server import SlackSim

    seed = tmp_path / "seed.toml"
    seed.write_text(
        '[limits]\nper_channel_burst = 2\n[[channels]]\nname = "ops"\nbot_member = true\n'
        '[app]\nscopes = ["chat:write"]\n'
    )
    slack = SlackSim.start(seed=seed)
    try:
        client = bot(slack)
        channel = slack.endpoints()["channels"]["ops"]
        client.chat_postMessage(channel=channel, text="1")
        client.chat_postMessage(channel=channel, text="2")
        assert slack.world.limiter.refusals == []
        with pytest.raises(Exception, match="ratelimited"):
            client.chat_postMessage(channel=channel, text="3")
    finally:
        slack.stop()
        slack.stop()


def test_a_bad_response_action_keeps_the_modal(sim):
    """An ack pushing a fourth view or updating to an invalid one leaves the modal as it was."""
    raw = RawSocketApp(sim, ack=False)
    raw.wait_frames(1)
    olivia = sim.person("olivia")

    def answered(act, payload: dict | None = None):
        """Do `act` as olivia and ack its envelope (with `payload`), like an app would."""
        seen = len(raw.frames)
        delivery = act()
        frame = raw.wait_frames(seen + 1)[seen]
        raw.connection.send(json.dumps({"envelope_id": frame["envelope_id"], "payload": payload}))
        return delivery.wait()

    client = bot(sim)
    client.views_open(
        trigger_id=answered(lambda: olivia.command("/dr", wait=False)).trigger_id, view=MODAL
    )
    for _ in range(2):
        trigger = answered(lambda: olivia.command("/dr", wait=False)).trigger_id
        client.views_push(trigger_id=trigger, view=MODAL)
    top = olivia.view()["id"]
    too_big = {**MODAL, "blocks": [{"type": "divider"}] * 101}
    for ack in (
        {"response_action": "push", "view": MODAL},
        {"response_action": "update", "view": too_big},
    ):
        answered(lambda: olivia.submit(wait=False), ack)
        assert olivia.view()["id"] == top
    errors = [e.detail["error"] for e in sim.record.entries(kind="view_errors")]
    assert errors == ["push_limit_reached", "invalid_arguments"]
    raw.close()
