"""The `/dr` text parser: every command, every kind of mistake, and fuzzed input."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from commands.parse import MissingReason, ParseError, parse
from commands.requests import (
    AbortRequest,
    ApproveRequest,
    AuditRequest,
    CancelRequest,
    ConfirmStorageRequest,
    DrillRequest,
    FailbackRequest,
    FailoverRequest,
    HelpRequest,
    PlanRequest,
    RejectRequest,
    ResumeRequest,
    RunsRequest,
    ShowRequest,
    StatusRequest,
    TestFailoverRequest,
)

VALID = [
    ("", HelpRequest()),
    ("help", HelpRequest()),
    ("help failover", HelpRequest(topic="failover")),
    ("status", StatusRequest()),
    ("status dr", StatusRequest(pool="dr")),
    (
        "plan test-failover all --disable-ha",
        PlanRequest(kind="test-failover", target="all", disable_ha=True),
    ),
    (
        "plan failover app:payments --planned --pool prod --power leave-off",
        PlanRequest(
            kind="failover", target="app:payments", planned=True, pool="prod", power="leave-off"
        ),
    ),
    ("test-failover web-shop", TestFailoverRequest(target="web-shop")),
    (
        "test-failover web-shop --reason quarterly drill",
        TestFailoverRequest(target="web-shop", reason="quarterly drill"),
    ),
    ("test-failover web-shop, crm", TestFailoverRequest(target="web-shop,crm")),
    ("test-failover web-shop crm", TestFailoverRequest(target="web-shop,crm")),
    ('test-failover "web shop"', TestFailoverRequest(target="web shop")),
    ("test-failover \u201cweb shop\u201d", TestFailoverRequest(target="web shop")),
    (
        "failover all --planned --reason DC1 lost power",
        FailoverRequest(target="all", planned=True, reason="DC1 lost power"),
    ),
    (
        "failover --reason 'array gone' --planned app:payments",
        FailoverRequest(target="app:payments", planned=True, reason="array gone"),
    ),
    (
        "failback all --reason primary is back --pool prod",
        FailbackRequest(target="all", reason="primary is back", pool="prod"),
    ),
    ("runs", RunsRequest()),
    ("runs 5", RunsRequest(limit=5)),
    ("show 12", ShowRequest(run_id=12)),
    ("show #12", ShowRequest(run_id=12)),
    ("cancel 3", CancelRequest(run_id=3)),
    ("resume 3", ResumeRequest(run_id=3)),
    ("resume 3 --storage-done", ResumeRequest(run_id=3, storage_done=True)),
    ("abort 4", AbortRequest(run_id=4)),
    ("drill", DrillRequest()),
    ("drill --pool prod", DrillRequest(pool="prod")),
    ("audit", AuditRequest()),
    ("audit 50", AuditRequest(limit=50)),
    ("approve 7", ApproveRequest(approval_id=7)),
    ("reject 7 --reason wrong app", RejectRequest(approval_id=7, reason="wrong app")),
    ("confirm-storage 9", ConfirmStorageRequest(run_id=9)),
    ("<@U0BOT> status", StatusRequest()),
    ("STATUS", StatusRequest()),
    ("test all", TestFailoverRequest(target="all")),
]


@pytest.mark.parametrize(("text", "expected"), VALID)
def test_each_command_parses_to_its_request(text, expected):
    """Every command, with its options anywhere and quoting, gives the expected request."""
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "partial"),
    [
        ("failover all", FailoverRequest(target="all")),
        ("failover all --planned --reason", FailoverRequest(target="all", planned=True)),
        ("failback web --reason '  '", FailbackRequest(target="web")),
        ("reject 7", RejectRequest(approval_id=7)),
    ],
)
def test_a_missing_reason_is_its_own_outcome(text, partial):
    """A failover, failback or reject without a reason is MissingReason with the rest parsed."""
    outcome = parse(text)
    assert isinstance(outcome, MissingReason)
    assert outcome.request == partial


ERRORS = [
    # (text, words the message must contain, usage contains, suggestion)
    ("tset-failover all", ["tset-failover", "test-failover"], "help", "test-failover"),
    ("failovr all", ["failovr"], "help", "failover"),
    ("frobnicate", ["frobnicate", "not a drbot command"], "help", None),
    ("status 'dr", ["quote"], "help", None),
    ("plan rollback all", ["rollback", "failback"], "/dr plan KIND TARGET", "failback"),
    ("plan test-failover", ["TARGET"], "/dr plan KIND TARGET", None),
    ("plan", ["KIND"], "/dr plan KIND TARGET", None),
    ("test-failover", ["TARGET"], "/dr test-failover TARGET", None),
    ("test-failover all --disable_ha", ["--disable_ha"], "--disable-ha", "--disable-ha"),
    ("test-failover all --planned", ["--planned"], "/dr test-failover", None),
    ("test-failover all --power on", ["--power", "on"], "/dr test-failover", None),
    ("test-failover all --pool", ["--pool", "value"], "/dr test-failover", None),
    ("test-failover all --pool a --pool b", ["twice"], "/dr test-failover", None),
    ("test-failover all --disable-ha=yes", ["no value"], "/dr test-failover", None),
    ("failover all --break-glass --reason x", ["CLI"], "/dr failover", None),
    ("show", ["RUN"], "/dr show RUN", None),
    ("show abc", ["abc"], "/dr show RUN", None),
    ("show 0", ["0"], "/dr show RUN", None),
    ("cancel 1 2", ["2"], "/dr cancel RUN", None),
    ("status a b", ["b"], "/dr status [POOL]", None),
    ("runs --limit 3", ["no option `--limit`"], "/dr runs", None),
    ("audit --limit 3", ["no options"], "/dr audit", None),
    ("audit 100000", ["500"], "/dr audit", None),
    ("approve x", ["x"], "/dr approve APPROVAL", None),
    ("test-failover ,,,", ["Say what to recover"], "/dr test-failover", None),
    ("test-failover a\x07b", ["control character"], "/dr test-failover", None),
]


@pytest.mark.parametrize(("text", "words", "usage", "suggestion"), ERRORS)
def test_each_mistake_gets_a_message_usage_and_suggestion(text, words, usage, suggestion):
    """Wrong input is a ParseError naming the problem, with the usage and nearest command."""
    outcome = parse(text)
    assert isinstance(outcome, ParseError), outcome
    for word in words:
        assert word in outcome.message, outcome.message
    assert usage in outcome.usage
    assert outcome.suggestion == suggestion
    assert "\n" not in outcome.message


def test_long_input_is_shortened_in_messages():
    """A 3,000-character unknown command is quoted back in at most 40 characters."""
    word = "x" * 3000
    outcome = parse(word)
    assert isinstance(outcome, ParseError)
    assert len(outcome.message) < 200
    assert "x" * 39 + "\u2026" in outcome.message


def test_input_beyond_the_limit_is_refused_with_its_length():
    """Text over 4,000 characters is refused saying how long it is and the limit."""
    outcome = parse("status " + "a" * 5000)
    assert isinstance(outcome, ParseError)
    assert "5007" in outcome.message
    assert "4000" in outcome.message


WORDS = st.sampled_from(
    [
        "status", "plan", "failover", "failback", "test-failover", "show", "resume", "approve",
        "reject", "help", "--reason", "--planned", "--pool", "--power", "--disable-ha",
        "--storage-done", "--break-glass", "all", "app:x", "12", "#3", "0", "-1", '"', "'",
        "\u201c", "--", "--pool=", "start", ",", "<@U1>",
    ]
)  # fmt: skip
TEXTS = st.one_of(
    st.text(max_size=300),
    st.lists(st.one_of(WORDS, st.text(max_size=12)), max_size=12).map(" ".join),
)


@settings(max_examples=3000, deadline=None)
@given(TEXTS)
def test_any_text_gives_a_request_or_an_error_with_a_message(text):
    """Whatever is typed, parse returns a request, a MissingReason or a ParseError with text."""
    outcome = parse(text)
    if isinstance(outcome, ParseError):
        assert outcome.message.strip()
        assert outcome.usage.strip()
    else:
        assert isinstance(outcome, MissingReason) or outcome.command
