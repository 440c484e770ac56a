"""Whatever a person types after /dr, the bot never crashes and always answers: thousands of
hypothesis-made texts through the real Bolt pipeline (Socket Mode, sim/slack), typed by a
viewer (who may not start runs, so every text is answered without touching a pool's VMs)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.demo import wait_until

VICTOR = "U0VIEWER01"
WORDS = [
    "status",
    "plan",
    "test-failover",
    "failover",
    "failback",
    "runs",
    "show",
    "cancel",
    "resume",
    "abort",
    "drill",
    "audit",
    "help",
    "all",
    "shop",
    "--reason",
    "--pool",
    "prod",
    "--planned",
    "--power",
    "start",
    "#12",
    "0",
    "-1",
    "99999999999999999999",
    '"',
    "'",
    "\u201c",
    "<@U0DRBOT001>",
    "--",
    "=",
    ",",
    ";",
    "\n",
]
texts = st.one_of(
    st.text(max_size=120),
    st.lists(st.sampled_from(WORDS), max_size=8).map(" ".join),
    st.lists(st.one_of(st.sampled_from(WORDS), st.text(max_size=12)), max_size=6).map(" ".join),
)


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_any_text_gets_an_answer_and_nothing_crashes(socket_world):
    """Every /dr text is acknowledged in time and answered to the person (the ack's own
    message, or a reply afterwards); the bot reports no failure."""
    world = socket_world
    victor = world.slack.person("victor")
    answered = 0

    @settings(
        max_examples=2000,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
        database=None,
    )
    @given(text=texts)
    def one(text: str) -> None:
        nonlocal answered
        since = world.slack.record.last_seq()
        delivery = victor.command("/dr", text, channel="dr-ops")
        assert delivery.status == "acked", (text, delivery.error)

        def reply() -> bool:
            # A message or ephemeral from the bot, or the modal asking for a reason.
            return any(
                (e.user == world.bot_user and e.to_user in (None, VICTOR))
                or (e.kind == "view_opened" and e.to_user == VICTOR)
                for e in world.slack.record.entries(since=since)
            )

        wait_until(reply, timeout=30)
        seen = world.slack.record.entries(since=since)
        assert not any(e.kind == "error" for e in seen), (text, seen)
        assert not any("went wrong on drbot's side" in e.text for e in seen), text
        answered += 1
        if victor.view() is not None:
            victor.close_view()

    one()
    assert answered >= 2000
