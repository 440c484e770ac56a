"""No secret drbot holds (pool passwords, Slack tokens, the signing secret, the audit key)
reaches a log line or the audit trail, through a whole run asked and approved in Slack with
every library logging at DEBUG."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path

from bot.logs import REDACTED, LogConfig, Redact, configure_logging
from tests.bot.conftest import OPS, ask, finished, started_run
from tests.ops.stack import served_stack


def _secrets(settings) -> dict[str, str]:
    found = {
        f"engine.pools.{name}.password": pool.password.get_secret_value()
        for name, pool in settings.engine.pools.items()
    }
    slack = settings.slack
    found["slack.bot_token"] = slack.bot_token.get_secret_value()
    found["slack.app_token"] = slack.app_token.get_secret_value()
    found["slack.signing_secret"] = slack.signing_secret.get_secret_value()
    key_file = settings.audit.files(settings.store_path).key_file
    found["audit key"] = key_file.read_text().strip()
    return found


def test_no_secret_in_logs_or_audit_trail_through_a_whole_run(tmp_path: Path) -> None:
    """A test failover asked by olivia and approved by alex, logged at DEBUG: neither the log
    (every Slack request among its lines) nor the audit trail holds any secret."""
    with served_stack(tmp_path / "stack", level="DEBUG") as stack:
        world = stack.world
        approval = ask(world, "olivia", "test-failover all --disable-ha")
        world.slack.person("alex").click(OPS, approval.ts, action_id="dr_approve")
        run_id = started_run(world, approval)
        finished(world, run_id)
        logging.getLogger("drbot.test").warning(
            "a careless line: %s", stack.settings.slack.bot_token.get_secret_value()
        )
        secrets = _secrets(stack.settings)
        logs = stack.logs.getvalue()
        audit = json.dumps(world.service.wiring.store.audit.entries(), default=str)
    lines = logs.splitlines()
    assert len(lines) > 100
    assert any("api/chat.postMessage" in line for line in lines)  # Slack's requests were logged
    assert f"a careless line: {REDACTED}" in logs
    assert "VM.recover" in audit or "test-failover" in audit  # the trail is the run's
    leaked = {name for name, value in secrets.items() if value in logs or value in audit}
    assert leaked == set()


def test_redaction_covers_arguments_and_tracebacks() -> None:
    """A secret passed as a format argument or inside an exception's traceback is replaced."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging(LogConfig(format="json"), ["hunter2-pool-password"], stream=stream)
        log = logging.getLogger("drbot.test")
        log.info("login with %s", "hunter2-pool-password")
        try:
            raise RuntimeError("refused: hunter2-pool-password")
        except RuntimeError:
            log.exception("it failed")
    finally:
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == f"login with {REDACTED}"
    assert f"refused: {REDACTED}" in lines[1]["exc_info"]
    assert "hunter2" not in stream.getvalue()


def test_short_values_are_not_taken_for_secrets() -> None:
    """A value under six characters (no real token) is not redacted from ordinary words."""
    assert Redact(["root"]).scrub("user root logged in") == "user root logged in"
