"""The test Bolt app behind its WSGI adapter in HTTP mode: the double POSTs signed requests
to the app's request URL, as Slack does."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier

from sim.slack.server import SlackSim
from tests.sim_slack.conftest import OPS, wait_until

BOT = "U0DRBOT001"


@contextlib.contextmanager
def _request_url_app(sim: SlackSim, handler: type[BaseHTTPRequestHandler]) -> Iterator[None]:
    """Serve `handler` on loopback as the app's request URL (HTTP mode) for the block."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    ).start()
    sim.configure_delivery(socket_mode=False, request_url=f"http://127.0.0.1:{server.server_port}/")
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def _assert_signed(sim: SlackSim, headers: dict, body: bytes) -> None:
    """The request carries a valid Slack signature of `body` with the sim's signing secret."""
    verifier = SignatureVerifier(sim.endpoints()["signing_secret"])
    assert verifier.is_valid(
        body, headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    )


def test_command_is_acked_and_answered_over_http(sim: SlackSim, http_app):
    """In HTTP mode the command's HTTP response is the ack, and the response_url reply follows."""
    delivery = sim.person("olivia").command("/dr", "status")
    assert (delivery.status, delivery.route) == ("acked", "http")
    assert delivery.ack["text"] == "Working on `status`..."
    posted = sim.record.wait_for(lambda e: e.kind == "message" and e.text == "All pools ready")
    assert posted.channel == OPS


def test_button_click_updates_message_over_http(sim: SlackSim, http_app):
    """A block_actions payload= POST reaches Bolt, which edits the message and replies in thread."""
    sim.person("olivia").command("/dr", "failover")
    plan = sim.record.wait_for(lambda e: e.kind == "message" and e.user == BOT)
    assert sim.person("alex").click("dr-ops", plan.ts, action_id="approve").status == "acked"
    reply = sim.record.wait_for(lambda e: e.kind == "thread_reply")
    assert reply.thread_ts == plan.ts
    assert sim.record.entries(kind="edit")[0].text == "Approved"


def test_modal_over_http(sim: SlackSim, http_app):
    """A view_submission's HTTP response carries response_action errors back to the modal."""
    olivia = sim.person("olivia")
    olivia.command("/dr", "modal")
    sim.record.wait_for(lambda e: e.kind == "view_opened")
    assert olivia.submit({"text": "no"}).ack["response_action"] == "errors"
    olivia.submit({"text": "site power lost"})
    assert olivia.view() is None


def test_bad_signature_is_refused_by_bolt(sim: SlackSim, http_app):
    """A request signed with the wrong secret gets 401 from Bolt; the user sees dispatch_failed."""
    sim.world.workspace.app.signing_secret = "0" * 32
    delivery = sim.person("olivia").command("/dr", "status")
    assert delivery.error == "dispatch_failed"
    assert delivery.attempts[0]["http_status"] == 401
    assert sim.record.entries(kind="ephemeral") == []
    assert sim.record.entries(kind="error")[0].text == '/dr failed with the error "dispatch_failed"'


class _Recorder(BaseHTTPRequestHandler):
    """Answers 500 to the first event and 200 after, keeping what arrived."""

    seen: list = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append((dict(self.headers), body))
        self.send_response(500 if len(self.seen) == 1 else 200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_failed_event_is_retried_with_retry_headers(sim: SlackSim):
    """An event answered 500 is POSTed again with X-Slack-Retry-Num 1 and a valid signature."""
    _Recorder.seen = []
    with _request_url_app(sim, _Recorder):
        delivery = sim.person("victor").open_home()
        assert delivery.status == "acked"
        (first, _), (second, body) = _Recorder.seen
        assert "X-Slack-Retry-Num" not in first
        assert (second["X-Slack-Retry-Num"], second["X-Slack-Retry-Reason"]) == ("1", "http_error")
        _assert_signed(sim, second, body)
        assert json.loads(body)["event"]["type"] == "app_home_opened"


def test_command_is_form_encoded_with_response_url_and_trigger(sim: SlackSim):
    """A slash command arrives form-encoded with every documented field, signed."""
    _Recorder.seen = [("first", b"")]  # answer 200 at once
    with _request_url_app(sim, _Recorder):
        sim.person("olivia").command("/dr", "failover app:payments", channel="dr-ops")
        headers, body = _Recorder.seen[1]
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = {k: v[0] for k, v in parse_qs(body.decode(), keep_blank_values=True).items()}
        assert form["command"] == "/dr"
        assert form["text"] == "failover app:payments"
        assert (form["user_id"], form["channel_id"], form["channel_name"]) == (
            "U0ONCALL01",
            OPS,
            "dr-ops",
        )
        assert form["response_url"].startswith(sim.world.base_url + "hooks/commands/")
        assert form["trigger_id"].count(".") == 2
        _assert_signed(sim, headers, body)


class _Slow(BaseHTTPRequestHandler):
    """Holds each request until the test releases it, then acks with a text."""

    arrived = threading.Event()
    release = threading.Event()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        _Slow.arrived.set()
        _Slow.release.wait(5)
        body = b'{"text": "too late"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:
        pass


def test_slow_http_app_is_operation_timeout_on_the_sims_clock(manual_sim, clock):
    """An HTTP answer later than 3 s on the sim's clock is operation_timeout and is then ignored."""
    _Slow.arrived.clear()
    _Slow.release.clear()
    with _request_url_app(manual_sim, _Slow):
        delivery = manual_sim.person("olivia").command("/dr", "status", wait=False)
        assert _Slow.arrived.wait(5)
        clock.advance(3.5)
        assert delivery.wait(1).error == "operation_timeout"
        _Slow.release.set()
    assert manual_sim.record.entries(kind="ephemeral") == []
    assert manual_sim.record.entries(kind="error")[0].detail["error"] == "operation_timeout"


@pytest.mark.parametrize(("skew", "status"), [(-301, 401), (301, 401), (-290, 200)])
def test_bolt_enforces_the_five_minute_window(sim: SlackSim, http_app, skew, status):
    """Bolt refuses a request signed more than 300 s off its clock, either way, and takes 290 s."""
    sim.configure_delivery(clock_skew=skew)
    delivery = sim.person("olivia").command("/dr", "status")
    assert delivery.attempts[0]["http_status"] == status
    assert delivery.status == ("acked" if status == 200 else "failed")


def test_interaction_is_one_signed_payload_field(sim: SlackSim):
    """A click arrives form-encoded as payload=<JSON>, signed over the raw body."""
    _Recorder.seen = [("first", b"")]  # answer 200 at once
    with _request_url_app(sim, _Recorder):
        client = WebClient(token=sim.endpoints()["bot_token"], base_url=sim.endpoints()["api_url"])
        blocks = [
            {
                "type": "actions",
                "elements": [
                    {
                        "type": "button",
                        "action_id": "go",
                        "text": {"type": "plain_text", "text": "Go"},
                    }
                ],
            }
        ]
        ts = client.chat_postMessage(channel=OPS, text="x", blocks=blocks)["ts"]
        sim.person("alex").click("dr-ops", ts, action_id="go")
        headers, body = _Recorder.seen[1]
        assert headers["Content-Type"] == "application/x-www-form-urlencoded"
        form = parse_qs(body.decode())
        assert list(form) == ["payload"]
        assert json.loads(form["payload"][0])["actions"][0]["action_id"] == "go"
        _assert_signed(sim, headers, body)


class _NoRetry(BaseHTTPRequestHandler):
    """Answers every request 500 with X-Slack-No-Retry: 1."""

    seen: list = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(dict(self.headers))
        self.send_response(500)
        self.send_header("X-Slack-No-Retry", "1")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_no_retry_header_stops_event_retries(manual_sim: SlackSim, clock):
    """An event answered with an error and X-Slack-No-Retry: 1 is not sent again."""
    _NoRetry.seen = []
    with _request_url_app(manual_sim, _NoRetry):
        delivery = manual_sim.person("victor").open_home()
        clock.advance(400)
        assert (delivery.status, len(_NoRetry.seen)) == ("failed", 1)


class _Gated(BaseHTTPRequestHandler):
    """Holds request n until gates[n] is set, then answers 200."""

    arrivals: list = []
    gates: list = []

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["Content-Length"]))
        n = len(_Gated.arrivals)
        _Gated.arrivals.append(n)
        _Gated.gates[n].wait(5)
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


def test_late_answer_does_not_ack_the_retry(manual_sim: SlackSim, clock):
    """An event answered after 3 s is retried (http_timeout); the late answer acks nothing."""
    _Gated.arrivals, _Gated.gates = [], [threading.Event(), threading.Event()]
    with _request_url_app(manual_sim, _Gated):
        delivery = manual_sim.person("victor").open_home(wait=False)
        wait_until(lambda: len(_Gated.arrivals) == 1)
        clock.advance(3.5)  # the first request timed out: the retry goes out at once
        wait_until(lambda: len(_Gated.arrivals) == 2)
        assert [a["reason"] for a in delivery.attempts] == ["", "http_timeout"]
        _Gated.gates[0].set()
        wait_until(lambda: delivery.attempts[0].get("http_status") == 200)
        assert delivery.status == "pending"
        _Gated.gates[1].set()
        assert delivery.wait(5).status == "acked"
