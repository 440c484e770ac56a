"""Whatever a person types and whoever they are, parse then dispatch answers with a typed
result and never raises (fuzzed with hypothesis against the demo simulator)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from commands.parse import MissingReason, ParseError, parse
from commands.results import Invalid, ReasonNeeded, Refused
from tests.commands.conftest import ALEX, NOBODY, OLIVIA, VICTOR, person, policy

PEOPLE = [NOBODY, VICTOR, OLIVIA, ALEX, person("U0OLIVIA", "olivia", channel="C0RANDOM")]
WORDS = st.sampled_from(
    [
        "status", "plan", "failover", "failback", "test-failover", "runs", "show", "cancel",
        "resume", "abort", "drill", "audit", "approve", "reject", "confirm-storage", "help",
        "test-failover", "all", "web-shop", "crm", "nosuch", "app:payments", "1", "2", "#1",
        "99", "--reason", "why", "--planned", "--disable-ha", "--pool", "prod", "dr", "--power",
        "leave-off", "--storage-done",
    ]
)  # fmt: skip
COMMANDS = st.sampled_from(
    [
        "status", "plan test-failover", "plan failover", "plan failback", "test-failover",
        "failover", "failback", "runs", "show", "cancel", "resume", "abort", "drill", "audit",
        "approve", "reject", "confirm-storage", "help",
    ]
)  # fmt: skip
TEXTS = st.one_of(
    st.tuples(COMMANDS, st.lists(WORDS, max_size=5)).map(lambda t: " ".join([t[0], *t[1]])),
    st.lists(WORDS, min_size=1, max_size=6).map(" ".join),
)


# Quorums no one can reach: the fuzz asks for runs but never leaves one running at teardown.
UNREACHABLE = {k: 10 for k in ("test-failover", "failover", "failback", "resume", "abort")}


def test_any_command_from_anyone_gets_a_typed_answer(service):
    """parse + dispatch: a request gets a result; refusals and errors carry a sentence."""
    svc = service(policy(quorum=UNREACHABLE))
    answers: set[str] = set()

    @settings(max_examples=250, deadline=None, derandomize=True)
    @given(text=TEXTS, who=st.sampled_from(PEOPLE))
    def check(text: str, who) -> None:
        outcome = parse(text)
        if isinstance(outcome, ParseError):
            assert outcome.message
            return
        request = outcome.request if isinstance(outcome, MissingReason) else outcome
        result = svc.dispatch(request, who)
        answers.add(result.type)
        if isinstance(result, Refused):
            assert result.reason
        if isinstance(result, Invalid):
            assert result.message
        if isinstance(result, ReasonNeeded):
            assert result.request.reason is None

    check()
    assert svc.wiring.store.runs.list() == []
    # Derandomized, so the same requests every time: they reach the deeper answers too.
    assert {"refused", "approval-opened", "reason-needed", "runs", "audit"} <= answers
    print(sorted(answers))
