"""A minimal Bolt app, for these tests only: the shapes drbot uses (a command acked then
answered, buttons with a confirm dialog, chat.update, thread replies, a modal with
validation, an upload, App Home), written against slack_bolt's public API."""

from __future__ import annotations

import struct
import zlib

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def plan_blocks(request_id: str) -> list[dict]:
    return [
        {"type": "header", "text": {"type": "plain_text", "text": "Failover plan"}},
        {
            "type": "section",
            "block_id": "plan",
            "text": {"type": "mrkdwn", "text": f"Request *{request_id}* by <@{'{user}'}>"},
            "fields": [
                {"type": "mrkdwn", "text": "*Target*\npayments"},
                {"type": "mrkdwn", "text": "*RTO*\n12 min"},
            ],
        },
        {
            "type": "actions",
            "block_id": f"decide-{request_id}",
            "elements": [
                {
                    "type": "button",
                    "action_id": "approve",
                    "text": {"type": "plain_text", "text": "Approve"},
                    "style": "primary",
                    "value": request_id,
                    "confirm": {
                        "title": {"type": "plain_text", "text": "Approve failover?"},
                        "text": {"type": "mrkdwn", "text": "This moves *payments* to the DR site."},
                        "confirm": {"type": "plain_text", "text": "Approve"},
                        "deny": {"type": "plain_text", "text": "Cancel"},
                        "style": "danger",
                    },
                },
                {
                    "type": "button",
                    "action_id": "reject",
                    "text": {"type": "plain_text", "text": "Reject"},
                    "style": "danger",
                    "value": request_id,
                },
            ],
        },
    ]


REASON_MODAL = {
    "type": "modal",
    "callback_id": "reason",
    "title": {"type": "plain_text", "text": "Why fail over?"},
    "submit": {"type": "plain_text", "text": "Submit"},
    "blocks": [
        {
            "type": "input",
            "block_id": "why",
            "label": {"type": "plain_text", "text": "Reason"},
            "element": {"type": "plain_text_input", "action_id": "text"},
        }
    ],
}


def make_app(endpoints: dict, *, channel: str, retries: int = 0) -> App:
    """The test app, its WebClient pointed at the sim."""
    client = WebClient(token=endpoints["bot_token"], base_url=endpoints["api_url"])
    if retries:
        client.retry_handlers.append(RateLimitErrorRetryHandler(max_retry_count=retries))
    app = App(client=client, signing_secret=endpoints["signing_secret"])

    @app.command("/dr")
    def dr(ack, command, client, respond):
        words = command["text"].split()
        verb = words[0] if words else "status"
        if verb == "silent":
            return  # never acks: Slack shows the user operation_timeout
        if verb == "modal":
            ack()
            client.views_open(trigger_id=command["trigger_id"], view=REASON_MODAL)
            return
        ack(f"Working on `{verb}`...")
        if verb == "failover":
            blocks = plan_blocks("R1")
            blocks[1]["text"]["text"] = blocks[1]["text"]["text"].replace(
                "{user}", command["user_id"]
            )
            client.chat_postMessage(channel=channel, text="Failover plan R1", blocks=blocks)
        elif verb == "upload":
            root = client.chat_postMessage(channel=channel, text="Weekly drill report")
            client.files_upload_v2(
                channel=channel,
                thread_ts=root["ts"],
                content=tiny_png(),
                filename="rto.png",
                title="RTO",
            )
        elif verb == "status":
            respond(text="All pools ready", response_type="in_channel")

    @app.action("approve")
    def approve(ack, body, client):
        ack()
        message = body["message"]
        client.chat_update(
            channel=body["channel"]["id"],
            ts=message["ts"],
            text="Approved",
            blocks=[
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": f"Approved by <@{body['user']['id']}>"},
                }
            ],
        )
        client.chat_postMessage(
            channel=body["channel"]["id"],
            thread_ts=message["ts"],
            text=f"Approval by <@{body['user']['id']}>",
        )

    @app.action("reject")
    def reject(ack, respond):
        ack()
        respond(replace_original=True, text="Rejected")

    @app.view("reason")
    def reason(ack, view, body, client):
        text = view["state"]["values"]["why"]["text"]["value"]
        if len(text) < 5:
            ack(response_action="errors", errors={"why": "Say a little more"})
            return
        ack()
        client.chat_postMessage(
            channel=channel, text=f"Reason from <@{body['user']['id']}>: {text}"
        )

    @app.event("app_home_opened")
    def home(event, client):
        client.views_publish(
            user_id=event["user"],
            view={
                "type": "home",
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": "*DR status*: ready"}}
                ],
            },
        )

    return app
