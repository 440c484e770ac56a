"""`/healthz`, `/readyz` and `/metrics` of the bot as `drbot serve` runs it, on sim/xapi and
sim/slack: a test failover asked and approved in Slack shows in the metrics, a lost DR pool
makes the bot unready, and Slack's errors and 429s are counted."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from tests.bot.conftest import OPS, ask, finished, started_run
from tests.ops.stack import Stack, served_stack

DRILL = "test-failover all --disable-ha"
OUTCOME = "partially-succeeded"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with served_stack(tmp_path_factory.mktemp("stack")) as s:
        yield s


@pytest.fixture(scope="module")
def drill(stack: Stack) -> int:
    """One test failover, asked by olivia and approved by alex in Slack; its run id. (The mini
    estate has a VM created inside the replication lag: the run partially succeeds.)"""
    world = stack.world
    approval = ask(world, "olivia", DRILL)
    world.slack.person("alex").click(OPS, approval.ts, action_id="dr_approve")
    run_id = started_run(world, approval)
    assert finished(world, run_id).state == OUTCOME
    return run_id


def samples(stack: Stack) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of /metrics: (name, labels) -> value."""
    status, text = stack.get("/metrics")
    assert status == 200
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, frozenset(labels.items())), 0.0)


def test_healthz_answers_while_the_process_serves(stack: Stack) -> None:
    """/healthz is 200; an unknown path is 404."""
    assert stack.get("/healthz") == (200, "ok\n")
    assert stack.get("/nope")[0] == 404


def test_readyz_is_ready_with_slack_connected_store_writable_and_pools_answering(
    stack: Stack,
) -> None:
    """After a look at the pools, /readyz is 200 and says each check passed."""
    stack.health.monitor.refresh()
    status, body = stack.get("/readyz")
    report = json.loads(body)
    assert status == 200
    assert report["ready"] is True
    names = {c["name"]: c["ok"] for c in report["checks"]}
    assert names == {"slack": True, "store": True, "pool:prod": True, "pool:dr": True}


def test_a_drill_shows_in_runs_steps_xapi_calls_and_the_last_drill_rto(
    stack: Stack, drill: int
) -> None:
    """After one test failover: one run counted by kind and outcome, its steps timed
    (recover and start among them), XAPI calls timed per method, and the drill's RTO read from
    the store."""
    found = samples(stack)
    assert value(found, "drbot_runs_total", kind="test-failover", outcome=OUTCOME) == 1
    assert value(found, "drbot_step_duration_seconds_count", step="recover") >= 1
    assert value(found, "drbot_step_duration_seconds_count", step="cleanup") >= 1
    assert (
        value(found, "drbot_xapi_call_duration_seconds_count", method="session.login_with_password")
        >= 1
    )
    rto = stack.world.service.wiring.store.drills.into("dr", limit=1, kind="test-failover")
    assert rto, "the drill was not recorded"
    assert value(found, "drbot_last_drill_rto_seconds", pool="prod", dr_pool="dr") == pytest.approx(
        rto[0]["rto_seconds"]
    )


def test_run_log_lines_carry_the_run_id_and_the_actor(stack: Stack, drill: int) -> None:
    """The JSON log has a line for each state change of the drill, with its run id and the
    person who asked for it."""
    lines = [
        json.loads(line) for line in stack.logs.getvalue().splitlines() if line.startswith("{")
    ]
    states = [
        line
        for line in lines
        if line.get("logger") == "drbot.runs"
        and line.get("run_id") == drill
        and line["message"].startswith("run state")
    ]
    assert states, "no state line for the drill"
    olivia = stack.world.slack.workspace.user("olivia").id
    assert {line["actor"] for line in states} == {f"slack:{olivia}"}
    assert any(line["message"] == f"run state {OUTCOME}" for line in states)


def test_slack_errors_and_429s_are_counted(stack: Stack) -> None:
    """A Slack call answered channel_not_found counts as an error of that method; a 429 from
    Slack counts as rate limited (and is retried by the client)."""
    from slack_sdk.errors import SlackApiError

    client = stack.world.serving.bot.client
    with pytest.raises(SlackApiError):
        client.conversations_info(channel="C0NOSUCH99")
    stack.world.slack.world.limiter.force("auth.test", 1, 0)
    assert client.auth_test()["ok"] is True
    found = samples(stack)
    assert (
        value(
            found,
            "drbot_slack_api_errors_total",
            method="conversations.info",
            error="channel_not_found",
        )
        == 1
    )
    assert value(found, "drbot_slack_rate_limited_total", method="auth.test") == 1


def test_a_lost_dr_pool_makes_the_bot_unready_a_lost_primary_does_not(
    stack: Stack, drill: int
) -> None:
    """With the primary site failed /readyz stays 200 (that is the disaster drbot serves) and
    says prod does not answer; with the DR site failed it is 503."""
    world = stack.world
    try:
        world.control("/sites/primary/fail")
        stack.health.monitor.refresh()
        status, body = stack.get("/readyz")
        checks = {c["name"]: c for c in json.loads(body)["checks"]}
        assert status == 200
        assert checks["pool:prod"]["ok"] is False
        assert checks["pool:prod"]["gating"] is False
        world.control("/sites/dr/fail")
        stack.health.monitor.refresh()
        status, body = stack.get("/readyz")
        assert status == 503
        assert value(samples(stack), "drbot_pool_reachable", pool="dr") == 0
    finally:
        world.control("/sites/primary/restore")
        world.control("/sites/dr/restore")


def test_readiness_samples_in_the_store_are_exported_per_pool(stack: Stack) -> None:
    """The newest readiness sample of a pool is its verdict (1) and lag on /metrics."""
    store = stack.world.service.wiring.store
    now = stack.world.service.wiring.clock.now()
    store.history.add_sample("prod", "ready", at=now, dr_pool="dr", lag_seconds=30.0)
    store.history.add_sample("prod", "degraded", at=now, dr_pool="dr", lag_seconds=420.0)
    found = samples(stack)
    assert value(found, "drbot_pool_readiness", pool="prod", verdict="degraded") == 1
    assert value(found, "drbot_pool_readiness", pool="prod", verdict="ready") == 0
    assert value(found, "drbot_pool_replication_lag_seconds", pool="prod") == 420.0


def test_a_refused_xapi_login_counts_as_an_error_of_that_call(stack: Stack) -> None:
    """A login with a wrong password, made by a client with the metrics' observer, counts under
    session.login_with_password with XAPI's error code."""
    from engine.errors import XapiError
    from engine.xapi import XapiClient

    endpoint = stack.settings.engine.pools["dr"].model_copy(update={"password": SecretStr("wrong")})
    with pytest.raises(XapiError):
        XapiClient.connect(endpoint, observer=stack.metrics.xapi_observer)
    found = samples(stack)
    assert (
        value(
            found,
            "drbot_xapi_call_errors_total",
            method="session.login_with_password",
            code="SESSION_AUTHENTICATION_FAILED",
        )
        >= 1
    )
