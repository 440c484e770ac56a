"""Block Kit: the limits the double checks and the plain-text rendering people read."""

from sim.slack import blockkit
from tests.sim_slack.bolt_app import REASON_MODAL, plan_blocks


def test_buttons_are_numbered_in_reading_order():
    """A section accessory and an actions block number their buttons 1, 2, 3 in order."""
    blocks = [
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": "Plan"},
            "accessory": {
                "type": "button",
                "action_id": "details",
                "text": {"type": "plain_text", "text": "Details"},
            },
        },
        *plan_blocks("R9")[2:],
    ]
    rendered = blockkit.render("fallback", blocks)
    assert [(b.number, b.text, b.action_id) for b in rendered.buttons] == [
        (1, "Details", "details"),
        (2, "Approve", "approve"),
        (3, "Reject", "reject"),
    ]
    assert "[2] Approve  [3] Reject" in rendered.text
    assert rendered.buttons[1].confirm["title"]["text"] == "Approve failover?"


def test_rendering_shows_headers_fields_context_and_names():
    """Headers, fields, context and mentions render as a person would read them."""
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Readiness"}},
        {
            "type": "section",
            "fields": [{"type": "mrkdwn", "text": "*Pool*"}, {"type": "mrkdwn", "text": "dr-a"}],
        },
        {"type": "divider"},
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": "by <@U1> in <#C1|dr-ops> <https://x.io|log>"}],
        },
    ]
    names = {"U1": "olivia"}.get
    text = blockkit.render(None, blocks, lambda ref: names(ref) or ref).text
    assert text.splitlines() == [
        "READINESS",
        "=========",
        "  *Pool*    dr-a",
        "-" * 40,
        "  · by @olivia in #dr-ops log (https://x.io)",
    ]


def test_message_without_blocks_renders_its_text():
    """A text-only message renders its text with entities unescaped."""
    assert blockkit.render("a &lt;b&gt; c", None).text == "a <b> c"


def test_valid_plan_and_modal_pass():
    """The blocks and modal of the test app are within every limit."""
    assert blockkit.check_message_blocks(plan_blocks("R1")) == []
    assert blockkit.check_view(REASON_MODAL) == (None, [])


def test_limits_that_slack_sdk_does_not_check():
    """Per-field 2000 characters, duplicate block_ids and confirm text over 300 are reported."""
    long_field = [{"type": "section", "fields": [{"type": "plain_text", "text": "x" * 2001}]}]
    assert blockkit.check_message_blocks(long_field) == [
        "failed to match all allowed schemas [json-pointer:/blocks/0/fields/0]",
        "must be less than 2001 characters [json-pointer:/blocks/0/fields/0/text]",
    ]
    twice = [{"type": "divider", "block_id": "a"}, {"type": "divider", "block_id": "a"}]
    assert "block_id must be unique" in blockkit.check_message_blocks(twice)[0]
    confirm = plan_blocks("R1")
    confirm[2]["elements"][0]["confirm"]["text"]["text"] = "x" * 301
    pointer = "/blocks/2/elements/0/confirm/text/text"
    assert blockkit.check_message_blocks(confirm)[-1] == (
        f"must be less than 301 characters [json-pointer:{pointer}]"
    )


def test_modal_with_inputs_needs_submit():
    """A modal with input blocks and no submit button is invalid_arguments."""
    view = {k: v for k, v in REASON_MODAL.items() if k != "submit"}
    error, messages = blockkit.check_view(view)
    assert error == "invalid_arguments"
    assert messages == [
        "[ERROR] failed to match all allowed schemas [json-pointer:/view]",
        "[ERROR] must provide submit when the view has input blocks [json-pointer:/view/submit]",
    ]


def test_invalid_blocks_lines_read_as_slacks():
    """A 3001-char section gives Slack's two lines; 51 blocks 'no more than 50 items allowed'."""
    long_text = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    assert blockkit.check_message_blocks(long_text) == [
        "failed to match all allowed schemas [json-pointer:/blocks/0/text]",
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
    ]
    assert blockkit.check_message_blocks([{"type": "divider"}] * 51) == [
        "no more than 50 items allowed [json-pointer:/blocks]"
    ]
    assert blockkit.as_messages(["a [json-pointer:/blocks]"]) == [
        "[ERROR] a [json-pointer:/blocks]"
    ]


def test_generated_ids_fill_only_what_is_missing():
    """Blocks without block_id and buttons without action_id get unique generated IDs."""
    serial = iter(["abc", "abc", "xyz", "b1", "b2", "b3"])
    blocks = [
        {"type": "divider"},
        {"type": "divider", "block_id": "abc"},
        {"type": "actions", "elements": [{"type": "button"}, {"type": "button"}]},
    ]
    stored = blockkit.with_generated_ids(blocks, lambda n: next(serial))
    assert [b["block_id"] for b in stored] == ["xyz", "abc", "b1"]
    assert [e["action_id"] for e in stored[2]["elements"]] == ["b2", "b3"]
    assert blocks[0] == {"type": "divider"}
