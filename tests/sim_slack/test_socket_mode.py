"""The test Bolt app against the double in Socket Mode, through slack_bolt's built-in
SocketModeHandler, unchanged."""

from __future__ import annotations

import json

import pytest

from sim.slack.clock import ManualClock
from sim.slack.handles import Deadlines
from sim.slack.server import SlackSim
from tests.sim_slack.conftest import (
    OPS,
    RawSocketApp,
    close_socket_mode,
    connect_socket_mode,
    wait_until,
)

BOT = "U0DRBOT001"


def bot_posted(entry) -> bool:
    return entry.kind == "message" and entry.user == BOT


def test_command_is_acked_and_answered(sim, socket_app):
    """A command's ack is an ephemeral for its author; its response_url reply is in the channel."""
    olivia, alex = sim.person("olivia"), sim.person("alex")
    delivery = olivia.command("/dr", "status", channel="dr-ops")
    assert delivery.status == "acked"
    assert delivery.ack["text"] == "Working on `status`..."
    answer = sim.record.wait_for(lambda e: bot_posted(e) and e.text == "All pools ready")
    assert answer.channel == OPS
    ephemeral = sim.record.entries(kind="ephemeral")[0]
    assert ephemeral.to_user == olivia.id
    assert "Working on" not in alex.screen("dr-ops")
    assert "Working on" in olivia.screen("dr-ops")


def test_button_click_updates_message_and_replies_in_thread(sim, socket_app):
    """Clicking Approve (confirming its dialog) edits the plan message and adds a thread reply."""
    sim.person("olivia").command("/dr", "failover")
    plan = sim.record.wait_for(bot_posted)
    alex = sim.person("alex")
    assert [b.text for b in alex.buttons("dr-ops", plan.ts)] == ["Approve", "Reject"]
    delivery = alex.click("dr-ops", plan.ts, number=1)
    assert delivery.status == "acked"
    reply = sim.record.wait_for(lambda e: e.kind == "thread_reply", since=plan.seq)
    assert reply.thread_ts == plan.ts
    edit = sim.record.entries(kind="edit", channel=OPS)[0]
    assert edit.ts == plan.ts
    assert "Approved by <@U0APPROV01>" in edit.blocks[0]["text"]["text"]
    assert "[1]" not in alex.screen("dr-ops")
    confirm = sim.record.entries(kind="confirm")[0]
    assert confirm.detail == {
        "title": "Approve failover?",
        "confirmed": True,
        "action_id": "approve",
    }
    thread = alex.screen("dr-ops", thread_ts=plan.ts)
    assert "Approval by @alex" in thread


def test_denied_confirm_dialog_sends_nothing(sim, socket_app):
    """Pressing Cancel in a confirm dialog leaves the message alone and the app hears nothing."""
    sim.person("olivia").command("/dr", "failover")
    plan = sim.record.wait_for(bot_posted)
    delivered = len(sim.dispatcher.log)
    assert sim.person("alex").click("dr-ops", plan.ts, action_id="approve", confirm=False) is None
    assert len(sim.dispatcher.log) == delivered
    assert sim.record.entries(kind="edit") == []


def test_response_url_replaces_the_clicked_message(sim, socket_app):
    """respond(replace_original=True) replaces the whole message holding the button."""
    sim.person("olivia").command("/dr", "failover")
    plan = sim.record.wait_for(bot_posted)
    sim.person("priya").click("dr-ops", plan.ts, action_id="reject")
    edit = sim.record.wait_for(lambda e: e.kind == "edit")
    assert (edit.ts, edit.text, edit.blocks) == (plan.ts, "Rejected", None)
    assert sim.person("priya").buttons("dr-ops", plan.ts) == []


def test_modal_validates_then_closes(sim, socket_app):
    """A modal from a command shows the app's validation errors, then closes on a good submit."""
    olivia = sim.person("olivia")
    olivia.command("/dr", "modal")
    sim.record.wait_for(lambda e: e.kind == "view_opened")
    assert olivia.view()["callback_id"] == "reason"
    short = olivia.submit({"why": {"text": "no"}})
    assert short.ack == {"response_action": "errors", "errors": {"why": "Say a little more"}}
    assert sim.record.entries(kind="view_errors")[0].detail["errors"] == {
        "why": "Say a little more"
    }
    assert olivia.view() is not None
    olivia.submit({"text": "storage array lost"})
    assert olivia.view() is None
    posted = sim.record.wait_for(lambda e: bot_posted(e) and "storage array lost" in e.text)
    assert posted.text == "Reason from <@U0ONCALL01>: storage array lost"


def test_png_upload_through_files_upload_v2(sim, socket_app):
    """files_upload_v2 runs its three steps against the double and the PNG lands in the thread."""
    sim.person("olivia").command("/dr", "upload")
    shared = sim.record.wait_for(lambda e: e.kind == "file")
    root = sim.record.entries(kind="message", channel=OPS)[-1]
    assert shared.thread_ts == root.ts
    stored = sim.world.files[shared.files[0]]
    assert stored.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert stored.to_api(sim.world.base_url, "T")["mimetype"] == "image/png"
    assert stored.title == "RTO"
    (complete,) = sim.calls("files.completeUploadExternal")
    assert (complete.args["channel_id"], complete.args["thread_ts"]) == (OPS, root.ts)
    assert [c.method for c in sim.calls()][-3:] == [
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


def test_app_home_is_published(sim, socket_app):
    """Opening App Home sends app_home_opened; the published Home tab is what the person sees."""
    victor = sim.person("victor")
    assert victor.open_home().status == "acked"
    sim.record.wait_for(lambda e: e.kind == "home_published" and e.to_user == victor.id)
    assert victor.home()["blocks"][0]["text"]["text"] == "*DR status*: ready"


def test_reconnects_after_refresh_requested(sim, socket_app):
    """After a refresh_requested disconnect, Bolt opens a new connection and envelopes go there."""
    assert sim.socket.disconnect("refresh_requested") == 1
    wait_until(
        lambda: (
            sim.socket.opened == 2 and [link["draining"] for link in sim.socket.links()] == [False]
        )
    )
    delivery = sim.person("olivia").command("/dr", "status")
    assert delivery.status == "acked"
    assert delivery.route == "socket:2"


def test_unacked_command_shows_operation_timeout(manual_sim, clock: ManualClock):
    """A command not acked in 3 s shows operation_timeout; a late ack changes nothing."""
    app = RawSocketApp(manual_sim, ack=False)
    app.wait_frames(1)
    delivery = manual_sim.person("olivia").command("/dr", "status", wait=False)
    envelope = app.wait_frames(2)[1]
    assert envelope["type"] == "slash_commands"
    assert envelope["accepts_response_payload"] is True
    clock.advance(2.9)
    assert delivery.status == "pending"
    clock.advance(0.2)
    assert delivery.wait(1).error == "operation_timeout"
    shown = manual_sim.record.entries(kind="error")[0]
    assert shown.text == '/dr failed with the error "operation_timeout"'
    app.connection.send(
        json.dumps({"envelope_id": envelope["envelope_id"], "payload": {"text": "late"}})
    )
    assert manual_sim.record.entries(kind="ephemeral") == []
    app.close()


def test_command_with_no_connection_is_dispatch_failed(sim):
    """With Socket Mode on and no app connected, the user sees dispatch_failed."""
    delivery = sim.person("olivia").command("/dr", "status")
    assert delivery.error == "dispatch_failed"
    assert sim.record.entries(kind="error")[0].text == '/dr failed with the error "dispatch_failed"'


def test_unacked_event_is_retried_with_retry_attempt(manual_sim, clock: ManualClock):
    """An unacked events_api envelope comes again with retry_attempt 1, 2, 3 (reason timeout)."""
    app = RawSocketApp(manual_sim, ack=False)
    app.wait_frames(1)
    manual_sim.person("victor").open_home(wait=False)
    first = app.wait_frames(2)[1]
    assert (first["type"], first["retry_attempt"], first["accepts_response_payload"]) == (
        "events_api",
        0,
        False,
    )
    clock.advance(3.1)
    assert app.wait_frames(3)[2]["retry_attempt"] == 1
    clock.advance(3.1 + 60)
    assert app.wait_frames(4)[3]["retry_attempt"] == 2
    clock.advance(3.1 + 300)
    retries = app.wait_frames(5)[1:]
    assert [(f["retry_attempt"], f["retry_reason"]) for f in retries] == [
        (0, ""),
        (1, "timeout"),
        (2, "timeout"),
        (3, "timeout"),
    ]
    assert len({f["payload"]["event_id"] for f in retries}) == 1
    app.close()


def test_ten_connections_share_envelopes_and_an_eleventh_is_refused(sim: SlackSim):
    """Ten connections get hello and one envelope each; an eleventh is told too_many_websockets."""
    apps = [RawSocketApp(sim) for _ in range(10)]
    hellos = [app.wait_frames(1)[0] for app in apps]
    assert [h["type"] for h in hellos] == ["hello"] * 10
    assert hellos[-1]["num_connections"] == 10
    extra = RawSocketApp(sim)
    assert extra.wait_frames(1)[0] == {
        "type": "disconnect",
        "reason": "too_many_websockets",
        "debug_info": {"host": "sim"},
    }
    for _ in range(10):
        assert sim.person("olivia").command("/dr", "status").status == "acked"
    assert sorted(len(app.envelopes()) for app in apps) == [1] * 10
    for app in [*apps, extra]:
        app.close()


def test_rate_limited_post_is_retried_by_the_sdk(sim):
    """A 429 on chat.postMessage is retried by slack_sdk's RateLimitErrorRetryHandler."""
    handler = connect_socket_mode(sim, retries=2)
    client = handler.app.client
    for n in range(6):
        client.chat_postMessage(channel=OPS, text=f"line {n}")
    assert [e.text for e in sim.record.entries(kind="message")] == [f"line {n}" for n in range(6)]
    assert sim.world.limiter.refusals == [("chat.postMessage", OPS)]
    close_socket_mode(sim, handler)


def test_a_socket_url_is_good_for_one_connection(sim: SlackSim):
    """The URL from apps.connections.open works once; a second connection with it is refused."""
    from slack_sdk import WebClient
    from websockets.exceptions import InvalidStatus
    from websockets.sync.client import connect

    endpoints = sim.endpoints()
    url = WebClient(base_url=endpoints["api_url"]).apps_connections_open(
        app_token=endpoints["app_token"]
    )["url"]
    with connect(url) as first:
        assert json.loads(first.recv(timeout=5))["type"] == "hello"
        with pytest.raises(InvalidStatus) as refused, connect(url):
            pass
        assert refused.value.response.status_code == 401


def test_connections_are_refreshed_periodically():
    """With a refresh period, Slack warns before it; Bolt reconnects and the old link is closed."""
    clock = ManualClock()
    slack = SlackSim.start(clock=clock, deadlines=Deadlines(socket_refresh=3600))
    handler = connect_socket_mode(slack)
    try:
        clock.advance(3590)
        wait_until(
            lambda: slack.socket.opened == 2 and [x["id"] for x in slack.socket.links()] == [2]
        )
        delivery = slack.person("olivia").command("/dr", "status")
        assert (delivery.status, delivery.route) == ("acked", "socket:2")
    finally:
        close_socket_mode(slack, handler)
        slack.stop()


def test_a_client_ignoring_the_warning_is_asked_to_refresh():
    """Ignoring the warning brings refresh_requested; the link then serves 10 s and is closed."""
    clock = ManualClock()
    slack = SlackSim.start(clock=clock, deadlines=Deadlines(socket_refresh=3600))
    app = RawSocketApp(slack)
    try:
        app.wait_frames(1)
        clock.advance(3590)
        assert app.wait_frames(2)[1]["reason"] == "warning"
        clock.advance(10)
        assert app.wait_frames(3)[2]["reason"] == "refresh_requested"
        # with no replacement yet, the old connection still carries envelopes ...
        assert slack.person("olivia").command("/dr").status == "acked"
        clock.advance(10)  # ... until Slack hangs up on it
        wait_until(lambda: slack.socket.links() == [])
        assert slack.person("olivia").command("/dr").error == "dispatch_failed"
    finally:
        app.close()
        slack.stop()
