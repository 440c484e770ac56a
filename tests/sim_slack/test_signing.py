"""Request signing exactly as Slack documents it."""

from sim.slack.http_delivery import signature

# From Slack's "Verifying requests from Slack" page, as used by slack-sdk's own test.
DOC_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    "&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    "&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    "&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_documented_test_vector_reproduces():
    """The sim's signer gives Slack's documented signature for the documented request."""
    assert signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE


def test_signature_covers_the_raw_body():
    """Any change to the body changes the signature."""
    assert signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY + " ") != DOC_SIGNATURE


def test_bolts_verifier_takes_the_sims_signature_inside_five_minutes():
    """slack_sdk's verifier accepts the sim's signature 299 s later and refuses it at 301 s."""
    from slack_sdk.signature import SignatureVerifier

    class At:
        def __init__(self, now: float) -> None:
            self._now = now

        def now(self) -> float:
            return self._now

    signed = signature(DOC_SECRET, DOC_TIMESTAMP, DOC_BODY)
    for offset, valid in ((-299, True), (299, True), (301, False), (-301, False)):
        verifier = SignatureVerifier(DOC_SECRET, clock=At(int(DOC_TIMESTAMP) + offset))
        assert verifier.is_valid(DOC_BODY, DOC_TIMESTAMP, signed) is valid
