"""An interrupted failover is never resumed by one person: the bot killed mid-failover and
restarted shows the run with Resume / Abort; olivia's Resume asks for approval in the run's
thread; her own approval is refused; alex's resumes it, and no VM is recovered twice."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.demo import approval_id_of, simulators, start_stack, wait_until
from tests.bot.conftest import OPS, SPEED, ShiftedClock, ask, bot_said
from tests.bot.test_restart import _stall_recovery, recover_calls

OLIVIA = "U0ONCALL01"
ENDED = {"succeeded", "partially-succeeded", "failed", "cancelled", "aborted"}


@pytest.mark.slow
def test_an_interrupted_failover_resumes_only_with_a_second_person(tmp_path: Path):
    """Killed while the failover recovers VMs, the next bot posts Resume / Abort in the
    run's thread; olivia's Resume opens an approval there (the run stays interrupted), her
    own Approve is refused, alex's resumes the run to its end with each VM recovered once."""
    with simulators(tmp_path / "w", scenario="mini", speed=SPEED) as sims:
        sims.control("/sites/primary/fail")
        child = subprocess.Popen(  # the bot as it runs in production, to be killed
            [sys.executable, "-m", "bot.cli", "serve", "--config", str(sims.config_path)],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(sims.slack.socket.links, timeout=60)
            _stall_recovery(sims)
            approval = ask(sims, "olivia", "failover all --reason the primary is dark")  # type: ignore[arg-type]  # Simulators has what ask uses
            sims.slack.person("alex").click(OPS, approval.ts, action_id="dr_approve")
            sims.slack.person("priya").click(OPS, approval.ts, action_id="dr_approve")
            wait_until(lambda: sum(recover_calls(sims).values()) > 0, timeout=60)
        finally:
            child.kill()
            child.wait(timeout=30)
        sims.slack.socket.drop()
        sims.control("/faults", method="DELETE")
        since = sims.slack.record.last_seq()
        service, serving = start_stack(sims, clock=ShiftedClock(600))
        try:
            shown = bot_said(sims, since, kind="thread_reply", text="dr_resume")  # type: ignore[arg-type]  # as above
            assert shown.thread_ts == approval.ts
            run_id = service.wiring.store.runs.list(limit=1)[0].id
            since = sims.slack.record.last_seq()
            sims.slack.person("olivia").click(OPS, shown.ts, action_id="dr_resume")
            asked = bot_said(sims, since, kind="thread_reply", text="approval needed")  # type: ignore[arg-type]  # as above
            assert asked.thread_ts == approval.ts
            assert service.wiring.store.runs.get(run_id).state == "interrupted"
            since = sims.slack.record.last_seq()
            sims.slack.person("olivia").click(OPS, asked.ts, action_id="dr_approve")
            refusal = bot_said(sims, since, kind="ephemeral", to=OLIVIA)  # type: ignore[arg-type]  # as above
            assert "approve" in refusal.text
            assert service.approval(approval_id_of(asked)).votes == []
            assert service.wiring.store.runs.get(run_id).state == "interrupted"
            sims.slack.person("alex").click(OPS, asked.ts, action_id="dr_approve")
            run = wait_until(
                lambda: (r := service.wiring.store.runs.get(run_id)).state in ENDED and r,
                timeout=120,
            )
            assert run.state in ("succeeded", "partially-succeeded"), run
            assert max(recover_calls(sims).values()) == 1
        finally:
            serving.stop()
            service.close()
