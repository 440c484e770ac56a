"""Where the double used to be kinder than Slack: threads named by a reply's ts, response_url
posts threaded by default, reading history back, clicks on an earlier version of a message,
and people without a display name. Expectations come from Slack's documentation
(chat.postMessage's `thread_ts`: "avoid using a reply's ts value; use its parent instead";
conversations.history / conversations.replies: cursor paging, Tier 3, `*:history` scopes,
members only), not from what drbot sends."""

from __future__ import annotations

import json
import tomllib
from importlib import resources
from urllib.request import Request, urlopen

import pytest
from slack_sdk.errors import SlackApiError

from sim.slack.actors import ActorError
from sim.slack.clock import ManualClock
from sim.slack.server import SlackSim
from tests.sim_slack.bolt_app import tiny_png
from tests.sim_slack.conftest import OPS, bot

GENERAL = "C0GENERAL1"  # public, the bot is not a member
APPROVE = {
    "type": "actions",
    "block_id": "decide-1",
    "elements": [
        {
            "type": "button",
            "action_id": "approve",
            "text": {"type": "plain_text", "text": "Approve"},
            "value": "approval-1",
        }
    ],
}


def refused(call, *args, **kwargs) -> str:
    with pytest.raises(SlackApiError) as failure:
        call(*args, **kwargs)
    return failure.value.response["error"]


def seed(scopes: tuple[str, ...] = (), **limits) -> dict:
    data = tomllib.loads(resources.files("sim.slack").joinpath("seeds", "default.toml").read_text())
    data["app"]["scopes"] = [*data["app"]["scopes"], *scopes]
    data["limits"].update(limits)
    return data


@pytest.fixture
def reader():
    """A workspace whose app may read history (channels:history, groups:history), with room
    for bursts of posts in one channel, on a clock the test moves."""
    clock = ManualClock()
    slack = SlackSim.start(
        seed=seed(("channels:history", "groups:history"), per_channel_burst=500), clock=clock
    )
    yield slack
    slack.stop()


def thread_with_reply(slack: SlackSim) -> tuple[str, str]:
    client = bot(slack)
    parent = client.chat_postMessage(channel=OPS, text="Failover plan")["ts"]
    reply = client.chat_postMessage(channel=OPS, text="approved by alex", thread_ts=parent)["ts"]
    return parent, reply


# ---- thread_ts of a reply ------------------------------------------------------------------


def test_post_message_refuses_a_reply_ts_as_thread_ts_and_records_it(sim):
    """chat.postMessage with a reply's ts as thread_ts fails (invalid_thread_ts), posts
    nothing, and the record shows an error naming the reply and its parent."""
    parent, reply = thread_with_reply(sim)
    before = len(sim.world.conversations.thread(OPS, parent))
    assert refused(bot(sim).chat_postMessage, channel=OPS, text="x", thread_ts=reply) == (
        "invalid_thread_ts"
    )
    assert len(sim.world.conversations.thread(OPS, parent)) == before
    error = sim.record.entries(kind="error")[-1]
    assert error.detail == {
        "error": "invalid_thread_ts",
        "reply_ts": reply,
        "parent_ts": parent,
    }
    assert sim.calls("chat.postMessage")[-1].error == "invalid_thread_ts"


def test_post_message_to_the_parent_ts_threads_the_reply(sim):
    """The parent's ts as thread_ts puts the reply in that thread."""
    parent, _ = thread_with_reply(sim)
    posted = bot(sim).chat_postMessage(channel=OPS, text="progress", thread_ts=parent)
    assert posted["message"]["thread_ts"] == parent


def test_ephemeral_refuses_a_reply_ts_as_thread_ts(sim):
    """chat.postEphemeral with a reply's ts as thread_ts fails visibly too."""
    _, reply = thread_with_reply(sim)
    error = refused(
        bot(sim).chat_postEphemeral, channel=OPS, user="U0ONCALL01", text="x", thread_ts=reply
    )
    assert error == "invalid_thread_ts"
    assert sim.record.entries(kind="error")[-1].detail["reply_ts"] == reply


def test_file_upload_refuses_a_reply_ts_as_thread_ts(sim):
    """files.completeUploadExternal with a reply's ts as thread_ts fails; the file is shared
    nowhere."""
    _, reply = thread_with_reply(sim)
    error = refused(
        bot(sim).files_upload_v2,
        channel=OPS,
        thread_ts=reply,
        content=tiny_png(),
        filename="rto.png",
    )
    assert error == "invalid_thread_ts"
    assert sim.record.entries(kind="file") == []
    assert sim.record.entries(kind="error")[-1].detail["error"] == "invalid_thread_ts"


def test_unknown_thread_ts_is_invalid(sim):
    """A thread_ts that names no message of the channel is invalid_thread_ts."""
    assert refused(bot(sim).chat_postMessage, channel=OPS, text="x", thread_ts="1.000001") == (
        "invalid_thread_ts"
    )


# ---- response_url threading ----------------------------------------------------------------


def _post_to(url: str, body: dict) -> int:
    request = Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urlopen(request, timeout=5) as answer:
            return answer.status
    except Exception as failure:  # urllib raises HTTPError for 4xx
        return getattr(failure, "code", 0)


def _click_in_thread(sim, raw_app) -> tuple[str, str, str]:
    """alex clicks a button on a reply in a thread; (parent, reply, response_url)."""
    client = bot(sim)
    parent = client.chat_postMessage(channel=OPS, text="Failover plan")["ts"]
    reply = client.chat_postMessage(
        channel=OPS, text="approve?", blocks=[APPROVE], thread_ts=parent
    )["ts"]
    sim.person("alex").click(OPS, reply, action_id="approve")
    payload = raw_app.envelopes()[-1]["payload"]
    assert payload["container"]["thread_ts"] == parent
    return parent, reply, payload["response_url"]


def test_response_url_post_without_thread_ts_is_not_threaded(sim, raw_app):
    """A response_url message from a click inside a thread, without thread_ts, appears in
    the channel, not in the thread."""
    parent, _, url = _click_in_thread(sim, raw_app)
    assert _post_to(url, {"text": "noted", "response_type": "in_channel"}) == 200
    posted = sim.record.entries(kind=("message", "thread_reply"))[-1]
    assert posted.text == "noted"
    assert posted.kind == "message"
    assert posted.thread_ts is None
    assert "noted" not in [m.text for m in sim.world.conversations.thread(OPS, parent)]


def test_response_url_post_with_the_parent_ts_is_threaded(sim, raw_app):
    """A response_url message with thread_ts set to the parent goes into that thread."""
    parent, _, url = _click_in_thread(sim, raw_app)
    assert _post_to(url, {"text": "noted", "response_type": "in_channel", "thread_ts": parent})
    assert sim.world.conversations.thread(OPS, parent)[-1].text == "noted"


def test_response_url_post_with_a_reply_ts_fails(sim, raw_app):
    """A response_url message naming a reply as thread_ts fails and is recorded."""
    _, reply, url = _click_in_thread(sim, raw_app)
    status = _post_to(url, {"text": "noted", "response_type": "in_channel", "thread_ts": reply})
    assert status >= 400
    assert sim.record.entries(kind="error")[-1].detail["reply_ts"] == reply


# ---- conversations.history and conversations.replies ---------------------------------------


def test_history_pages_newest_first_with_cursors(reader):
    """conversations.history returns the channel newest first in pages of `limit`, with
    has_more and an opaque next_cursor until the last page (whose cursor is empty)."""
    client = bot(reader)
    posted = [client.chat_postMessage(channel=OPS, text=f"m{n}")["ts"] for n in range(7)]
    seen, cursor, pages = [], None, 0
    while True:
        page = client.conversations_history(channel=OPS, limit=3, cursor=cursor)
        pages += 1
        seen += [m["ts"] for m in page["messages"]]
        cursor = page["response_metadata"]["next_cursor"]
        assert page["has_more"] is bool(cursor)
        if not page["has_more"]:
            break
    assert pages == 3
    assert seen == list(reversed(posted))


def test_history_shows_what_the_channel_shows(reader):
    """Thread replies are not in history unless broadcast; a parent counts its replies."""
    client = bot(reader)
    parent = client.chat_postMessage(channel=OPS, text="plan")["ts"]
    client.chat_postMessage(channel=OPS, text="quiet", thread_ts=parent)
    client.chat_postMessage(channel=OPS, text="loud", thread_ts=parent, reply_broadcast=True)
    messages = client.conversations_history(channel=OPS)["messages"]
    assert [m["text"] for m in messages] == ["loud", "plan"]
    assert messages[1]["reply_count"] == 2


def test_history_oldest_and_latest_bound_the_range(reader):
    """oldest/latest are exclusive unless inclusive is set."""
    client = bot(reader)
    ts = [client.chat_postMessage(channel=OPS, text=f"m{n}")["ts"] for n in range(4)]
    between = client.conversations_history(channel=OPS, oldest=ts[0], latest=ts[3])
    assert [m["ts"] for m in between["messages"]] == [ts[2], ts[1]]
    inclusive = client.conversations_history(
        channel=OPS, oldest=ts[0], latest=ts[3], inclusive=True
    )
    assert len(inclusive["messages"]) == 4


def test_replies_page_parent_first_then_replies_oldest_first(reader):
    """conversations.replies gives the parent then its replies oldest first, in pages; a
    reply's ts names the same thread; the parent counts toward the first page's limit."""
    client = bot(reader)
    parent = client.chat_postMessage(channel=OPS, text="plan")["ts"]
    replies = [
        client.chat_postMessage(channel=OPS, text=f"r{n}", thread_ts=parent)["ts"] for n in range(5)
    ]
    first = client.conversations_replies(channel=OPS, ts=parent, limit=3)
    assert [m["ts"] for m in first["messages"]] == [parent, *replies[:2]]
    assert first["has_more"] is True
    rest = client.conversations_replies(
        channel=OPS, ts=parent, limit=3, cursor=first["response_metadata"]["next_cursor"]
    )
    assert [m["ts"] for m in rest["messages"]] == replies[2:]
    assert rest["has_more"] is False
    assert rest["response_metadata"]["next_cursor"] == ""
    by_reply = client.conversations_replies(channel=OPS, ts=replies[3], limit=100)
    assert [m["ts"] for m in by_reply["messages"]] == [parent, *replies]


def test_reading_refusals(reader, sim):
    """Unknown thread: thread_not_found; a channel the bot is not in: not_in_channel; a bad
    cursor: invalid_cursor; without a *:history scope: missing_scope."""
    client = bot(reader)
    assert refused(client.conversations_replies, channel=OPS, ts="1.000001") == "thread_not_found"
    assert refused(client.conversations_history, channel=GENERAL) == "not_in_channel"
    assert refused(client.conversations_history, channel=OPS, cursor="nope") == "invalid_cursor"
    assert refused(bot(sim).conversations_history, channel=OPS) == "missing_scope"


def test_history_is_tier_3(reader):
    """conversations.history answers 429 with Retry-After past Tier 3's 50 a minute, and
    again once the minute's budget refills."""
    client = bot(reader)
    for _ in range(50):
        client.conversations_history(channel=OPS, limit=1)
    with pytest.raises(SlackApiError) as failure:
        client.conversations_history(channel=OPS, limit=1)
    assert failure.value.response.status_code == 429
    assert int(failure.value.response.headers["Retry-After"]) >= 1
    reader.world.clock.advance(2)
    assert client.conversations_history(channel=OPS, limit=1)["ok"]


# ---- a stale screen --------------------------------------------------------------------------


def test_click_on_an_earlier_version_reaches_the_app(sim, raw_app):
    """After the app removed the buttons, a person whose screen still shows the earlier
    version can click it: the app gets the old action and the old blocks in `message`."""
    client = bot(sim)
    ts = client.chat_postMessage(channel=OPS, text="plan", blocks=[APPROVE])["ts"]
    first = sim.record.entries(kind="message")[-1]
    client.chat_update(
        channel=OPS,
        ts=ts,
        text="approved",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "approved"}}],
    )
    with pytest.raises(ActorError):
        sim.person("priya").click(OPS, ts, action_id="approve")
    delivery = sim.person("priya").click(OPS, ts, action_id="approve", as_of=first.seq)
    assert delivery.status == "acked"
    payload = raw_app.envelopes()[-1]["payload"]
    assert payload["actions"][0]["value"] == "approval-1"
    assert payload["message"]["ts"] == ts
    assert payload["message"]["text"] == "plan"
    assert payload["message"]["blocks"][0]["block_id"] == "decide-1"


def test_click_as_of_a_record_entry_of_another_message_is_refused(sim, raw_app):
    """as_of must name a version of the clicked message."""
    client = bot(sim)
    ts = client.chat_postMessage(channel=OPS, text="plan", blocks=[APPROVE])["ts"]
    client.chat_postMessage(channel=OPS, text="other")
    other = sim.record.entries(kind="message")[-1]
    with pytest.raises(ActorError, match="not a version"):
        sim.person("priya").click(OPS, ts, action_id="approve", as_of=other.seq)


# ---- people without a display name ---------------------------------------------------------


def test_some_people_have_no_display_name(sim):
    """Like many real workspaces, some seeded people left profile.display_name empty while
    real_name is set; others set one."""
    client = bot(sim)
    priya = client.users_info(user="U0APPROV02")["user"]
    assert priya["profile"]["display_name"] == ""
    assert priya["profile"]["real_name"] == "Priya Patel"
    alex = client.users_info(user="U0APPROV01")["user"]
    assert alex["profile"]["display_name"] == "Alex A."
