"""The scheduled reports inside the running bot (bot.slack.serve.start_bot through the demo's
world: sim/xapi, sim/slack and the bot in Socket Mode): started with it, on the channels of
[slack]; `/dr status` shows each schedule's next run, App Home the next drill. (The report of
a drill run from chat, posted to #dr-reports, is what `drbot demo` shows.)"""

from __future__ import annotations

from bot.demo import demo_world
from store import open_store

SPEED = 200.0


def test_bot_runs_the_reports_and_shows_their_schedule(tmp_path):
    """The bot starts the reports on #dr-reports; /dr status lists the drill's next run; App
    Home shows the next drill; the reports stop with the bot (the scheduler's lease is given
    up)."""
    with demo_world(tmp_path / "w", scenario="mini", speed=SPEED) as world:
        reports = world.serving.reports
        assert reports is not None
        channels = world.slack.endpoints()["channels"]
        assert reports.config.channel == channels["dr-reports"]
        since = world.command("olivia", "status")
        status = world.wait_bot(since, lambda e: "drill: next" in str(e.blocks))
        assert "readiness-summary: next" in str(status.blocks)
        since = world.slack.record.last_seq()
        world.slack.person("olivia").open_home()
        home = world.slack.record.wait_for(
            lambda e: e.kind == "home_published", timeout=30, since=since
        )
        assert "*Next drill*: " in str(home.view)
        assert "not scheduled" not in str(home.view)
        store = world.service.wiring.store
        lease_holder = store.history.lease("scheduler")["holder"]
        assert lease_holder == reports.scheduler.holder
    with open_store(store.path) as after:
        assert after.history.lease("scheduler") is None
