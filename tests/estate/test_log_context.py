"""Every log line written inside a run or a request carries the run id and the actor, whichever
module wrote it (bot/logs.py): lines of a run's own thread name its run and the person who
asked for it; lines of the threads a request over several pools starts (its queue) name that
person, bound once where the front end handled the request."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from bot.logs import LogConfig, bound, configure_logging, run_log
from commands.events import EstateEvent
from commands.requests import TestFailoverRequest
from commands.results import EstateResult
from engine.events import RunEvent
from tests.commands.conftest import CLI


@contextmanager
def _logs() -> Iterator[io.StringIO]:
    """drbot's JSON logs into a buffer, the root logger as it was afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(LogConfig(format="json", level="INFO"), [], stream=stream)
    try:
        yield stream
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])


def test_lines_inside_runs_and_a_request_carry_run_id_and_actor(estate_service) -> None:
    """`test-failover site:east` asked by one person: a listener's lines on each run's thread
    (its steps) carry that run's id and the person; its lines on the request's queue thread
    (the request's progress) carry the person; drbot's own run lines too."""
    seen = logging.getLogger("drbot.test.listener")

    def listener(event: object) -> None:
        if isinstance(event, RunEvent) and event.type.startswith("step"):
            seen.info("step %s", event.step_key)  # no `extra`: the context must say
        elif isinstance(event, EstateEvent) and event.result.phase == "started":
            seen.info("request moved")

    with _logs() as stream:
        svc = estate_service()
        svc.subscribe(run_log(svc.wiring.store))
        svc.subscribe(listener)
        with bound(actor=CLI.label):  # as the front end does around a request
            asked = svc.dispatch(TestFailoverRequest(target="site:east"), CLI)
        assert isinstance(asked, EstateResult), asked
        summary = svc.estate.wait(asked.request_id, timeout=180.0)
    assert [i.state for i in summary.items] == ["succeeded", "succeeded"]
    run_ids = {i.run_id for i in summary.items}
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    steps = [x for x in lines if x["message"].startswith("step ")]
    moved = [x for x in lines if x["message"] == "request moved"]
    ours = [x for x in lines if x["logger"] == "drbot.runs"]
    assert steps
    assert moved
    assert ours
    assert {x["run_id"] for x in steps} == run_ids
    assert {x["actor"] for x in steps + moved + ours} == {CLI.label}
    assert {x["run_id"] for x in ours} == run_ids
