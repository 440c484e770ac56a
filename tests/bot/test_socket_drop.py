"""Socket Mode connections lost without a word (a network failure, no `disconnect` frame):
the bot notices (slack_sdk's own connection monitor), opens a new connection, and a run that
was going on meanwhile is still followed to its summary."""

from __future__ import annotations

from bot.demo import wait_until
from tests.bot.conftest import OPS, ask, bot_said, finished, started_run


def test_a_connection_lost_mid_run_is_replaced_and_the_run_still_followed(socket_world):
    """The bot's only connection is closed under it while a test failover runs: a new one
    is opened (apps.connections.open again), commands are answered again, the run's
    progress and summary still arrive in its thread."""
    world = socket_world
    approval = ask(world, "olivia", "test-failover all --disable-ha")
    world.slack.person("alex").click(OPS, approval.ts, action_id="dr_approve")
    run_id = started_run(world, approval)
    opened = len(world.slack.calls("apps.connections.open"))
    world.slack.socket.drop()
    wait_until(lambda: len(world.slack.calls("apps.connections.open")) > opened, timeout=60)
    wait_until(world.slack.socket.links, timeout=30)
    since = world.command("victor", "status")
    bot_said(world, since, kind="message", text="DR readiness")
    assert finished(world, run_id).state in ("succeeded", "partially-succeeded")
    where = world.serving.bot.threads.get(run_id)
    assert where is not None
    assert where.summary_posted
