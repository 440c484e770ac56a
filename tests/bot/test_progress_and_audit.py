"""Progress edits coalesced on the clock, the final state always written, the audit channel
fed in batches with nothing lost while Slack refuses: through a real WebClient to sim/slack,
with a real store file and a clock the test moves."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from slack_sdk.errors import SlackApiError

from bot.slack import blocks
from bot.slack.app import make_client
from bot.slack.audit_feed import AuditFeed
from bot.slack.config import SlackConfig
from bot.slack.poster import Poster
from bot.slack.progress import ProgressBoard
from bot.slack.threads import Threads
from engine.clock import ManualClock
from engine.events import RunEvent
from sim.slack.server import SlackSim
from store import open_store
from store.audit import read_anchors

OPS = "C0DROPS001"
AUDIT = "G0DRAUDIT1"


class SharedTime:
    """The double's clock reading the bot's ManualClock: one time for both, so the double's
    rate limits and the bot's pacing and retries run on the clock the test moves."""

    def __init__(self, clock: ManualClock) -> None:
        self._clock = clock

    def now(self) -> float:
        return self._clock.now().timestamp()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def slack(clock: ManualClock) -> Iterator[SlackSim]:
    sim = SlackSim.start(clock=SharedTime(clock))
    yield sim
    sim.stop()


@pytest.fixture
def store(tmp_path):
    with open_store(tmp_path / "drbot.db") as s:
        yield s


def poster_for(slack: SlackSim, clock: ManualClock | None = None) -> Poster:
    """A poster over the bot's own WebClient; it waits Retry-After on `clock` when given."""
    endpoints = slack.endpoints()
    config = SlackConfig.model_validate(
        {
            "bot_token": endpoints["bot_token"],
            "app_token": endpoints["app_token"],
            "api_url": endpoints["api_url"],
            "channels": {"requests": OPS, "audit": AUDIT},
        }
    )
    return Poster(make_client(config, clock))


def event(run_id: int, type_: str, **fields) -> RunEvent:
    return RunEvent(run_id=run_id, type=type_, at=datetime(2026, 12, 4, tzinfo=UTC), **fields)


def header(slack: SlackSim, root: str) -> str:
    """The header of the progress message (the first reply of the run's thread)."""
    progress = slack.world.conversations.thread(OPS, root)[1]
    return str(progress.blocks[0]["text"]["text"])


def started_board(slack, store, clock, summaries: list[int]) -> tuple[ProgressBoard, str]:
    poster = poster_for(slack, clock)
    threads = Threads(store)
    root = poster.post(OPS, blocks.note("Failover of all: approval needed"))
    threads.attach(1, OPS, root)

    def summarise(run_id: int, rto: float | None) -> blocks.Message:
        summaries.append(run_id)
        return blocks.note(f"run {run_id} ended")

    board = ProgressBoard(poster, threads, clock, interval=1.0, summarise=summarise)
    board.begin(1, "failover", "all", {f"vm{n:04d}": f"app{n // 10:03d}" for n in range(1000)})
    return board, root


def test_a_thousand_vm_events_make_one_edit_a_second(slack, store, clock):
    """Events of 1,000 VMs within one second give one message; more events in the same second
    no edit; the next second one edit: calls follow time, not the VM count."""
    board, root = started_board(slack, store, clock, [])
    for n in range(1000):
        board.note(event(1, "vm", subject=f"vm{n:04d}", vm_status="recovered", phase="recover"))
    assert board.flush_due() == 1
    for n in range(1000):
        board.note(event(1, "vm", subject=f"vm{n:04d}", vm_status="started", phase="start"))
    assert board.flush_due() == 0
    clock.advance(1.0)
    assert board.flush_due() == 1
    assert len(slack.calls("chat.update")) == 1
    progress = slack.world.conversations.thread(OPS, root)[1]
    assert progress.thread_ts == root
    assert "1000 of 1000 done" in str(progress.blocks)


def test_the_final_state_and_summary_are_written_once(slack, store, clock):
    """A run's end is written even right after an edit (once the interval passes), and its
    summary is posted once in the thread."""
    summaries: list[int] = []
    board, root = started_board(slack, store, clock, summaries)
    board.note(event(1, "state", state="running", phase="recover"))
    board.flush_due()
    board.note(event(1, "state", state="succeeded"))
    assert board.flush_due() == 0  # within the second: waits, is not dropped
    clock.advance(1.0)
    board.flush_due()
    clock.advance(5.0)
    board.flush_due()
    thread = slack.world.conversations.thread(OPS, root)
    assert header(slack, root).endswith("succeeded")
    assert [m.text for m in thread[2:]] == ["run 1 ended"]
    assert summaries == [1]


def test_progress_survives_slack_refusing_and_honours_429(slack, store, clock):
    """While Slack is down (503 to every call, retried on the clock) the final state stays
    due; a 429 is retried after Retry-After; the last edit shows the final state."""
    board, root = started_board(slack, store, clock, [])
    board.flush_due()
    board.note(event(1, "state", state="failed"))
    slack.world.outage = True  # Slack down: 503 to everything
    clock.advance(1.0)
    board.flush_due()
    assert "failed" not in header(slack, root)
    assert [c.status for c in slack.calls("chat.update")] == [503] * 3  # tried, retried twice
    slack.world.outage = False
    slack.world.limiter.force("chat.update", count=1, retry_after=1)
    clock.advance(1.0)
    board.flush_due()
    assert [c.status for c in slack.calls("chat.update")][-2:] == [429, 200]
    assert header(slack, root).endswith("failed")


def test_audit_entries_are_posted_in_batches_in_order(slack, store, clock):
    """45 audit entries become 3 messages of at most 20, in order, each entry once."""
    for n in range(45):
        store.audit.append("Decision", "slack:U0ONCALL01", {"n": n})
    feed = AuditFeed(store, poster_for(slack, clock), AUDIT, clock, batch=20)
    assert feed.run_once() == 45
    assert feed.run_once() == 0
    posted = slack.world.conversations.history(AUDIT)
    assert len(posted) == 3
    seqs = [int(s) for m in posted for s in re.findall(r"`#(\d+)`", str(m.blocks))]
    assert seqs == list(range(1, 46))


def test_audit_entries_wait_while_slack_is_down(slack, store, clock):
    """Entries written while Slack refuses are posted, each once, when it answers again."""
    feed = AuditFeed(store, poster_for(slack, clock), AUDIT, clock, batch=20)
    token = slack.endpoints()["bot_token"]
    slack.world.revoked_tokens.add(token)
    for n in range(5):
        store.audit.append("Decision", "slack:U0ONCALL01", {"n": n})
    assert feed.run_once() == 0
    assert len(store.outbox.pending("audit")) == 5
    slack.world.revoked_tokens.discard(token)
    assert feed.run_once() == 5
    assert store.outbox.pending("audit") == []
    assert len(slack.world.conversations.history(AUDIT)) == 1


def test_an_old_run_is_edited_every_tenth_of_its_age(slack, store, clock):
    """Ten minutes into a run, edits come a minute apart: a long run spends few calls."""
    board, _ = started_board(slack, store, clock, [])
    clock.advance(600.0)
    board.note(event(1, "state", state="running", phase="recover"))
    assert board.flush_due() == 1
    board.note(event(1, "vm", subject="vm0001", vm_status="started"))
    clock.advance(30.0)
    assert board.flush_due() == 0
    clock.advance(40.0)
    assert board.flush_due() == 1


def _anchors_posted(slack: SlackSim) -> list[int]:
    """Entry numbers of the anchors in the audit channel, in order."""
    return [
        int(re.search(r"entry (\d+) has hash", m.text).group(1))  # type: ignore[union-attr]  # filtered on the line below
        for m in slack.world.conversations.history(AUDIT)
        if "Audit anchor" in m.text
    ]


def test_the_chain_head_is_anchored_to_the_channel_after_its_entries(slack, store, clock):
    """120 entries are anchored at 50 and 100 (store/audit.py): the newest ready anchor reaches
    the audit channel once, after the entries it covers, with the anchor file's own line, and
    says it vouches for the earlier one (a large run writes dozens: one message, not dozens)."""
    for n in range(120):
        store.audit.append("Decision", "slack:U0ONCALL01", {"n": n})
    feed = AuditFeed(store, poster_for(slack, clock), AUDIT, clock, batch=40)
    feed.run_once()
    feed.run_once()
    posted = slack.world.conversations.history(AUDIT)
    assert _anchors_posted(slack) == [100]
    for position, message in enumerate(posted):
        if "Audit anchor" in message.text:
            seq = int(re.search(r"entry (\d+)", message.text).group(1))  # type: ignore[union-attr]  # an anchor names its entry
            before = " ".join(str(m.blocks) for m in posted[:position])
            assert f"`#{seq}`" in before, f"anchor {seq} came before its entry"
    lines = store.audit.anchor_file.read_text().splitlines()
    shown = [str(m.blocks).replace("\\", "") for m in posted if "Audit anchor" in m.text]
    assert lines[1] in shown[0]
    assert "vouches for the 1 earlier anchors" in shown[0]


def test_a_quiet_trail_is_anchored_at_intervals_and_other_processes_anchors_posted(
    slack, store, clock, tmp_path
):
    """Five entries and an hour on the clock: the feed anchors the head (entry 5) and posts
    it; another hour with nothing new anchors nothing; an anchor a second process wrote (the
    CLI closing its store) is posted too."""
    feed = AuditFeed(store, poster_for(slack, clock), AUDIT, clock, anchor_every=3_600)
    for n in range(5):
        store.audit.append("Decision", "slack:U0ONCALL01", {"n": n})
    feed.run_once()
    assert _anchors_posted(slack) == []
    clock.advance(3_600)
    feed.run_once()
    assert _anchors_posted(slack) == [5]
    clock.advance(3_600)
    feed.run_once()
    assert _anchors_posted(slack) == [5]
    with open_store(tmp_path / "drbot.db") as other:
        other.audit.append("BreakGlass", "cli:root", {"run_id": 1})
    feed.run_once()
    assert _anchors_posted(slack) == [5, 6]


def test_while_slack_is_down_the_anchor_is_kept_and_posted_after_its_entries(slack, store, clock):
    """Slack is down (503) while entries come and the hour passes: the feed anchors the head
    all the same (the anchor file) and posts nothing; once Slack is back the entries go to
    the audit channel, then the anchor, each once; the retries were waited on the clock."""
    feed = AuditFeed(store, poster_for(slack, clock), AUDIT, clock, anchor_every=3_600)
    slack.world.outage = True
    for n in range(5):
        store.audit.append("Decision", "slack:U0ONCALL01", {"n": n})
    assert feed.run_once() == 0
    clock.advance(3_600)
    assert feed.run_once() == 0
    assert [a.seq for a in read_anchors(store.audit.anchor_file)] == [5]
    assert slack.world.conversations.history(AUDIT) == []
    assert len(slack.calls("chat.postMessage")) >= 2
    assert {c.status for c in slack.calls("chat.postMessage")} == {503}
    slack.world.outage = False
    assert feed.run_once() == 5
    feed.run_once()
    posted = slack.world.conversations.history(AUDIT)
    assert [int(s) for s in re.findall(r"`#(\d+)`", str(posted[0].blocks))] == [1, 2, 3, 4, 5]
    assert _anchors_posted(slack) == [5]
    assert "Audit anchor" in posted[-1].text
    assert len(posted) == 2


def test_a_final_edit_refused_while_slack_is_down_is_made_when_it_is_back(slack, clock):
    """Slack is down while a storage step's message loses its Done (a final edit) and a
    progress message is edited (not final): once a write gets through again, the final edit
    is made, once; the progress edit is left to its board (made late, it could overwrite a
    newer one)."""
    poster = poster_for(slack, clock)
    step = poster.post(OPS, blocks.note("Promote LUN gold [Done]"))
    progress = poster.post(OPS, blocks.note("Run 1: running"))
    slack.world.outage = True
    with pytest.raises(SlackApiError):
        poster.update(OPS, step, blocks.note("Confirmed by olivia"), final=True)
    with pytest.raises(SlackApiError):
        poster.update(OPS, progress, blocks.note("Run 1: 10 of 20"))
    slack.world.outage = False
    poster.post(OPS, blocks.note("Slack answers again"))
    shown = {m.ts: m.text for m in slack.world.conversations.history(OPS)}
    assert shown[step] == "Confirmed by olivia"
    assert shown[progress] == "Run 1: running"
    edits = [c for c in slack.calls("chat.update") if c.status == 200]
    assert [c.args["ts"] for c in edits] == [step]


def test_a_refused_final_edit_is_dropped_once_a_later_edit_got_through(slack, clock):
    """A final edit refused, then a newer edit of the same message accepted: the refused one
    is never made (it would undo the newer)."""
    poster = poster_for(slack, clock)
    ts = poster.post(OPS, blocks.note("first"))
    slack.world.outage = True
    with pytest.raises(SlackApiError):
        poster.update(OPS, ts, blocks.note("older"), final=True)
    slack.world.outage = False
    poster.update(OPS, ts, blocks.note("newer"), final=True)
    poster.post(OPS, blocks.note("another write"))
    assert slack.world.find_message(OPS, ts).text == "newer"  # type: ignore[union-attr]  # posted above
