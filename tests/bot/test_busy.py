"""Every listener acknowledges within Slack's 3 seconds however busy the bot is: the work
runs on the bot's own worker, never in Bolt's listener pool. 20 people type at once, most of
them asking for plans that read both pools; every command is acknowledged in time (the
double fails a delivery not acked within 3 s on its clock, as Slack does) and answered."""

from __future__ import annotations

import threading

from tests.bot.conftest import bot_said

PEOPLE = ["olivia", "alex", "priya", "ada"]


def test_twenty_commands_at_once_are_all_acked_in_time_and_answered(world):
    """16 plans and 4 statuses typed at the same moment: 20 acks within the deadline, none
    failed, and 20 answers."""
    since = world.slack.record.last_seq()
    deliveries = []
    lock = threading.Lock()

    def type_(n: int) -> None:
        text = "status" if n % 5 == 0 else "plan test-failover all"
        delivery = world.slack.person(PEOPLE[n % len(PEOPLE)]).command("/dr", text, wait=False)
        with lock:
            deliveries.append(delivery)

    people = [threading.Thread(target=type_, args=(n,)) for n in range(20)]
    for person in people:
        person.start()
    for person in people:
        person.join()
    for delivery in deliveries:
        delivery.wait(10)
    assert [d.status for d in deliveries] == ["acked"] * 20
    world.serving.bot.worker.wait_idle(120)
    answers = [
        e
        for e in world.slack.record.entries(since=since)
        if e.user == world.bot_user and e.kind in ("message", "ephemeral")
    ]
    assert len(answers) == 20, [a.text[:60] for a in answers]
    bot_said(world, since, text="DR readiness")
