"""Messages in channels and threads: what chat.postMessage, chat.update, chat.delete,
chat.postEphemeral, file shares and response_url create, kept the way Slack keeps them.

A message is identified by (channel, ts). `ts` is unique and increasing per workspace
("1700000000.000100"). Thread replies carry the root's `thread_ts`; the root counts its
replies. Ephemeral messages are kept apart: they are seen by one person, cannot be edited
with chat.update, and vanish if the person reloads (they are still in the record).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str = ""
    blocks: list | None = None
    attachments: list | None = None
    thread_ts: str | None = None
    bot_id: str | None = None
    app_id: str | None = None
    files: list = field(default_factory=list)
    reply_broadcast: bool = False
    edited_ts: str | None = None
    ephemeral_to: str | None = None
    metadata: dict | None = None
    reply_count: int = 0
    reply_users: list[str] = field(default_factory=list)
    latest_reply: str | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    def to_api(self, team_id: str) -> dict[str, Any]:
        """The message object Slack returns and puts in interaction payloads."""
        message: dict[str, Any] = {
            "type": "message",
            "user": self.user,
            "text": self.text,
            "ts": self.ts,
            "team": team_id,
        }
        if self.bot_id:
            message["bot_id"] = self.bot_id
            message["app_id"] = self.app_id
        if self.blocks is not None:
            message["blocks"] = copy.deepcopy(self.blocks)
        if self.attachments:
            message["attachments"] = copy.deepcopy(self.attachments)
        if self.thread_ts:
            message["thread_ts"] = self.thread_ts
        if self.thread_ts == self.ts or self.reply_count:
            message["reply_count"] = self.reply_count
            message["reply_users"] = list(self.reply_users)
            message["latest_reply"] = self.latest_reply
        if self.is_reply and self.reply_broadcast:
            message["subtype"] = "thread_broadcast"
        if self.files:
            message["files"] = copy.deepcopy(self.files)
            message["upload"] = True
        if self.edited_ts:
            message["edited"] = {"user": self.user, "ts": self.edited_ts}
        if self.metadata:
            message["metadata"] = copy.deepcopy(self.metadata)
        return message


class Conversations:
    """Every channel's messages (and the ephemerals people were shown). Not thread-safe by
    itself: the sim's world lock guards it."""

    def __init__(self) -> None:
        self._messages: dict[str, dict[str, Message]] = {}
        self._ephemeral: dict[tuple[str, str], Message] = {}
        self._last_micros = 0

    def next_ts(self, now: float) -> str:
        """A fresh ts: the clock's time in microseconds, nudged forward so it is unique."""
        micros = max(int(now * 1_000_000), self._last_micros + 1)
        self._last_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def add(self, message: Message) -> Message:
        if message.ephemeral_to:
            self._ephemeral[(message.channel, message.ts)] = message
            return message
        self._messages.setdefault(message.channel, {})[message.ts] = message
        if message.is_reply:
            root = self.get(message.channel, message.thread_ts or "")
            if root is not None:
                root.thread_ts = root.ts
                root.reply_count += 1
                root.latest_reply = message.ts
                if message.user not in root.reply_users:
                    root.reply_users.append(message.user)
        return message

    def get(self, channel: str, ts: str) -> Message | None:
        return self._messages.get(channel, {}).get(ts)

    def get_ephemeral(self, channel: str, ts: str) -> Message | None:
        return self._ephemeral.get((channel, ts))

    def ephemerals(self, channel: str, user: str) -> list[Message]:
        """Ephemeral messages one person was shown in a channel."""
        return [
            m for (c, _), m in self._ephemeral.items() if c == channel and m.ephemeral_to == user
        ]

    def delete(self, channel: str, ts: str) -> Message | None:
        message = self._messages.get(channel, {}).pop(ts, None)
        if message is None:
            message = self._ephemeral.pop((channel, ts), None)
        return message

    def history(self, channel: str) -> list[Message]:
        """Messages shown in the channel itself (roots and broadcast replies), oldest first."""
        shown = [
            m
            for m in self._messages.get(channel, {}).values()
            if not m.is_reply or m.reply_broadcast
        ]
        return sorted(shown, key=lambda m: float(m.ts))

    def thread(self, channel: str, thread_ts: str) -> list[Message]:
        """A thread: its root, then its replies, oldest first."""
        found = [
            m
            for m in self._messages.get(channel, {}).values()
            if m.ts == thread_ts or m.thread_ts == thread_ts
        ]
        return sorted(found, key=lambda m: float(m.ts))
