"""Slack's rules on the Web API, each answered with Slack's own error name, through an
unchanged slack_sdk WebClient."""

from __future__ import annotations

import tomllib
from importlib import resources

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.webhook import WebhookClient

from sim.slack.clock import ManualClock
from sim.slack.server import SlackSim
from tests.sim_slack.conftest import OPS, RawSocketApp

GENERAL = "C0GENERAL1"  # public, the bot is not a member
LEADERSHIP = "G0PRIVATE1"  # private, the bot is not a member
AUDIT = "G0DRAUDIT1"  # private, the bot is a member


def bot(slack: SlackSim) -> WebClient:
    endpoints = slack.endpoints()
    return WebClient(token=endpoints["bot_token"], base_url=endpoints["api_url"])


def refused(call, *args, **kwargs) -> SlackApiError:
    with pytest.raises(SlackApiError) as failure:
        call(*args, **kwargs)
    return failure.value


def default_seed(**app_changes) -> dict:
    text = resources.files("sim.slack").joinpath("seeds", "default.toml").read_text()
    seed = tomllib.loads(text)
    seed["app"].update(app_changes)
    return seed


@pytest.fixture
def narrow_sim():
    """A workspace whose app lacks chat:write.public, users:read and groups:read."""
    scopes = ["commands", "chat:write", "files:write", "channels:read", "usergroups:read"]
    slack = SlackSim.start(seed=default_seed(scopes=scopes))
    yield slack
    slack.stop()


def test_no_token_is_not_authed(sim):
    """A call without a token answers not_authed."""
    client = WebClient(base_url=sim.endpoints()["api_url"])
    assert refused(client.chat_postMessage, channel=OPS, text="x").response["error"] == "not_authed"


def test_unknown_token_is_invalid_auth(sim):
    """A token the workspace never issued answers invalid_auth."""
    client = WebClient(token="xoxb-not-ours", base_url=sim.endpoints()["api_url"])
    assert refused(client.auth_test).response["error"] == "invalid_auth"


def test_revoked_token(sim):
    """A revoked token answers token_revoked."""
    sim.world.revoked_tokens.add(sim.endpoints()["bot_token"])
    assert refused(bot(sim).auth_test).response["error"] == "token_revoked"


def test_wrong_token_type(sim):
    """The app-level token cannot post; the bot token cannot open Socket Mode connections."""
    endpoints = sim.endpoints()
    app_client = WebClient(token=endpoints["app_token"], base_url=endpoints["api_url"])
    error = refused(app_client.chat_postMessage, channel=OPS, text="x")
    assert error.response["error"] == "not_allowed_token_type"
    error = refused(bot(sim).apps_connections_open, app_token=endpoints["bot_token"])
    assert error.response["error"] == "not_allowed_token_type"


def test_auth_test_names_the_bot(sim):
    """auth.test with the bot token names the bot user, bot and team."""
    answer = bot(sim).auth_test()
    assert (answer["user_id"], answer["bot_id"], answer["team_id"]) == (
        "U0DRBOT001",
        "B0DRBOT001",
        "T0DRSIM001",
    )


def test_unknown_channel_and_hidden_private_channel(sim):
    """Unknown channels and private channels the bot is not in are both channel_not_found."""
    client = bot(sim)
    assert (
        refused(client.chat_postMessage, channel="C0NOPE", text="x").response["error"]
        == "channel_not_found"
    )
    assert (
        refused(client.chat_postMessage, channel=LEADERSHIP, text="x").response["error"]
        == "channel_not_found"
    )
    assert (
        refused(client.conversations_info, channel=LEADERSHIP).response["error"]
        == "channel_not_found"
    )
    assert client.chat_postMessage(channel=AUDIT, text="audit line")["channel"] == AUDIT


def test_posting_outside_membership_needs_chat_write_public(sim, narrow_sim):
    """Without chat:write.public the bot gets not_in_channel in a public channel it is not in."""
    error = refused(bot(narrow_sim).chat_postMessage, channel=GENERAL, text="x")
    assert error.response["error"] == "not_in_channel"
    assert bot(sim).chat_postMessage(channel=GENERAL, text="x")["ok"] is True


def test_upload_outside_membership_is_not_in_channel(sim):
    """Uploads need membership even with chat:write.public: not_in_channel."""
    error = refused(
        bot(sim).files_upload_v2, channel=GENERAL, content=b"\x89PNG\r\n\x1a\n", filename="a.png"
    )
    assert error.response["error"] == "not_in_channel"


def test_missing_scope_names_what_is_needed(narrow_sim):
    """A method without its scope answers missing_scope with needed and provided."""
    client = bot(narrow_sim)
    error = refused(client.users_info, user="U0ONCALL01")
    assert (error.response["error"], error.response["needed"]) == ("missing_scope", "users:read")
    assert "chat:write" in error.response["provided"].split(",")
    assert refused(client.conversations_info, channel=AUDIT).response["needed"] == "groups:read"


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        ([{"type": "divider"}] * 51, "/blocks"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "x" * 2001}]}],
            "/blocks/0/fields/0/text",
        ),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}],
            "/blocks/0/text/text",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {
                            "type": "button",
                            "action_id": "a" * 256,
                            "text": {"type": "plain_text", "text": "Go"},
                        }
                    ],
                }
            ],
            "/blocks/0/elements/0/action_id",
        ),
        (
            [
                {
                    "type": "actions",
                    "elements": [
                        {"type": "button", "text": {"type": "plain_text", "text": "x" * 76}}
                    ],
                }
            ],
            "/blocks/0/elements/0/text/text",
        ),
        ([{"type": "carousel"}], "/blocks/0/type"),
    ],
)
def test_block_kit_limits_are_invalid_blocks(sim, blocks, pointer):
    """Blocks beyond Slack's limits answer invalid_blocks with a JSON pointer to the problem."""
    error = refused(bot(sim).chat_postMessage, channel=OPS, text="x", blocks=blocks)
    assert error.response["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in e for e in error.response["errors"])


def test_fifty_blocks_are_fine(sim):
    """Exactly 50 blocks is within the limit."""
    assert (
        bot(sim).chat_postMessage(channel=OPS, text="x", blocks=[{"type": "divider"}] * 50)["ok"]
        is True
    )


def test_text_limits(sim):
    """Text over 4 000 characters is msg_too_long (post or update); no text at all is no_text."""
    client = bot(sim)
    ts = client.chat_postMessage(channel=OPS, text="x" * 4_000)["ts"]
    assert (
        refused(client.chat_postMessage, channel=OPS, text="x" * 4_001).response["error"]
        == "msg_too_long"
    )
    assert (
        refused(client.chat_update, channel=OPS, ts=ts, text="x" * 4_001).response["error"]
        == "msg_too_long"
    )
    no_text = refused(client.api_call, "chat.postMessage", json={"channel": OPS})
    assert no_text.response["error"] == "no_text"


def test_cannot_update_or_delete_messages_of_others(sim):
    """Editing or deleting a person's message: cant_update_message, cant_delete_message."""
    theirs = sim.person("olivia").say("dr-ops", "hello")
    client = bot(sim)
    assert (
        refused(client.chat_update, channel=OPS, ts=theirs.ts, text="y").response["error"]
        == "cant_update_message"
    )
    assert (
        refused(client.chat_delete, channel=OPS, ts=theirs.ts).response["error"]
        == "cant_delete_message"
    )
    assert (
        refused(client.chat_update, channel=OPS, ts="1.000001", text="y").response["error"]
        == "message_not_found"
    )


def test_threads_and_broadcast(sim):
    """Replies join the root's thread, reply_broadcast shows in channel, bad roots are refused."""
    client = bot(sim)
    root = client.chat_postMessage(channel=OPS, text="root")["ts"]
    client.chat_postMessage(channel=OPS, thread_ts=root, text="quiet")
    client.chat_postMessage(channel=OPS, thread_ts=root, text="loud", reply_broadcast=True)
    history = [m.text for m in sim.world.conversations.history(OPS)]
    assert history == ["root", "loud"]
    assert [m.text for m in sim.world.conversations.thread(OPS, root)] == ["root", "quiet", "loud"]
    assert sim.world.conversations.get(OPS, root).reply_count == 2
    assert refused(client.chat_postMessage, channel=OPS, thread_ts="9.000009", text="x").response[
        "error"
    ] == ("invalid_thread_ts")


def test_ephemeral_needs_the_user_in_the_channel(sim):
    """chat.postEphemeral to someone outside the channel answers user_not_in_channel."""
    client = bot(sim)
    assert client.chat_postEphemeral(channel=AUDIT, user="U0APPROV01", text="psst")["message_ts"]
    error = refused(client.chat_postEphemeral, channel=AUDIT, user="U0ONCALL01", text="psst")
    assert error.response["error"] == "user_not_in_channel"


def test_form_and_json_bodies_are_both_accepted(sim):
    """A method takes a form body, a JSON body, and a token in a form field or a bearer header."""
    client = bot(sim)
    form = client.api_call("chat.postMessage", data={"channel": OPS, "text": "form"})
    as_json = client.api_call("chat.postMessage", json={"channel": OPS, "text": "json"})
    by_field = WebClient(base_url=sim.endpoints()["api_url"]).api_call(
        "chat.postMessage",
        params={"token": sim.endpoints()["bot_token"], "channel": OPS, "text": "field"},
    )
    assert [form["ok"], as_json["ok"], by_field["ok"]] == [True, True, True]
    assert [e.text for e in sim.record.entries(kind="message")] == ["form", "json", "field"]


def test_unknown_method(sim):
    """A method Slack does not have answers unknown_method."""
    assert refused(bot(sim).api_call, "chat.teleport").response["error"] == "unknown_method"


def test_user_groups_need_a_paid_plan():
    """On a free plan usergroups.* answer plan_upgrade_required."""
    seed = default_seed()
    seed["team"]["plan"] = "free"
    slack = SlackSim.start(seed=seed)
    try:
        error = refused(bot(slack).usergroups_users_list, usergroup="S0APPROVERS")
        assert error.response["error"] == "plan_upgrade_required"
    finally:
        slack.stop()


def test_posting_faster_than_a_message_a_second_is_ratelimited(manual_sim, clock: ManualClock):
    """A burst past ~1 message/s in one channel is HTTP 429 with Retry-After and ratelimited."""
    client = bot(manual_sim)
    for n in range(5):
        client.chat_postMessage(channel=OPS, text=f"{n}")
    error = refused(client.chat_postMessage, channel=OPS, text="too fast")
    assert (error.response.status_code, error.response["error"]) == (429, "ratelimited")
    assert error.response.headers["Retry-After"] == "1"
    assert client.chat_postMessage(channel="C0DRREPORT", text="other channel")["ok"] is True
    clock.advance(1.0)
    assert client.chat_postMessage(channel=OPS, text="later")["ok"] is True


def test_chat_update_is_tier_3(manual_sim, clock: ManualClock):
    """chat.update passes 50 calls in a burst and the 51st is 429 until time refills the tier."""
    client = bot(manual_sim)
    ts = client.chat_postMessage(channel=OPS, text="progress")["ts"]
    for n in range(50):
        client.chat_update(channel=OPS, ts=ts, text=f"{n}%")
    error = refused(client.chat_update, channel=OPS, ts=ts, text="51")
    assert (error.response.status_code, error.response.headers["Retry-After"]) == (429, "2")
    clock.advance(2)
    assert client.chat_update(channel=OPS, ts=ts, text="done")["ok"] is True


@pytest.fixture
def acking_app(manual_sim):
    app = RawSocketApp(manual_sim)
    app.wait_frames(1)
    yield app
    app.close()


MODAL = {"type": "modal", "title": {"type": "plain_text", "text": "Hi"}, "blocks": []}


def test_trigger_id_expires_after_three_seconds(manual_sim, clock: ManualClock, acking_app):
    """views.open with a trigger_id older than 3 s answers expired_trigger_id."""
    trigger = manual_sim.person("olivia").command("/dr", "modal").trigger_id
    clock.advance(3.1)
    assert refused(bot(manual_sim).views_open, trigger_id=trigger, view=MODAL).response[
        "error"
    ] == ("expired_trigger_id")


def test_trigger_id_is_used_once(manual_sim, acking_app):
    """A trigger_id opens one modal: reuse is exchanged_trigger_id, unknown invalid_trigger_id."""
    client = bot(manual_sim)
    trigger = manual_sim.person("olivia").command("/dr", "modal").trigger_id
    view = client.views_open(trigger_id=trigger, view=MODAL)["view"]
    assert view["id"].startswith("V")
    assert (
        refused(client.views_open, trigger_id=trigger, view=MODAL).response["error"]
        == "exchanged_trigger_id"
    )
    assert (
        refused(client.views_open, trigger_id="1.2.3", view=MODAL).response["error"]
        == "invalid_trigger_id"
    )


def test_view_limits_and_hash(manual_sim, acking_app):
    """Views past 100 blocks or 24-char titles: invalid_arguments; a stale hash: hash_conflict."""
    client = bot(manual_sim)
    olivia = manual_sim.person("olivia")
    big = {**MODAL, "blocks": [{"type": "divider"}] * 101}
    error = refused(client.views_open, trigger_id=olivia.command("/dr").trigger_id, view=big)
    assert error.response["error"] == "invalid_arguments"
    long_title = {**MODAL, "title": {"type": "plain_text", "text": "x" * 25}}
    error = refused(client.views_open, trigger_id=olivia.command("/dr").trigger_id, view=long_title)
    assert error.response["error"] == "invalid_arguments"
    view = client.views_open(trigger_id=olivia.command("/dr").trigger_id, view=MODAL)["view"]
    client.views_update(
        view_id=view["id"], hash=view["hash"], view={**MODAL, "blocks": [{"type": "divider"}]}
    )
    error = refused(client.views_update, view_id=view["id"], hash=view["hash"], view=MODAL)
    assert error.response["error"] == "hash_conflict"
    assert [b["type"] for b in olivia.view()["blocks"]] == ["divider"]


def test_views_push_stops_at_three(manual_sim, acking_app):
    """A modal stack holds three views; a fourth push answers push_limit_reached."""
    client = bot(manual_sim)
    olivia = manual_sim.person("olivia")
    client.views_open(trigger_id=olivia.command("/dr").trigger_id, view=MODAL)
    for _ in range(2):
        client.views_push(trigger_id=olivia.command("/dr").trigger_id, view=MODAL)
    error = refused(client.views_push, trigger_id=olivia.command("/dr").trigger_id, view=MODAL)
    assert error.response["error"] == "push_limit_reached"


def test_response_url_takes_five_uses(manual_sim, acking_app):
    """A response_url works five times; the sixth answers used_url."""
    url = manual_sim.person("olivia").command("/dr", "status").response_url
    hook = WebhookClient(url)
    statuses = [hook.send(text=f"reply {n}").status_code for n in range(6)]
    assert statuses == [200] * 5 + [404]
    assert len(manual_sim.record.entries(kind="ephemeral")) == 5
    assert hook.send(text="again").body == '{"ok": false, "error": "used_url"}'


def test_response_url_expires_after_thirty_minutes(manual_sim, clock: ManualClock, acking_app):
    """A response_url used after 30 minutes answers expired_url."""
    url = manual_sim.person("olivia").command("/dr", "status").response_url
    clock.advance(30 * 60 + 1)
    answer = WebhookClient(url).send(text="too late", response_type="in_channel")
    assert (answer.status_code, answer.body) == (404, '{"ok": false, "error": "expired_url"}')


def test_app_token_needs_connections_write():
    """apps.connections.open with an app token lacking connections:write is missing_scope."""
    slack = SlackSim.start(seed=default_seed(app_token_scopes=[]))
    try:
        endpoints = slack.endpoints()
        client = WebClient(base_url=endpoints["api_url"])
        error = refused(client.apps_connections_open, app_token=endpoints["app_token"])
        assert (error.response["error"], error.response["needed"]) == (
            "missing_scope",
            "connections:write",
        )
    finally:
        slack.stop()


def test_permalinks_and_direct_messages(sim):
    """chat.getPermalink links a message; conversations.open needs im:write and gives the DM."""
    client = bot(sim)
    ts = client.chat_postMessage(channel=OPS, text="plan")["ts"]
    link = client.chat_getPermalink(channel=OPS, message_ts=ts)["permalink"]
    assert link == f"https://dr-sim.slack.com/archives/{OPS}/p{ts.replace('.', '')}"
    error = refused(client.conversations_open, users="U0ONCALL01")
    assert (error.response["error"], error.response["needed"]) == ("missing_scope", "im:write")
    scoped = SlackSim.start(seed=default_seed(scopes=["chat:write", "im:write"]))
    try:
        dm = bot(scoped).conversations_open(users="U0ONCALL01")["channel"]["id"]
        assert bot(scoped).chat_postMessage(channel=dm, text="hi")["channel"] == dm
    finally:
        scoped.stop()


def test_message_ts_are_unique_and_increasing_on_a_still_clock(manual_sim):
    """Messages posted while the clock stands still still get distinct, increasing ts."""
    client = bot(manual_sim)
    stamps = [client.chat_postMessage(channel=OPS, text=str(n))["ts"] for n in range(3)]
    assert len(set(stamps)) == 3
    assert stamps == sorted(stamps, key=float)
    assert all(len(ts.split(".")[1]) == 6 for ts in stamps)


def raw_post(slack: SlackSim, method: str, token: str | None, **form) -> tuple[int, dict, dict]:
    """POST a form to the Web API with urllib: (HTTP status, headers, JSON body)."""
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(
        slack.endpoints()["api_url"] + method,
        data=urllib.parse.urlencode(form).encode(),
        headers=headers,
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, dict(answer.headers), json.loads(answer.read())
    except urllib.error.HTTPError as answer:
        return answer.code, dict(answer.headers), json.loads(answer.read())


def test_refusals_are_http_200_except_ratelimited(sim):
    """Every ok:false answer is HTTP 200 JSON; only ratelimited is 429 (with Retry-After)."""
    endpoints = sim.endpoints()
    token, app_token = endpoints["bot_token"], endpoints["app_token"]
    cases = [
        ("chat.postMessage", None, {"channel": OPS, "text": "x"}, "not_authed"),
        ("chat.postMessage", "Bearer", {"channel": OPS, "text": "x"}, "invalid_auth"),
        ("chat.postMessage", app_token, {"channel": OPS, "text": "x"}, "not_allowed_token_type"),
        ("conversations.open", token, {"users": "U0ONCALL01"}, "missing_scope"),
        ("chat.postMessage", token, {"channel": "C0NOPE", "text": "x"}, "channel_not_found"),
        (
            "chat.postMessage",
            token,
            {"channel": OPS, "blocks": '[{"type": "x"}]'},
            "invalid_blocks",
        ),
        ("users.info", token, {"user": "U0NOBODY"}, "user_not_found"),
        ("files.getUploadURLExternal", token, {"filename": "a.png"}, "invalid_arguments"),
        ("chat.teleport", token, {}, "unknown_method"),
    ]
    for method, auth, form, error in cases:
        status, headers, body = raw_post(sim, method, auth, **form)
        assert (status, body["ok"], body["error"]) == (200, False, error), method
        assert headers["Content-Type"].startswith("application/json")
    sim.world.limiter.force("auth.test", retry_after=4)
    status, headers, body = raw_post(sim, "auth.test", token)
    assert (status, headers["Retry-After"], body) == (
        429,
        "4",
        {"ok": False, "error": "ratelimited"},
    )


def test_invalid_blocks_answer_has_errors_and_messages(sim):
    """invalid_blocks lists errors, and response_metadata.messages repeats them with [ERROR]."""
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    answer = refused(bot(sim).chat_postMessage, channel=OPS, text="x", blocks=blocks).response
    assert answer["errors"] == [
        "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
    ]
    assert answer["response_metadata"]["messages"] == [f"[ERROR] {e}" for e in answer["errors"]]


@pytest.mark.parametrize(
    ("block", "pointer"),
    [
        ({"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}, "/text/text"),
        (
            {"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11},
            "/fields",
        ),
        ({"type": "divider", "block_id": "b" * 256}, "/block_id"),
        (
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "text": {"type": "plain_text", "text": "Go"},
                        "value": "v" * 2001,
                    }
                ],
            },
            "/elements/0/value",
        ),
    ],
)
def test_more_block_kit_limits(sim, block, pointer):
    """Header 150, 10 fields, block_id 255 and button value 2000 are each invalid_blocks."""
    error = refused(bot(sim).chat_postMessage, channel=OPS, text="x", blocks=[block])
    assert error.response["error"] == "invalid_blocks"
    assert any(e.endswith(f"[json-pointer:/blocks/0{pointer}]") for e in error.response["errors"])


def test_home_tab_takes_a_hundred_blocks(sim):
    """views.publish takes 100 blocks and refuses 101 with invalid_arguments and a pointer."""
    client = bot(sim)
    home = {"type": "home", "blocks": [{"type": "divider"}] * 100}
    assert client.views_publish(user_id="U0VIEWER01", view=home)["ok"] is True
    error = refused(
        client.views_publish, user_id="U0VIEWER01", view={**home, "blocks": home["blocks"] * 2}
    )
    assert error.response["error"] == "invalid_arguments"
    assert error.response["response_metadata"]["messages"][-1] == (
        "[ERROR] no more than 100 items allowed [json-pointer:/view/blocks]"
    )


def test_user_groups_are_tier_2(manual_sim, clock: ManualClock):
    """usergroups.users.list passes 20 calls in a burst; the 21st is 429 for 3 s (20 a minute)."""
    client = bot(manual_sim)
    for _ in range(20):
        assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == [
            "U0APPROV01",
            "U0APPROV02",
        ]
    error = refused(client.usergroups_users_list, usergroup="S0APPROVERS")
    assert (error.response.status_code, error.response.headers["Retry-After"]) == (429, "3")
    clock.advance(3)
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["ok"] is True


def test_call_log_keeps_what_the_app_sent(sim):
    """Every Web API request is kept with its arguments (no token) and its answer."""
    client = bot(sim)
    client.chat_postMessage(channel=OPS, text="hello")
    refused(client.chat_postMessage, channel="C0NOPE", text="x")
    posts = sim.calls("chat.postMessage")
    assert [(c.args["channel"], c.status, c.error) for c in posts] == [
        (OPS, 200, None),
        ("C0NOPE", 200, "channel_not_found"),
    ]
    assert all("token" not in c.args for c in sim.calls())


def test_blocks_too_big_together_are_msg_blocks_too_long(sim):
    """Blocks each within limits but past ~12 000 characters together: msg_blocks_too_long."""
    section = {"type": "section", "text": {"type": "mrkdwn", "text": "x" * 2900}}
    client = bot(sim)
    assert client.chat_postMessage(channel=OPS, text="x", blocks=[section] * 4)["ok"] is True
    error = refused(client.chat_postMessage, channel=OPS, text="x", blocks=[section] * 5)
    assert error.response["error"] == "msg_blocks_too_long"


def test_update_keeps_blocks_it_is_not_given(sim):
    """chat.update with text only keeps the blocks; with blocks it replaces them."""
    client = bot(sim)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "step 1"}}]
    ts = client.chat_postMessage(channel=OPS, text="run", blocks=blocks)["ts"]
    kept = client.chat_update(channel=OPS, ts=ts, text="run (50%)")["message"]
    assert (kept["text"], kept["blocks"][0]["text"]["text"]) == ("run (50%)", "step 1")
    replaced = client.chat_update(channel=OPS, ts=ts, text="r", blocks=[{"type": "divider"}])[
        "message"
    ]
    assert [b["type"] for b in replaced["blocks"]] == ["divider"]


def test_rate_tiers_follow_the_reference():
    """Each method's tier is the one reference §5 gives."""
    from sim.slack.methods import METHODS

    tiers = {
        "chat.postMessage": "special",
        "chat.update": 3,
        "chat.postEphemeral": 4,
        "files.getUploadURLExternal": 4,
        "files.completeUploadExternal": 4,
        "usergroups.users.list": 2,
        "users.info": 4,
        "views.open": 4,
        "views.update": 4,
        "views.push": 4,
        "views.publish": 4,
        "apps.connections.open": 1,
        "auth.test": "special",
    }
    assert {name: METHODS[name].tier for name in tiers} == tiers
    assert all(not METHODS[n].scopes for n in ("views.open", "views.push", "views.publish"))


def test_only_posting_takes_channel_names(sim):
    """chat.postMessage takes '#dr-ops'; uploads and conversations.info want the channel ID."""
    client = bot(sim)
    assert client.chat_postMessage(channel="#dr-ops", text="by name")["channel"] == OPS
    error = refused(client.files_upload_v2, channel="dr-ops", content=b"x", filename="a.txt")
    assert error.response["error"] == "channel_not_found"
    assert refused(client.conversations_info, channel="dr-ops").response["error"] == (
        "channel_not_found"
    )
