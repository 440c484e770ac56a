"""The bot's writes to Slack: post, update, ephemeral, respond and upload, each with a message
already checked against Slack's limits, and `Reply`: where an answer to one person goes.

Rate limits are honoured by the WebClient's `RateLimitErrorRetryHandler` (it sleeps
Retry-After and tries again); `Poster` adds only what the SDK does not: a message's detail file
goes into the thread after the message, and a reply's `thread_ts` is always a parent's.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.webhook import WebhookClient

from bot.slack.blocks import Message

log = logging.getLogger(__name__)


class Poster:
    """Writes to Slack through one WebClient."""

    def __init__(self, client: WebClient) -> None:
        self.client = client

    def post(self, channel: str, message: Message, *, thread_ts: str | None = None) -> str:
        """Post `message` (in the thread of parent `thread_ts`); returns its ts. A detail file
        follows in the message's thread."""
        answer = self.client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks, thread_ts=thread_ts
        )
        ts = str(answer["ts"])
        if message.detail:
            self.upload(channel, thread_ts or ts, *message.detail)
        return ts

    def update(self, channel: str, ts: str, message: Message) -> None:
        self.client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)

    def ephemeral(
        self, channel: str, user: str, message: Message, *, thread_ts: str | None = None
    ) -> None:
        self.client.chat_postEphemeral(
            channel=channel,
            user=user,
            text=message.text,
            blocks=message.blocks,
            thread_ts=thread_ts,
        )

    def replace(self, response_url: str, message: Message) -> None:
        """Replace the message a click came from (ephemeral ones too) through its
        response_url."""
        WebhookClient(response_url).send(
            text=message.text, blocks=message.blocks, replace_original=True
        )

    def upload(self, channel: str, thread_ts: str, filename: str, content: str) -> None:
        self.client.files_upload_v2(
            channel=channel, thread_ts=thread_ts, content=content, filename=filename, title=filename
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
