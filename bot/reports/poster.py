"""The port the reports post through, and its implementation on a slack_sdk `WebClient`.

The reports know nothing of Bolt: they build a message (text and blocks) and files, and hand
them to a `Poster`. The Slack bot gives them its own (so posting shares its rate limiting and
outbox); `WebClientPoster` is the plain one, on any `WebClient`.
"""

from __future__ import annotations

from typing import Protocol

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler

from bot.reports.blocks import Blocks, check_message


class Poster(Protocol):
    """Posts the reports to Slack.

    Implementations must post to channel IDs, name threads by their parent's `ts` (never a
    reply's), and raise on failure (a job then records itself failed and its next run
    posts again).
    """

    def post(self, channel: str, text: str, blocks: Blocks, thread_ts: str | None = None) -> str:
        """Post a message (in the thread `thread_ts` if given); returns its `ts`."""
        ...

    def upload(
        self,
        channel: str,
        thread_ts: str,
        filename: str,
        content: bytes,
        title: str,
        comment: str = "",
    ) -> None:
        """Upload a file into the thread `thread_ts` of `channel`."""
        ...


class WebClientPoster:
    """A `Poster` over a slack_sdk `WebClient` (`chat.postMessage`, `files_upload_v2`).

    The bot must be a member of the channels it uploads to (Slack refuses an upload with
    `not_in_channel` otherwise; chat:write.public does not cover files).
    """

    def __init__(self, client: WebClient) -> None:
        self.client = client
        if not any(isinstance(h, RateLimitErrorRetryHandler) for h in client.retry_handlers):
            # A 429 is waited out (Retry-After) rather than losing a report.
            client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=3))

    def post(self, channel: str, text: str, blocks: Blocks, thread_ts: str | None = None) -> str:
        check_message(text, blocks)
        response = self.client.chat_postMessage(
            channel=channel, text=text, blocks=blocks, thread_ts=thread_ts
        )
        return str(response["ts"])

    def upload(
        self,
        channel: str,
        thread_ts: str,
        filename: str,
        content: bytes,
        title: str,
        comment: str = "",
    ) -> None:
        self.client.files_upload_v2(
            channel=channel,
            thread_ts=thread_ts,
            filename=filename,
            content=content,
            title=title,
            initial_comment=comment or None,
        )
