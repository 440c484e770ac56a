"""The bot dies mid-run and comes back; Socket Mode drops mid-run. People still see where the
run is, resume it with a button, and no VM is recovered twice (sim/xapi's call log)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from bot.demo import simulators, start_stack, wait_until
from tests.bot.conftest import OPS, SPEED, ShiftedClock, ask, bot_said, finished, started_run


def recover_calls(sims) -> Counter[str]:
    """VM.recover calls in sim/xapi's call log, by the VM they recovered."""
    calls = sims.control("/calls?since=0", method="GET")
    calls = calls["calls"] if isinstance(calls, dict) else calls
    return Counter(
        str(c["args"][0])
        for c in calls
        if c["method"] in ("VM.recover", "Async.VM.recover") and c["args"]
    )


@pytest.mark.slow
def test_killed_mid_run_then_restarted_shows_the_run_and_resumes_by_button(tmp_path: Path):
    """drbot serve (a child process) is killed while a test failover recovers VMs; the next
    drbot finds the run interrupted, posts it in its thread with Resume / Abort; olivia
    clicks Resume; the run ends, no VM was recovered twice, and the Resume / Abort message
    says the run is no longer interrupted and keeps no button."""
    with simulators(tmp_path / "w", scenario="mini", speed=SPEED) as sims:
        child = subprocess.Popen(  # the bot as it runs in production, to be killed
            [sys.executable, "-m", "bot.cli", "serve", "--config", str(sims.config_path)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(lambda: sims.slack.socket.links(), timeout=60)
            _stall_recovery(sims)
            approval = ask(sims, "olivia", "test-failover all --disable-ha")  # type: ignore[arg-type]
            since = sims.slack.person("alex").click(OPS, approval.ts, action_id="dr_approve")
            # The run reaches its recovery, where VM.recover stalls in sim/xapi.
            bot_said(
                sims,
                0,
                kind=("thread_reply", "edit"),
                text="recover",
                thread_ts=approval.ts,
                timeout=60,
            )  # type: ignore[arg-type]
        finally:
            child.kill()
            child.wait(timeout=30)
        sims.slack.socket.drop()
        sims.control("/faults", method="DELETE")
        since = sims.slack.record.last_seq()
        service, serving = start_stack(sims, clock=ShiftedClock(600))
        try:
            shown = bot_said(sims, since, kind="thread_reply", text="dr_resume")  # type: ignore[arg-type]
            assert shown.thread_ts == approval.ts
            since = sims.slack.record.last_seq()
            sims.slack.person("olivia").click(OPS, shown.ts, action_id="dr_resume")
            run_id = service.wiring.store.runs.list(limit=1)[0].id
            ended = {"succeeded", "partially-succeeded", "failed", "cancelled", "aborted"}
            run = wait_until(
                lambda: (r := service.wiring.store.runs.get(run_id)).state in ended and r,
                timeout=120,
            )
            assert run.state in ("succeeded", "partially-succeeded"), run
            recovered = recover_calls(sims)
            assert recovered, "the resumed run recovered VMs"
            assert max(recovered.values()) == 1
            gone = bot_said(sims, since, kind="edit", text="nothing left to resume")  # type: ignore[arg-type]
            assert gone.ts == shown.ts
            assert sims.slack.person("olivia").buttons(OPS, shown.ts or "") == []
        finally:
            serving.stop()
            service.close()


def _stall_recovery(sims) -> None:
    import json
    import urllib.request

    request = urllib.request.Request(
        sims.xapi.control_url + "/faults",
        data=json.dumps({"kind": "task_stall", "method": "VM.recover"}).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30):
        pass


def test_socket_mode_drop_mid_run_reconnects_and_the_run_is_still_followed(socket_world):
    """Slack tells the bot to refresh its connection while a test failover runs: the bot
    opens a new connection, keeps answering commands, and the run's summary still arrives."""
    world = socket_world
    approval = ask(world, "olivia", "test-failover all --disable-ha")
    world.slack.person("alex").click(OPS, approval.ts, action_id="dr_approve")
    run_id = started_run(world, approval)
    opened = len(world.slack.calls("apps.connections.open"))
    world.slack.socket.disconnect("refresh_requested")
    wait_until(lambda: len(world.slack.calls("apps.connections.open")) > opened, timeout=30)
    wait_until(lambda: world.slack.socket.links(), timeout=30)
    since = world.command("victor", "status")
    bot_said(world, since, kind="message", text="DR readiness")
    assert finished(world, run_id).state in ("succeeded", "partially-succeeded")
