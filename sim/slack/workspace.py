"""One Slack workspace: its team, people (with time zones), user groups, channels and the
installed app (tokens, scopes, how it receives payloads), loaded from a TOML or JSON seed.

A seed names people and channels; IDs are optional and generated when missing. Members of
channels and groups may be given by name or ID. The bot's membership of a channel is
`bot_member`, because Slack's rules differ for channels the bot is in (posting, uploads).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sim.slack import messages

DEFAULT_SEED = "default.toml"


class SeedError(ValueError):
    """A seed that cannot describe a workspace; the message says what to fix."""


@dataclass
class User:
    id: str
    name: str
    real_name: str
    tz: str = "UTC"
    display_name: str = ""  # often empty in real workspaces: show real_name then
    title: str = ""
    email: str = ""
    is_admin: bool = False
    is_owner: bool = False
    is_bot: bool = False
    deleted: bool = False
    bot_id: str | None = None

    def tz_offset(self, at: float) -> int:
        """Seconds east of UTC at `at` (Slack's `tz_offset`)."""
        offset = datetime.fromtimestamp(at, ZoneInfo(self.tz)).utcoffset()
        return int(offset.total_seconds()) if offset else 0

    def to_api(self, team_id: str, at: float) -> dict[str, Any]:
        """The user object of users.info / users.list."""
        zone_label = datetime.fromtimestamp(at, ZoneInfo(self.tz)).tzname() or self.tz
        user: dict[str, Any] = {
            "id": self.id,
            "team_id": team_id,
            "name": self.name,
            "deleted": self.deleted,
            "real_name": self.real_name,
            "tz": self.tz,
            "tz_label": zone_label,
            "tz_offset": self.tz_offset(at),
            "is_admin": self.is_admin,
            "is_owner": self.is_owner,
            "is_primary_owner": False,
            "is_restricted": False,
            "is_ultra_restricted": False,
            "is_bot": self.is_bot,
            "is_app_user": False,
            "updated": 1_700_000_000,
            "profile": {
                "title": self.title,
                "real_name": self.real_name,
                "display_name": self.display_name,
                "real_name_normalized": self.real_name,
                "display_name_normalized": self.display_name,
                "team": team_id,
            },
        }
        if self.email:
            user["profile"]["email"] = self.email
        if self.bot_id:
            user["profile"]["bot_id"] = self.bot_id
        return user

    def brief(self, team_id: str) -> dict[str, str]:
        """The `user` object of interaction payloads."""
        return {"id": self.id, "username": self.name, "name": self.name, "team_id": team_id}


@dataclass
class UserGroup:
    id: str
    handle: str
    name: str
    users: list[str]
    description: str = ""
    disabled: bool = False

    def to_api(self, team_id: str, include_users: bool) -> dict[str, Any]:
        group: dict[str, Any] = {
            "id": self.id,
            "team_id": team_id,
            "is_usergroup": True,
            "name": self.name,
            "description": self.description,
            "handle": self.handle,
            "is_external": False,
            "date_create": 1_700_000_000,
            "date_update": 1_700_000_000,
            "date_delete": 0,
            "auto_type": None,
            "user_count": len(self.users),
        }
        if include_users:
            group["users"] = list(self.users)
        return group


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    is_archived: bool = False
    members: list[str] = field(default_factory=list)
    topic: str = ""
    purpose: str = ""

    def to_api(self, at: float, bot_user_id: str) -> dict[str, Any]:
        """The conversation object of conversations.info."""
        created = 1_700_000_000
        if self.is_im:
            user = next((m for m in self.members if m != bot_user_id), "")
            return {"id": self.id, "is_im": True, "user": user, "created": created}
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": not self.is_private,
            "is_group": self.is_private,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.name == "general",
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "created": created,
            "creator": "",
            "num_members": len(self.members),
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
            "updated": int(at * 1000),
        }


@dataclass
class App:
    id: str
    name: str
    bot_user_id: str
    bot_id: str
    bot_token: str
    app_token: str
    signing_secret: str
    verification_token: str
    scopes: set[str]
    app_token_scopes: set[str]
    socket_mode: bool = True
    request_url: str = ""
    bot_events: list[str] = field(default_factory=lambda: ["app_home_opened"])
    commands: list[str] = field(default_factory=lambda: ["/dr"])


@dataclass
class Workspace:
    team_id: str
    team_name: str
    domain: str
    plan: str
    users: dict[str, User]
    groups: dict[str, UserGroup]
    channels: dict[str, Channel]
    app: App
    limits: dict[str, float] = field(default_factory=dict)  # [limits] of the seed

    # ---- lookups -------------------------------------------------------------------------

    def user(self, ref: str) -> User | None:
        """A user by ID, name or @name."""
        ref = ref.lstrip("@")
        if ref in self.users:
            return self.users[ref]
        return next((u for u in self.users.values() if u.name == ref), None)

    def channel(self, ref: str) -> Channel | None:
        """A conversation by ID, name or #name."""
        ref = ref.lstrip("#")
        if ref in self.channels:
            return self.channels[ref]
        return next((c for c in self.channels.values() if c.name == ref and not c.is_im), None)

    def group(self, ref: str) -> UserGroup | None:
        """A user group by ID, handle or @handle."""
        ref = ref.lstrip("@")
        if ref in self.groups:
            return self.groups[ref]
        return next((g for g in self.groups.values() if g.handle == ref), None)

    def im_with(self, user_id: str) -> Channel:
        """The app's direct-message conversation with a person (opened on first use)."""
        for channel in self.channels.values():
            if channel.is_im and user_id in channel.members:
                return channel
        channel_id = "D" + user_id[1:]
        channel = Channel(
            id=channel_id,
            name=channel_id,
            is_im=True,
            is_private=True,
            members=[user_id, self.app.bot_user_id],
        )
        self.channels[channel_id] = channel
        return channel

    def bot_is_member(self, channel: Channel) -> bool:
        return self.app.bot_user_id in channel.members

    def names(self) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
        """name → ID for people, channels and user groups (the endpoints file's maps)."""
        people = {u.name: u.id for u in self.users.values() if not u.is_bot}
        rooms = {c.name: c.id for c in self.channels.values() if not c.is_im}
        groups = {g.handle: g.id for g in self.groups.values()}
        return people, rooms, groups

    # ---- seeds ----------------------------------------------------------------------------

    @classmethod
    def load(cls, seed: str | Path | dict | None = None) -> Workspace:
        """A workspace from a seed: None (drbot's default), a .toml/.json path, or a dict."""
        if seed is None:
            text = resources.files("sim.slack").joinpath("seeds", DEFAULT_SEED).read_text()
            return cls.from_dict(tomllib.loads(text))
        if isinstance(seed, dict):
            return cls.from_dict(seed)
        path = Path(seed)
        if not path.exists():
            raise SeedError(messages.SEED_NOT_FOUND.format(path=path))
        text = path.read_text(encoding="utf-8")
        try:
            data = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
        except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
            raise SeedError(messages.SEED_UNREADABLE.format(path=path, error=error)) from error
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Workspace:
        team = data.get("team", {})
        team_id = team.get("id", "T0SIM00001")
        app_data = data.get("app", {})
        app = App(
            id=app_data.get("id", "A0SIMAPP01"),
            name=app_data.get("name", "drbot"),
            bot_user_id=app_data.get("bot_user_id", "U0DRBOT001"),
            bot_id=app_data.get("bot_id", "B0SIMBOT01"),
            bot_token=app_data.get("bot_token", "xoxb-1-2-simbottoken"),
            app_token=app_data.get("app_token", "xapp-1-A0SIMAPP01-3-simapptoken"),
            signing_secret=app_data.get("signing_secret", "0123456789abcdef0123456789abcdef"),
            verification_token=app_data.get("verification_token", "simverificationtoken"),
            scopes=set(app_data.get("scopes", ["commands", "chat:write"])),
            app_token_scopes=set(app_data.get("app_token_scopes", ["connections:write"])),
            socket_mode=bool(app_data.get("socket_mode", True)),
            request_url=app_data.get("request_url", ""),
            bot_events=list(app_data.get("bot_events", ["app_home_opened"])),
            commands=list(app_data.get("commands", ["/dr"])),
        )
        users: dict[str, User] = {}
        for n, raw in enumerate(data.get("users", []), start=1):
            if "name" not in raw:
                raise SeedError(messages.SEED_FIELD_MISSING.format(kind="user", field="name"))
            tz = raw.get("tz", "UTC")
            try:
                ZoneInfo(tz)
            except (ZoneInfoNotFoundError, ValueError) as error:
                raise SeedError(messages.SEED_BAD_TZ.format(tz=tz, user=raw["name"])) from error
            user = User(
                id=raw.get("id", f"U0SIM{n:05d}"),
                name=raw["name"],
                real_name=raw.get("real_name", raw["name"].title()),
                tz=tz,
                display_name=raw.get("display_name", ""),
                title=raw.get("title", ""),
                email=raw.get("email", ""),
                is_admin=bool(raw.get("is_admin", False)),
                is_owner=bool(raw.get("is_owner", False)),
                deleted=bool(raw.get("deleted", False)),
            )
            users[user.id] = user
        bot = User(
            id=app.bot_user_id, name=app.name, real_name=app.name, is_bot=True, bot_id=app.bot_id
        )
        users[bot.id] = bot
        workspace = cls(
            team_id=team_id,
            team_name=team.get("name", "Sim"),
            domain=team.get("domain", "sim"),
            plan=team.get("plan", "pro"),
            users=users,
            groups={},
            channels={},
            app=app,
            limits=dict(data.get("limits", {})),
        )
        for n, raw in enumerate(data.get("usergroups", []), start=1):
            if "handle" not in raw:
                raise SeedError(
                    messages.SEED_FIELD_MISSING.format(kind="usergroup", field="handle")
                )
            group = UserGroup(
                id=raw.get("id", f"S0SIM{n:05d}"),
                handle=raw["handle"],
                name=raw.get("name", raw["handle"]),
                users=[
                    workspace._user_id(ref, "usergroup " + raw["handle"])
                    for ref in raw.get("users", [])
                ],
                description=raw.get("description", ""),
            )
            workspace.groups[group.id] = group
        for n, raw in enumerate(data.get("channels", []), start=1):
            if "name" not in raw:
                raise SeedError(messages.SEED_FIELD_MISSING.format(kind="channel", field="name"))
            private = bool(raw.get("private", False))
            members = [workspace._user_id(ref, "#" + raw["name"]) for ref in raw.get("members", [])]
            if raw.get("bot_member", False):
                members.append(app.bot_user_id)
            channel = Channel(
                id=raw.get("id", f"{'G' if private else 'C'}0SIM{n:05d}"),
                name=raw["name"],
                is_private=private,
                is_archived=bool(raw.get("archived", False)),
                members=members,
                topic=raw.get("topic", ""),
                purpose=raw.get("purpose", ""),
            )
            workspace.channels[channel.id] = channel
        return workspace

    def _user_id(self, ref: str, where: str) -> str:
        user = self.user(ref)
        if user is None:
            raise SeedError(messages.SEED_UNKNOWN_USER.format(user=ref, where=where))
        return user.id
