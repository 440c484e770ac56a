"""bot/settings.py: the TOML file, DRBOT_* overrides, and errors that say what to fix."""

from __future__ import annotations

import pytest

from bot.settings import load_settings
from engine.errors import ConfigError

GOOD = """
store_path = "state/drbot.db"

[engine.pools.prod]
urls = ["https://10.0.0.10", "https://10.0.0.11"]
username = "root"
password = "secret"
fingerprint = "{fp}"

[engine.pools.dr]
urls = ["https://10.1.0.10"]
username = "root"
password = "secret"
insecure = true

[[engine.pairs]]
protected = "prod"
dr = "dr"
""".replace("{fp}", "ab" * 32)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in ("DRBOT_CONFIG", "DRBOT_STORE_PATH", "DRBOT_ENGINE__TIMEOUTS__CALL_SECONDS"):
        monkeypatch.delenv(name, raising=False)


def test_file_is_read_and_store_path_is_relative_to_it(tmp_path):
    """Pools get their table names, pairs are kept, and a relative store path follows the file."""
    path = tmp_path / "drbot.toml"
    path.write_text(GOOD)
    settings = load_settings(path)
    assert settings.engine.pools["prod"].name == "prod"
    assert settings.engine.pairs[0].dr == "dr"
    assert settings.store_path == tmp_path / "state" / "drbot.db"


def test_environment_overrides_the_file(tmp_path, monkeypatch):
    """DRBOT_* variables win over the file, nested keys with a double underscore."""
    path = tmp_path / "drbot.toml"
    path.write_text(GOOD)
    monkeypatch.setenv("DRBOT_STORE_PATH", str(tmp_path / "other.db"))
    monkeypatch.setenv("DRBOT_ENGINE__TIMEOUTS__CALL_SECONDS", "7")
    monkeypatch.setenv("DRBOT_CONFIG", str(path))
    settings = load_settings()
    assert settings.store_path == tmp_path / "other.db"
    assert settings.engine.timeouts.call_seconds == 7
    assert "prod" in settings.engine.pools


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("store_path = [", "not valid TOML"),
        ('store_path = "x.db"\n', "engine"),
        (GOOD.replace('dr = "dr"', 'dr = "nowhere"'), "nowhere"),
        (GOOD.replace("https://10.1.0.10", "10.1.0.10"), "https://"),
    ],
)
def test_bad_files_are_refused_with_what_to_fix(tmp_path, text, says):
    """Broken TOML, a missing [engine], an unknown pool or a bad URL each get a clear error."""
    path = tmp_path / "drbot.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=says):
        load_settings(path)


def test_missing_file_says_how_to_point_at_one(tmp_path):
    """A missing file names --config and DRBOT_CONFIG."""
    with pytest.raises(ConfigError, match="DRBOT_CONFIG"):
        load_settings(tmp_path / "absent.toml")
