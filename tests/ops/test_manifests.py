"""deploy/'s Slack app manifests follow Slack's manifest rules (its published JSON Schema),
ask for every scope the code's Web API calls and events need and nothing else, and say how to
use `/dr` with commands the parser knows."""

from __future__ import annotations

import ast
import inspect
import json
import re
from pathlib import Path

import jsonschema
import pytest
import yaml
from slack_sdk import WebClient

from bot.slack.config import HttpListen
from commands.parse import GRAMMAR

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
SOCKET = DEPLOY / "slack-app-manifest.yaml"
HTTP = DEPLOY / "slack-app-manifest.http.yaml"
SCHEMA = json.loads(
    (Path(__file__).parent / "data" / "slack-manifest.schema.1.0.0.json").read_text()
)

# Bot scopes each Web API method needs, from Slack's method pages (reference/slack.md §3.5 and
# §5; api.slack.com/methods/<name>). A method the code calls that is missing here fails the
# test: look its scope up and add it.
METHOD_SCOPES: dict[str, set[str]] = {
    "chat.postMessage": {"chat:write"},
    "chat.update": {"chat:write"},
    "chat.postEphemeral": {"chat:write"},
    "chat.delete": {"chat:write"},
    "files.getUploadURLExternal": {"files:write"},
    "files.completeUploadExternal": {"files:write"},
    "users.info": {"users:read"},
    "usergroups.users.list": {"usergroups:read"},
    # conversations.info: channels:read for public channels, groups:read for private ones (the
    # audit channel is usually private)
    "conversations.info": {"channels:read", "groups:read"},
    "views.open": set(),
    "views.update": set(),
    "views.push": set(),
    "views.publish": set(),
    "auth.test": set(),
    "apps.connections.open": set(),  # the app-level token's connections:write, not a bot scope
}
# Events the bot subscribes to -> the scope that delivers them (api.slack.com/events/<name>).
EVENT_SCOPES = {"app_mention": {"app_mentions:read"}, "app_home_opened": set()}
# A scope the manifest may ask for although no call needs it, and why.
JUSTIFIED = {
    # posting in a public requests channel the bot was not invited to (drbot config check
    # still asks for membership, which uploads need)
    "chat:write.public",
}


def _manifest(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _product_sources() -> list[Path]:
    return sorted(p for d in ("bot", "commands") for p in (ROOT / d).rglob("*.py"))


def _called_client_methods() -> set[str]:
    """Every WebClient method the product's code calls (`x.chat_postMessage(...)`)."""
    names = {n for n, _ in inspect.getmembers(WebClient, inspect.isfunction)}
    called = set()
    for path in _product_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in names
                and "_" in node.func.attr
            ):
                called.add(node.func.attr)
    return called


def _api_methods(client_method: str, seen: set[str] | None = None) -> set[str]:
    """The Web API methods a WebClient method calls, read from slack_sdk's own source (so
    `files_upload_v2` is the two upload methods it is made of)."""
    seen = seen if seen is not None else set()
    if client_method in seen:
        return set()
    seen.add(client_method)
    source = inspect.getsource(getattr(WebClient, client_method))
    found = set(re.findall(r'api_call\(\s*"([^"]+)"', source))
    for inner in re.findall(r"self\.(\w+)\(", source):
        if inner != client_method and hasattr(WebClient, inner) and not inner.startswith("_"):
            found |= _api_methods(inner, seen)
    return found


def _listened_events() -> set[str]:
    events = set()
    for path in (ROOT / "bot" / "slack").rglob("*.py"):
        events |= set(re.findall(r'\.event\(\s*"([a-z_]+)"', path.read_text()))
    return events


def test_the_code_calls_the_methods_this_test_knows() -> None:
    """The derivation works: the code's calls include posting and uploading, and every Web API
    method the code calls has its scopes in METHOD_SCOPES."""
    called = {m for c in _called_client_methods() for m in _api_methods(c)}
    assert {"chat.postMessage", "files.completeUploadExternal", "auth.test"} <= called
    assert called - set(METHOD_SCOPES) == set()


@pytest.mark.parametrize("path", [SOCKET, HTTP], ids=["socket", "http"])
def test_manifest_is_valid_under_slacks_schema(path: Path) -> None:
    """Each manifest validates against Slack's published manifest schema (required keys,
    lengths, patterns, no unknown keys)."""
    jsonschema.validate(_manifest(path), SCHEMA)


def test_schema_catches_what_slack_would_refuse() -> None:
    """The schema is strict where Slack is: a misspelt settings key and a command without its
    slash are refused (so the validation above can fail)."""
    broken = _manifest(SOCKET)
    broken["settings"]["sokcet_mode_enabled"] = True
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)
    broken = _manifest(SOCKET)
    broken["features"]["slash_commands"][0]["command"] = "dr"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCHEMA)


@pytest.mark.parametrize("path", [SOCKET, HTTP], ids=["socket", "http"])
def test_manifest_asks_for_every_scope_the_code_needs_and_no_more(path: Path) -> None:
    """The bot scopes are exactly those the code's Web API calls, its events and its slash
    command need (plus the justified extras): a missing one fails at the first call in
    production, an extra one is a permission nobody uses."""
    called = {m for c in _called_client_methods() for m in _api_methods(c)}
    needed = {"commands"}  # /dr
    for method in called:
        needed |= METHOD_SCOPES[method]
    for event in _listened_events():
        needed |= EVENT_SCOPES[event]
    manifest = _manifest(path)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    assert needed - scopes == set()
    assert scopes - needed <= JUSTIFIED
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == _listened_events()


@pytest.mark.parametrize("path", [SOCKET, HTTP], ids=["socket", "http"])
def test_usage_hint_names_commands_the_parser_knows(path: Path) -> None:
    """`/dr`'s usage hint lists the main commands, each one the parser accepts, and names
    `help` for the rest."""
    (command,) = _manifest(path)["features"]["slash_commands"]
    assert command["command"] == "/dr"
    words = re.findall(r"[a-z][a-z-]+", command["usage_hint"])
    verbs = [w for w in words if w in GRAMMAR]
    assert {"status", "plan", "test-failover", "failover", "failback", "help"} <= set(verbs)
    unknown = [
        w for w in words if w not in GRAMMAR and w not in {"target", "all", "reason", "kind"}
    ]
    assert unknown == []


def test_socket_and_http_manifests_differ_only_where_the_mode_does() -> None:
    """Socket Mode has no request URLs and socket_mode_enabled; HTTP mode points commands,
    interactivity and events at the one path the bot serves; everything else is the same."""
    socket, http = _manifest(SOCKET), _manifest(HTTP)
    assert socket["settings"]["socket_mode_enabled"] is True
    assert http["settings"]["socket_mode_enabled"] is False
    assert "url" not in socket["features"]["slash_commands"][0]
    assert "request_url" not in socket["settings"]["interactivity"]
    assert "request_url" not in socket["settings"]["event_subscriptions"]
    urls = {
        http["features"]["slash_commands"][0]["url"],
        http["settings"]["interactivity"]["request_url"],
        http["settings"]["event_subscriptions"]["request_url"],
    }
    assert len(urls) == 1
    assert urls.pop().endswith(HttpListen().path)
    for key in ("display_information", "oauth_config"):
        assert socket[key] == http[key]
