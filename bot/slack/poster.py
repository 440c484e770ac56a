"""The bot's writes to Slack: post, update, ephemeral, respond and upload, each with a message
already checked against Slack's limits, and `Reply`: where an answer to one person goes.

Rate limits are honoured by the WebClient's `RateLimitErrorRetryHandler` (it sleeps
Retry-After and tries again); `Poster` adds only what the SDK does not: a message's detail file
goes into the thread after the message, a reply's `thread_ts` is always a parent's, and
what Slack refused while down (edits, detail files) is done when a write next succeeds;
`on_back` is told then too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.slack.blocks import Message

log = logging.getLogger(__name__)
T = TypeVar("T")
UPLOAD_TRIES = 3  # a detail file Slack refused is tried again when it answers, this often


class Poster:
    """Writes to Slack through one WebClient."""

    def __init__(self, client: WebClient) -> None:
        self.client = client
        self.on_back: Callable[[], None] | None = None
        self._failing = False
        self._lock = threading.Lock()
        # Detail files whose message went out but whose upload failed: uploaded when Slack
        # answers again (posting the message again would show it twice).
        self._uploads_due: list[tuple[str, str, str, str, int]] = []
        # (channel, ts) -> a final edit Slack refused: made when Slack answers again, unless
        # a later edit of that message got through first.
        self._edits_due: dict[tuple[str, str], Message] = {}

    def _write(self, call: Callable[[], T], edits: tuple[str, str] | None = None) -> T:
        """Make one write, noting whether Slack took it; the first success after a failure
        makes the edits and uploads Slack refused meanwhile, then calls `on_back` (in this
        thread: it should hand work on, not do it). `edits` names the message this write
        edits: an older refused edit of it is dropped."""
        try:
            result = call()
        except Exception:
            with self._lock:
                self._failing = True
            raise
        with self._lock:
            if edits is not None:
                self._edits_due.pop(edits, None)
            back, self._failing = self._failing, False
            uploads, self._uploads_due = (self._uploads_due, []) if back else ([], [])
            due, self._edits_due = (self._edits_due, {}) if back else ({}, self._edits_due)
        for (channel, ts), message in due.items():
            try:
                self.update(channel, ts, message, final=True)
            except Exception:  # kept again by update: Slack is not back after all
                log.warning("an edit of %s refused again; kept", ts)
        for channel, thread_ts, filename, content, tries in uploads:
            self._upload_or_keep(channel, thread_ts, filename, content, tries)
        if back and self.on_back is not None:
            try:
                self.on_back()
            except Exception:  # catching up is best effort; the write itself went through
                log.exception("catching up after Slack came back failed")
        return result

    def _upload_or_keep(
        self, channel: str, thread_ts: str, filename: str, content: str, tries: int = 0
    ) -> None:
        """Upload a message's detail file; if Slack refuses, keep it for when Slack answers
        again, up to UPLOAD_TRIES times (a file Slack keeps refusing is given up, logged)."""
        try:
            self.upload(channel, thread_ts, filename, content)
        except Exception:
            log.exception("detail file %s not uploaded (try %d)", filename, tries + 1)
            if tries + 1 < UPLOAD_TRIES:
                with self._lock:
                    self._uploads_due.append((channel, thread_ts, filename, content, tries + 1))

    def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> str:
        """Post `message` (in the thread of parent `thread_ts`); returns its ts. A detail file
        follows in the message's thread (once Slack answers again, if the upload fails: the
        message is never posted twice for its file)."""
        answer = self._write(
            lambda: self.client.chat_postMessage(
                channel=channel, text=message.text, blocks=message.blocks, thread_ts=thread_ts
            )
        )
        ts = str(answer["ts"])
        if message.detail:  # the message is out: its file follows now or when Slack is back
            self._upload_or_keep(channel, thread_ts or ts, *message.detail)
        return ts

    def update(self, channel: str, ts: str, message: Message, *, final: bool = False) -> None:
        """Edit message `ts`. A `final` edit (the message's last: it takes the buttons off a
        step or run that is over) Slack refuses is made when Slack answers again, so the
        buttons do not stay for good; other edits are their caller's to retry (a progress
        edit made late would overwrite a newer one)."""
        try:
            self._write(
                lambda: self.client.chat_update(
                    channel=channel, ts=ts, text=message.text, blocks=message.blocks
                ),
                edits=(channel, ts),
            )
        except Exception:
            if final:
                with self._lock:
                    self._edits_due[(channel, ts)] = message
            raise

    def ephemeral(
        self, channel: str, user: str, message: Message, *, thread_ts: str | None = None
    ) -> None:
        self._write(
            lambda: self.client.chat_postEphemeral(
                channel=channel,
                user=user,
                text=message.text,
                blocks=message.blocks,
                thread_ts=thread_ts,
            )
        )

    def replace(self, response_url: str, message: Message) -> None:
        """Replace the message a click came from (ephemeral ones too) through its
        response_url."""
        WebhookClient(response_url).send(
            text=message.text, blocks=message.blocks, replace_original=True
        )

    def upload(self, channel: str, thread_ts: str, filename: str, content: str) -> None:
        self._write(
            lambda: self.client.files_upload_v2(
                channel=channel,
                thread_ts=thread_ts,
                content=content,
                filename=filename,
                title=filename,
            )
        )


@dataclass(frozen=True)
class Reply:
    """Where the answer to one person's request goes.

    A slash command answers through its `response_url` (works in any channel, even where the
    bot is not a member); a mention answers in its thread (`thread_ts`, the parent's ts);
    private answers are ephemeral, seen by `user` only.
    """

    channel: str
    user: str
    thread_ts: str | None = None
    response_url: str | None = None

    def public(self, poster: Poster, message: Message) -> None:
        if self.response_url:
            self._respond(message, "in_channel")
        else:
            poster.post(self.channel, message, thread_ts=self.thread_ts)

    def private(self, poster: Poster, message: Message) -> None:
        if self.response_url:
            self._respond(message, "ephemeral")
        else:
            poster.ephemeral(self.channel, self.user, message, thread_ts=self.thread_ts)

    def _respond(self, message: Message, response_type: str) -> None:
        assert self.response_url is not None
        WebhookClient(self.response_url).send(
            text=message.text, blocks=message.blocks, response_type=response_type
        )
