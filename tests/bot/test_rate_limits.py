"""Slack's rate limits with a 1,000-VM run: the bot's progress and summary go through its real
WebClient to sim/slack, which limits calls by method tier per workspace and answers 429 with
Retry-After as Slack does. The bot and the double share one ManualClock, so minutes of a run
pass in milliseconds and Retry-After is waited on that clock, never slept."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import pytest

from bot.slack import blocks
from bot.slack.progress import ProgressBoard
from bot.slack.threads import Threads
from engine.clock import ManualClock
from sim.slack.server import SlackSim
from sim.slack.webapi import ApiCall
from store import Store, open_store
from tests.bot.estate import big_plan, run_view
from tests.bot.test_progress_and_audit import OPS, SharedTime, event, header, poster_for

CHAT_UPDATE_TIER = 50  # chat.update: Tier 3, 50 a minute (reference slack.md §5)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def slack(clock: ManualClock) -> Iterator[SlackSim]:
    sim = SlackSim.start(clock=SharedTime(clock))
    yield sim
    sim.stop()


@pytest.fixture
def store(tmp_path) -> Iterator[Store]:
    with open_store(tmp_path / "drbot.db") as s:
        yield s


def _board(slack: SlackSim, store: Store, clock: ManualClock, summaries: list[int]):
    poster = poster_for(slack, clock)

    def summarise(run_id: int, rto: float | None) -> blocks.Message:
        summaries.append(run_id)
        return blocks.note(f"run {run_id} ended")

    return poster, ProgressBoard(poster, Threads(store), clock, summarise=summarise)


def _run(
    board: ProgressBoard,
    poster,
    store: Store,
    run_id: int,
    vms: int,
) -> str:
    """Announce a failover of `vms` VMs in vApps of 10 in its own thread; its root ts."""
    root = poster.post(OPS, blocks.note(f"Failover {run_id}: approval needed"))
    Threads(store).attach(run_id, OPS, root)
    board.begin(
        run_id, "failover", "all", {f"r{run_id}-vm{n:04d}": f"app{n // 10}" for n in range(vms)}
    )
    return root


def _play(board: ProgressBoard, clock: ManualClock, runs: dict[int, int], seconds: int) -> None:
    """Each run recovers then starts its VMs evenly over `seconds`, one second at a time,
    the board flushing as its thread does; then every run succeeds."""
    for second in range(seconds):
        for run_id, vms in runs.items():
            first, last = vms * second // seconds, vms * (second + 1) // seconds
            for n in range(first, last):
                vm = f"r{run_id}-vm{n:04d}"
                board.note(event(run_id, "vm", subject=vm, vm_status="started", phase="start"))
        board.flush_due()
        clock.advance(1.0)
    for run_id in runs:
        board.note(event(run_id, "state", state="succeeded"))


def _until_summaries(board: ProgressBoard, clock: ManualClock, summaries, count: int) -> None:
    for _ in range(600):  # ten minutes of the clock at most
        if len(summaries) >= count:
            return
        board.flush_due()
        clock.advance(1.0)


def test_six_concurrent_runs_stay_within_the_chat_update_tier(slack, store, clock):
    """Six failovers (1,000 VMs each) report progress at once: at one edit a second each they
    would ask 360 chat.update a minute; the bot keeps below Tier 3 as Slack counts it (not
    one 429), and each run's final state and summary are still written once."""
    summaries: list[int] = []
    poster, board = _board(slack, store, clock, summaries)
    runs = {run_id: 1_000 for run_id in range(1, 7)}
    roots = {run_id: _run(board, poster, store, run_id, vms) for run_id, vms in runs.items()}
    _play(board, clock, runs, seconds=120)
    _until_summaries(board, clock, summaries, len(runs))
    updates = slack.calls("chat.update")
    assert [c for c in slack.calls() if c.status == 429] == []
    assert len(updates) > CHAT_UPDATE_TIER  # the demand was there: over a minute's worth
    assert sorted(summaries) == sorted(runs)
    for root in roots.values():
        assert header(slack, root).endswith("succeeded")
        assert "1000 of 1000 done" in str(slack.world.conversations.thread(OPS, root)[1].blocks)


def test_429s_of_a_smaller_tier_are_waited_out_and_the_summary_is_not_lost(slack, store, clock):
    """With chat.update cut to 6 a minute and chat.postMessage to 2, a 1,000-VM failover's
    progress meets 429s: after each, the bot calls that method again only once Retry-After
    has passed, edits coalesce (under 100 for 1,000 VMs over five minutes), and the final
    state and the one summary are written."""
    slack.world.limiter.set_tier(3, 6)
    slack.world.limiter.set_tier("special", 2)
    summaries: list[int] = []
    poster, board = _board(slack, store, clock, summaries)
    root = _run(board, poster, store, 1, 1_000)
    _play(board, clock, {1: 1_000}, seconds=300)
    _until_summaries(board, clock, summaries, 1)
    calls = slack.calls()
    limited = [c for c in calls if c.status == 429]
    assert limited, "the smaller tiers were never reached: the test shows nothing"
    by_method: dict[str, list[ApiCall]] = defaultdict(list)
    for call in calls:
        by_method[call.method].append(call)
    for refused in limited:
        assert refused.retry_after is not None
        later = [c for c in by_method[refused.method] if c.at > refused.at]
        assert later, f"{refused.method} was never tried again"
        assert later[0].at >= refused.at + refused.retry_after
    assert len(by_method["chat.update"]) < 100  # coalesced: 1,000 VMs, minutes of events
    assert summaries == [1]
    thread = slack.world.conversations.thread(OPS, root)
    assert header(slack, root).endswith("succeeded")
    assert "1000 of 1000 done" in str(thread[1].blocks)
    assert [m.text for m in thread[2:]] == ["run 1 ended"]


def test_a_thousand_vm_summary_and_its_file_reach_slack_through_429s(slack, store, clock):
    """chat.update cut to 6 a minute, and the summary's post and each step of its upload
    answered 429 twice: a 1,000-VM failover's progress, its real summary (per vApp, 20
    failed VMs) and the summary's detail file all reach the thread, each once, every 429
    waited out (Retry-After, on the shared clock) and the final state written."""
    slack.world.limiter.set_tier(3, 6)
    poster = poster_for(slack, clock)
    plan = big_plan(apps=100, per_app=10)
    view = run_view(plan, failed_every=50)
    expected = blocks.summary_message(view, 1260.0)
    assert expected.detail, "a 1,000-VM summary carries a file: the test shows the upload"

    def summarise(run_id: int, rto: float | None) -> blocks.Message:
        return blocks.summary_message(view, rto)

    board = ProgressBoard(poster, Threads(store), clock, summarise=summarise)
    root = _run(board, poster, store, 12, 0)
    board.begin(12, "failover", "all", {vm.name: a.name for a in plan.appliances for vm in a.vms})
    for second, app in enumerate(plan.appliances):
        for vm in app.vms:
            board.note(event(12, "vm", subject=vm.name, vm_status="started", phase="start"))
        board.flush_due()
        clock.advance(3.0 if second % 2 else 1.0)
    # The summary and each step of its upload meet a 429 too (Slack's answer to a burst).
    for method in (
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ):
        slack.world.limiter.force(method, count=2, retry_after=7)
    board.note(event(12, "state", state="partially-succeeded", extra={"rto_seconds": "1260"}))
    for _ in range(900):
        if Threads(store).get(12).summary_posted:  # type: ignore[union-attr]  # attached above
            break
        board.flush_due()
        clock.advance(1.0)
    calls = slack.calls()
    limited = [c for c in calls if c.status == 429]
    assert {c.method for c in limited} == {
        "chat.update",
        "chat.postMessage",
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    }
    for refused in limited:
        later = [c for c in calls if c.method == refused.method and c.at > refused.at]
        assert later, f"{refused.method} was never tried again"
        assert refused.retry_after is not None
        assert later[0].at >= refused.at + refused.retry_after
    thread = slack.world.conversations.thread(OPS, root)
    assert header(slack, root).endswith("partially-succeeded")
    summaries = [m for m in thread if m.text == expected.text]
    assert len(summaries) == 1
    files = [f for m in thread for f in m.files]
    assert [f["name"] for f in files] == [expected.detail[0]]
    assert [c.status for c in calls if c.method == "files.completeUploadExternal"][-1] == 200


def test_a_summary_whose_file_fails_is_posted_once_and_its_file_follows(slack, store, clock):
    """The summary goes out but its file's upload is refused past the bot's retries (429 six
    times in a row): the summary is not posted again for it; the next write Slack takes
    brings the file into the thread, once."""
    poster = poster_for(slack, clock)
    plan = big_plan(apps=100, per_app=10)
    view = run_view(plan, failed_every=50)
    board = ProgressBoard(
        poster, Threads(store), clock, summarise=lambda r, t: blocks.summary_message(view, t)
    )
    root = _run(board, poster, store, 12, 0)
    slack.world.limiter.force("files.getUploadURLExternal", count=6, retry_after=1)
    board.note(event(12, "state", state="partially-succeeded", extra={"rto_seconds": "600"}))
    for _ in range(30):
        board.flush_due()
        clock.advance(1.0)
    thread = slack.world.conversations.thread(OPS, root)
    summaries = [m for m in thread if m.text.startswith("Run 12 partially-succeeded")]
    assert len(summaries) == 1
    assert [f for m in thread for f in m.files] == []
    poster.post(OPS, blocks.note("Slack answers again"))
    thread = slack.world.conversations.thread(OPS, root)
    assert [f["name"] for m in thread for f in m.files] == ["run-12-outcome.tsv"]
    assert len([m for m in thread if m.text.startswith("Run 12 partially-succeeded")]) == 1
