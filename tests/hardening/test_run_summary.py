"""The run summary posted in Slack shows why a run ended only when there is such a reason: a
run that succeeded (it has a request reason, no error) showed a stray `· _-_` line."""

from __future__ import annotations

import json

from bot.slack import blocks
from tests.bot import estate


def _texts(message: blocks.Message) -> list[str]:
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(message.blocks)
    return found


def test_a_succeeded_run_with_a_request_reason_shows_no_empty_reason_line():
    """A run that ended without an error shows no reason line, whatever reason it was asked
    with: no `_-_`, no empty italics."""
    plan = estate.big_plan(apps=2, per_app=3)
    view = estate.run_view(plan, failed_every=0)
    run = estate.run_summary(state="succeeded").model_copy(
        update={"reason": "primary site restored", "error": None}
    )
    message = blocks.summary_message(view.model_copy(update={"run": run}), 5.0)
    texts = _texts(message)
    assert not [t for t in texts if t.strip("_ -·") == ""], texts
    assert "_-_" not in json.dumps(message.blocks)


def test_a_failed_run_shows_why_it_ended():
    """A run that ended with an error shows that error in the summary."""
    plan = estate.big_plan(apps=2, per_app=3)
    view = estate.run_view(plan, failed_every=2)
    run = estate.run_summary(state="failed").model_copy(
        update={"error": "attach SR Gold iSCSI 01 failed: SR_BACKEND_FAILURE_47"}
    )
    message = blocks.summary_message(view.model_copy(update={"run": run}), 5.0)
    assert "SR_BACKEND_FAILURE_47" in json.dumps(message.blocks)
