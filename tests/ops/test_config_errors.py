"""A configuration error names the key and says what is expected, one line per problem: a
missing key, a value of the wrong type, a URL that is not one, and an unknown key with the
nearest valid key, in the engine's loader (engine/config.py) and in drbot's settings
(bot/settings.py, as `drbot config check` reports them). Never pydantic's own wording."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine import config as engine_config
from engine.errors import ConfigError
from tests.ops.conftest import invoke

POOL = {"urls": ["https://10.0.0.10"], "username": "root", "password": "pool-secret-9"}


def _refusal(data: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        engine_config.from_dict(data)
    return str(caught.value)


@pytest.mark.parametrize(
    ("pool", "says"),
    [
        (
            {k: v for k, v in POOL.items() if k != "username"},
            "pools.prod.username: missing; this key is required, expected text in quotes",
        ),
        (
            {**POOL, "urls": "https://10.0.0.10"},
            "pools.prod.urls: got 'https://10.0.0.10'; expected a list [...] of text in quotes",
        ),
        (
            {**POOL, "insecure": "maybe"},
            "pools.prod.insecure: got 'maybe'; expected true or false",
        ),
        (
            {**POOL, "urls": ["https://10.0.0.10", "https://"]},
            "pools.prod.urls[1]: url 'https://' is not a URL; expected https://HOST[:PORT]",
        ),
        (
            {**POOL, "urls": ["10.0.0.10"]},
            "pools.prod.urls[0]: url '10.0.0.10' must start with https://",
        ),
        (
            {**POOL, "fingerprnt": "ab"},
            "pools.prod.fingerprnt: unknown key; did you mean 'fingerprint'?",
        ),
    ],
    ids=["missing", "wrong-type", "wrong-type-bool", "bad-url", "no-scheme", "unknown-key"],
)
def test_the_engine_loader_names_the_key_and_what_it_expects(pool: dict, says: str) -> None:
    """Each bad pool entry is one line naming its dotted key and what is expected there."""
    message = _refusal({"pools": {"prod": pool}})
    assert says in message
    assert "Field required" not in message
    assert "Input should" not in message


def test_a_bad_control_url_and_a_bound_say_what_is_expected() -> None:
    """The storage control URL must be a URL; a bounded number says its bound."""
    message = _refusal(
        {
            "pools": {"prod": POOL},
            "storage": {"adapter": "sim", "control_url": "localhost"},
            "timeouts": {"call_seconds": 1e9},
        }
    )
    assert "storage.control_url: control_url 'localhost' must be" in message
    assert "expected http(s)://HOST:PORT" in message
    assert "timeouts.call_seconds: got 1000000000.0; expected a number of at most 3600" in message


def test_a_secret_of_the_wrong_type_is_never_shown() -> None:
    """A password given as a number is refused by its kind, its value is not echoed."""
    message = _refusal({"pools": {"prod": {**POOL, "password": 73519}}})
    assert "pools.prod.password: got a number; expected text" in message
    assert "73519" not in message


def test_several_problems_are_one_line_each_and_a_misspelt_key_is_one_problem(
    app, tmp_path: Path
) -> None:
    """`drbot config check` on a file with four problems exits 2 with a heading and one line
    per problem, each naming its key; a misspelt required key is not also reported missing."""
    bad = tmp_path / "drbot.toml"
    bad.write_text(
        'store_pth = "drbot.db"\n'
        "[engine.pools.prod]\n"
        'urls = ["https//10.0.0.10"]\n'
        'usrname = "root"\n'
        'password = "pool-secret-9"\n'
        "[engine.pools.dr]\n"
        'urls = ["https://10.1.0.10"]\n'
        'password = "pool-secret-9"\n'
        "[engine.timeouts]\n"
        'call_seconds = "soon"\n'
    )
    bad.chmod(0o600)
    result = invoke(app, "config", "check", "--config", bad)
    assert result.exit_code == 2
    lines = [line.strip() for line in result.output.splitlines() if line.strip()]
    assert "(5 problems)" in lines[0]
    problems = [line.removeprefix("- ") for line in lines[1:]]
    assert len(problems) == 5, result.output
    assert "store_pth: unknown key; did you mean 'store_path'?" in problems
    keys = {p.split(":", 1)[0] for p in problems}
    assert keys == {
        "store_pth",
        "engine.pools.prod.urls[0]",
        "engine.pools.prod.usrname",
        "engine.pools.dr.username",
        "engine.timeouts.call_seconds",
    }
    assert not any(p.startswith("engine.pools.prod.username") for p in problems)
    assert "pool-secret-9" not in result.output
