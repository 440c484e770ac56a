"""The workspace: seeds (TOML, JSON, the drbot default) and the read methods over them."""

from __future__ import annotations

import json

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from sim.slack.server import SlackSim
from sim.slack.workspace import SeedError, Workspace


def bot(slack: SlackSim) -> WebClient:
    endpoints = slack.endpoints()
    return WebClient(token=endpoints["bot_token"], base_url=endpoints["api_url"])


def test_default_seed_has_drbots_people_and_channels():
    """The default seed has on-call, two grouped approvers, a viewer, an admin, and the channels."""
    ws = Workspace.load()
    titles = {u.name: u.title for u in ws.users.values() if not u.is_bot}
    assert titles == {
        "olivia": "On-call engineer",
        "alex": "DR approver",
        "priya": "DR approver",
        "victor": "Viewer",
        "ada": "Workspace admin",
    }
    assert ws.group("dr-approvers").users == ["U0APPROV01", "U0APPROV02"]
    assert ws.user("ada").is_admin
    assert {c.name for c in ws.channels.values() if ws.bot_is_member(c)} == {
        "dr-ops",
        "dr-audit",
        "dr-reports",
    }
    assert ws.channel("dr-audit").is_private


def test_json_seed_with_generated_ids(tmp_path):
    """A JSON seed loads, and people and channels without IDs get some."""
    path = tmp_path / "seed.json"
    path.write_text(
        json.dumps(
            {
                "users": [{"name": "sam", "tz": "Europe/Paris"}],
                "channels": [{"name": "ops", "members": ["sam"], "bot_member": True}],
            }
        )
    )
    ws = Workspace.load(path)
    sam = ws.user("sam")
    assert sam.id.startswith("U")
    assert sam.id in ws.channel("#ops").members


@pytest.mark.parametrize(
    ("seed", "says"),
    [
        ({"users": [{"name": "x", "tz": "Mars/Olympus"}]}, "IANA"),
        ({"channels": [{"name": "ops", "members": ["nobody"]}]}, "add them"),
        ({"users": [{"tz": "UTC"}]}, "no 'name'"),
    ],
)
def test_bad_seeds_say_what_to_fix(seed, says):
    """A seed that cannot work is refused with a message saying what to change."""
    with pytest.raises(SeedError, match=says):
        Workspace.load(seed)


def test_missing_seed_file(tmp_path):
    """A seed path that does not exist is a clear SeedError."""
    with pytest.raises(SeedError, match="does not exist"):
        Workspace.load(tmp_path / "nope.toml")


def test_users_carry_time_zones(sim):
    """users.info gives the person's tz, label and offset."""
    user = bot(sim).users_info(user="U0APPROV02")["user"]
    assert (user["name"], user["tz"], user["tz_offset"]) == ("priya", "Asia/Kolkata", 19800)
    assert user["profile"]["title"] == "DR approver"


def test_users_list_pages_with_a_cursor(sim):
    """users.list follows Slack's cursor pagination to the end."""
    client = bot(sim)
    names, cursor = [], None
    while True:
        page = client.users_list(limit=2, cursor=cursor)
        names += [m["name"] for m in page["members"]]
        cursor = page["response_metadata"]["next_cursor"]
        if not cursor:
            break
    assert names == ["olivia", "alex", "priya", "victor", "ada", "drbot"]


def test_channel_members_and_info(sim):
    """conversations.members and conversations.info describe the seeded channel."""
    client = bot(sim)
    members = client.conversations_members(channel="G0DRAUDIT1")["members"]
    assert members == ["U0APPROV01", "U0APPROV02", "U0ADMIN001", "U0DRBOT001"]
    info = client.conversations_info(channel="C0DROPS001")["channel"]
    assert (info["name"], info["is_private"], info["is_member"]) == ("dr-ops", False, True)


def test_user_groups(sim):
    """usergroups.* give the approver group; an unknown group is no_such_subteam."""
    client = bot(sim)
    groups = client.usergroups_list(include_users=True)["usergroups"]
    assert {g["handle"]: g["users"] for g in groups}["dr-approvers"] == ["U0APPROV01", "U0APPROV02"]
    assert client.usergroups_users_list(usergroup="S0APPROVERS")["users"] == [
        "U0APPROV01",
        "U0APPROV02",
    ]
    with pytest.raises(SlackApiError) as failure:
        client.usergroups_users_list(usergroup="S0NOPE")
    assert failure.value.response["error"] == "no_such_subteam"


def test_endpoints_name_everything_a_client_needs(sim):
    """endpoints() gives the API URL, tokens, secret, people, channels and the control URL."""
    endpoints = sim.endpoints()
    assert endpoints["api_url"].endswith("/api/")
    assert endpoints["bot_token"].startswith("xoxb-")
    assert endpoints["app_token"].startswith("xapp-")
    assert endpoints["users"]["olivia"] == "U0ONCALL01"
    assert endpoints["channels"]["dr-reports"] == "C0DRREPORT"
    assert endpoints["control"].endswith("/control")
