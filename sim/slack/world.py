"""The state of the simulated workspace and the changes everyone makes to it.

The Web API (the app acting), the actors (people acting) and response_urls all change the
world through these methods, under one lock, and each change that a person would see is
appended to the record. Rules that depend on *who asks* (token, scope, membership) are
checked by the caller (webapi.py for the app, actors.py for people); this module keeps the
state consistent.
"""

from __future__ import annotations

import copy
import hashlib
import mimetypes
import string
import threading
from dataclasses import dataclass
from typing import Any

from sim.slack import blockkit
from sim.slack.clock import Clock
from sim.slack.conversations import Conversations, Message
from sim.slack.errors import ApiError
from sim.slack.handles import Deadlines, Handles
from sim.slack.messages import THREAD_TS_OF_REPLY
from sim.slack.ratelimit import RateLimiter
from sim.slack.record import Record
from sim.slack.workspace import Workspace

_ALPHABET = string.ascii_letters + string.digits


@dataclass
class StoredFile:
    id: str
    name: str
    length: int
    title: str = ""
    alt_txt: str = ""
    content: bytes | None = None
    completed: bool = False
    user: str = ""
    created: float = 0.0

    def to_api(self, base_url: str, team_id: str) -> dict[str, Any]:
        mimetype = _mimetype(self.name, self.content or b"")
        return {
            "id": self.id,
            "created": int(self.created),
            "timestamp": int(self.created),
            "name": self.name,
            "title": self.title or self.name,
            "mimetype": mimetype,
            "filetype": self.name.rsplit(".", 1)[-1].lower() if "." in self.name else "binary",
            "user": self.user,
            "user_team": team_id,
            "size": len(self.content or b""),
            "is_public": False,
            "url_private": f"{base_url}files/{self.id}/{self.name}",
            "url_private_download": f"{base_url}files/{self.id}/{self.name}?download=1",
            "permalink": f"{base_url}files/{self.id}/{self.name}",
            "alt_txt": self.alt_txt,
        }


def _mimetype(name: str, content: bytes) -> str:
    if content.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    return mimetypes.guess_type(name)[0] or "application/octet-stream"


class World:
    def __init__(self, workspace: Workspace, clock: Clock, deadlines: Deadlines) -> None:
        self.lock = threading.RLock()
        self.workspace = workspace
        self.clock = clock
        self.deadlines = deadlines
        self.conversations = Conversations()
        self.record = Record()
        self.handles = Handles()
        self.limiter = RateLimiter(
            clock,
            per_channel_per_second=float(workspace.limits.get("per_channel_per_second", 1.0)),
            per_channel_burst=int(workspace.limits.get("per_channel_burst", 5)),
            enforced=bool(workspace.limits.get("rate_limits", True)),
        )
        self.files: dict[str, StoredFile] = {}
        self.upload_tickets: dict[str, str] = {}  # upload ticket -> file id
        self.views: dict[str, dict[str, Any]] = {}
        self.modal_stacks: dict[str, list[str]] = {}  # user -> view ids, root first
        self.homes: dict[str, str] = {}  # user -> home view id
        self.base_url = "http://127.0.0.1/"  # set by the server once it has its port
        self.socket_url = ""  # ws://host:port of the Socket Mode server, once started
        self.revoked_tokens: set[str] = set()
        # Slack is down (an incident on status.slack.com): every Web API request is answered
        # HTTP 503 `service_unavailable` until it is over. Socket Mode is not touched.
        self.outage = False
        # Seconds the clock that signs HTTP-mode requests is off from the app's wall clock:
        # lets a test show Bolt refusing a timestamp outside its 5-minute replay window.
        self.request_clock_skew = 0.0
        self.calls: list = []  # every Web API request, in order (webapi.ApiCall)

    # ---- naming -----------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def name_of(self, ref: str) -> str:
        """A user's, channel's or group's name for renderings ("olivia", "dr-ops")."""
        ws = self.workspace
        if ref in ws.users:
            return ws.users[ref].name
        if ref in ws.channels:
            return ws.channels[ref].name
        if ref in ws.groups:
            return ws.groups[ref].handle
        return ref

    def new_id(self, prefix: str) -> str:
        return f"{prefix}0SIM{self.handles.serial():06d}"

    def unique_ts(self) -> str:
        """A fresh "seconds.micros" stamp (action_ts, event_ts): distinct even when the clock
        stands still, so two clicks are never the same click to an app that dedupes on it."""
        with self.lock:
            return self.conversations.next_ts(self.now())

    def short_id(self, length: int) -> str:
        """A short opaque ID like the block_ids and action_ids Slack generates ("4zW")."""
        digest = hashlib.sha256(b"sim-block-%d" % self.handles.serial()).digest()
        return "".join(_ALPHABET[b % len(_ALPHABET)] for b in digest[:length])

    def stored_blocks(self, blocks: list | None) -> list | None:
        """Blocks as Slack keeps them, with generated block_ids and action_ids filled in."""
        return None if blocks is None else blockkit.with_generated_ids(blocks, self.short_id)

    # ---- messages ---------------------------------------------------------------------------

    def post(
        self,
        channel: str,
        user: str,
        text: str = "",
        blocks: list | None = None,
        *,
        thread_ts: str | None = None,
        reply_broadcast: bool = False,
        ephemeral_to: str | None = None,
        files: list | None = None,
        attachments: list | None = None,
        metadata: dict | None = None,
        as_bot: bool = True,
    ) -> Message:
        """Add a message (or ephemeral) and record what people see.

        A `thread_ts` that is a reply's ts is refused (`invalid_thread_ts`), with an `error`
        entry in the record naming the reply and its thread's parent. Slack threads one level
        deep and tells apps to name a thread by its parent's ts; apps that pass a reply's ts
        see their messages go astray there, so the double makes the mistake loud instead of
        quietly moving the message to the parent."""
        with self.lock:
            if thread_ts is not None:
                root = self.conversations.get(channel, thread_ts)
                if root is not None and root.is_reply:
                    self.refuse_reply_thread_ts(channel, thread_ts, root.thread_ts or "")
            app = self.workspace.app
            message = Message(
                channel=channel,
                ts=self.conversations.next_ts(self.now()),
                user=user,
                text=text,
                blocks=self.stored_blocks(blocks),
                attachments=attachments,
                thread_ts=thread_ts,
                bot_id=app.bot_id if as_bot else None,
                app_id=app.id if as_bot else None,
                files=files or [],
                reply_broadcast=reply_broadcast,
                ephemeral_to=ephemeral_to,
                metadata=metadata,
            )
            self.conversations.add(message)
            if ephemeral_to:
                kind = "ephemeral"
            elif files:
                kind = "file"
            else:
                kind = "thread_reply" if thread_ts else "message"
            self._record_message(
                kind,
                message,
                text=text,
                blocks=message.blocks,
                files=[f["id"] for f in files or []],
                detail={"reply_broadcast": reply_broadcast} if reply_broadcast else {},
            )
            return message

    def edit(
        self,
        message: Message,
        text: str | None,
        blocks: list | None,
        *,
        attachments: list | None = None,
        whole: bool = False,
    ) -> Message:
        """chat.update keeps what it is not given; a response_url's replace_original replaces
        the `whole` message (no blocks given: none left)."""
        with self.lock:
            if text is not None:
                message.text = text
            if blocks is not None or whole:
                message.blocks = self.stored_blocks(blocks)
            if attachments is not None or whole:
                message.attachments = attachments
            message.edited_ts = self.conversations.next_ts(self.now())
            self._record_message("edit", message, text=message.text, blocks=message.blocks)
            return message

    def delete(self, message: Message) -> None:
        with self.lock:
            self.conversations.delete(message.channel, message.ts)
            self._record_message("delete", message)

    def _record_message(self, kind: str, message: Message, **seen: Any) -> None:
        """Record `kind` of `message`: where it is, who wrote it and who alone sees it."""
        self.record.add(
            kind,
            self.now(),
            channel=message.channel,
            ts=message.ts,
            thread_ts=message.thread_ts,
            user=message.user,
            to_user=message.ephemeral_to,
            **seen,
        )

    def find_message(self, channel: str, ts: str) -> Message | None:
        with self.lock:
            return self.conversations.get(channel, ts) or self.conversations.get_ephemeral(
                channel, ts
            )

    def refuse_reply_thread_ts(self, channel: str, reply_ts: str, parent_ts: str) -> None:
        """Record and raise the refusal of a reply's ts used as `thread_ts`."""
        self.record.add(
            "error",
            self.now(),
            channel=channel,
            ts=reply_ts,
            thread_ts=parent_ts,
            text=THREAD_TS_OF_REPLY.format(reply=reply_ts, parent=parent_ts),
            detail={"error": "invalid_thread_ts", "reply_ts": reply_ts, "parent_ts": parent_ts},
        )
        raise ApiError("invalid_thread_ts")

    def show_error(self, user: str, channel: str | None, text: str, **detail: Any) -> None:
        """What the Slack client shows a person when the app failed them."""
        self.record.add(
            "error", self.now(), channel=channel, to_user=user, text=text, detail=detail
        )

    # ---- views ------------------------------------------------------------------------------

    def make_view(
        self,
        spec: dict,
        *,
        user: str,
        root_view_id: str | None,
        previous_view_id: str | None,
        view_id: str | None = None,
    ) -> dict:
        """A view object as Slack returns it (ID, hash, empty state), from the app's spec."""
        view_id = view_id or self.new_id("V")
        app = self.workspace.app
        view = {
            "id": view_id,
            "team_id": self.workspace.team_id,
            "type": spec.get("type"),
            "blocks": self.stored_blocks(spec.get("blocks", [])),
            "private_metadata": spec.get("private_metadata", ""),
            "callback_id": spec.get("callback_id", ""),
            "state": {"values": {}},
            "hash": "",
            "title": spec.get("title"),
            "clear_on_close": bool(spec.get("clear_on_close", False)),
            "notify_on_close": bool(spec.get("notify_on_close", False)),
            "close": spec.get("close"),
            "submit": spec.get("submit"),
            "previous_view_id": previous_view_id,
            "root_view_id": root_view_id or view_id,
            "app_id": app.id,
            "external_id": spec.get("external_id", ""),
            "app_installed_team_id": self.workspace.team_id,
            "bot_id": app.bot_id,
        }
        view["hash"] = hashlib.sha1(f"{view_id}:{self.handles.serial()}".encode()).hexdigest()[:24]  # noqa: S324
        self.views[view_id] = view
        return view

    def view_by(self, view_id: str | None, external_id: str | None) -> dict:
        if view_id:
            view = self.views.get(view_id)
        else:
            view = next(
                (v for v in self.views.values() if external_id and v["external_id"] == external_id),
                None,
            )
        if view is None:
            raise ApiError("not_found")
        return view

    def owner_of(self, view_id: str) -> str | None:
        for user, stack in self.modal_stacks.items():
            if view_id in stack:
                return user
        return next((u for u, v in self.homes.items() if v == view_id), None)

    def record_view(self, kind: str, user: str, view: dict, **detail: Any) -> None:
        self.record.add(
            kind,
            self.now(),
            to_user=user,
            text=_title(view),
            blocks=view.get("blocks"),
            view=copy.deepcopy(view),
            detail=detail,
        )

    def close_modal(self, user: str, *, everything: bool = False) -> list[str]:
        """Pop the top view (or all): what happens after a submission or a close."""
        with self.lock:
            stack = self.modal_stacks.get(user, [])
            closed = stack[:] if everything else stack[-1:]
            del stack[len(stack) - len(closed) :]
            for view_id in closed:
                self.record_view("view_closed", user, self.views[view_id])
            return closed


def _title(view: dict) -> str:
    title = view.get("title")
    return str(title.get("text", "")) if isinstance(title, dict) else ""
