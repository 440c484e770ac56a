"""Configuration: the TOML file, the simulator's endpoints, and errors that say what to fix."""

from __future__ import annotations

import importlib.util
import shutil

import pytest

from engine import config
from engine.errors import ConfigError

GOOD = """
[pools.prod]
site = "primary"
urls = ["https://10.0.0.10", "https://10.0.0.11"]
username = "root"
password = "secret"
fingerprint = "FINGERPRINT"

[pools.dr]
site = "dr"
urls = ["https://10.1.0.10"]
username = "root"
password = "secret"

[[pairs]]
protected = "prod"
dr = "dr"
network_map = { "Production LAN" = "DR LAN" }

[storage]
adapter = "sim"
control_url = "http://127.0.0.1:8080"

[timeouts]
call_seconds = 45
""".replace("FINGERPRINT", ":".join(["AB:CD:EF:01:23:45:67:89"] * 4))


def test_a_good_file_loads_with_secrets_hidden(tmp_path):
    """A complete TOML file loads; the password is a secret and the fingerprint normalised."""
    path = tmp_path / "drbot.toml"
    path.write_text(GOOD)
    cfg = config.load(path)
    prod = cfg.pool("prod")
    assert prod.urls[0] == "https://10.0.0.10"
    assert "secret" not in repr(prod)
    assert prod.password.get_secret_value() == "secret"
    assert prod.fingerprint_hex == "abcdef0123456789" * 4
    assert cfg.pair_for("dr").network_map == {"Production LAN": "DR LAN"}
    assert cfg.timeouts.call_seconds == 45


def test_engine_table_is_accepted(tmp_path):
    """The engine's keys may sit under [engine] in a file shared with the bot."""
    path = tmp_path / "drbot.toml"
    path.write_text(
        GOOD.replace("[pools.", "[engine.pools.")
        .replace("[[pairs]]", "[[engine.pairs]]")
        .replace("[storage]", "[engine.storage]")
        .replace("[timeouts]", "[engine.timeouts]")
    )
    assert set(config.load(path).pools) == {"prod", "dr"}


def test_missing_and_malformed_files_say_what_to_do(tmp_path):
    """A missing file and broken TOML raise ConfigError naming the file and the fix."""
    with pytest.raises(ConfigError, match="does not exist"):
        config.load(tmp_path / "nope.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[pools.prod\nurls = ")
    with pytest.raises(ConfigError, match="not valid TOML"):
        config.load(bad)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda t: t.replace('dr = "dr"', 'dr = "elsewhere"'), "pairs: dr pool 'elsewhere'"),
        (lambda t: t.replace("https://10.1.0.10", "10.1.0.10"), "must start with https://"),
        (lambda t: t.replace("AB:CD:EF:01", "XY:CD:EF:01"), "64 hex digits"),
        (
            lambda t: t.replace(
                'adapter = "sim"\ncontrol_url = "http://127.0.0.1:8080"', 'adapter = "sim"'
            ),
            "needs storage.control_url",
        ),
        (
            lambda t: t.replace(
                'username = "root"\npassword = "secret"\nfingerprint', "fingerprint"
            ),
            "pools.prod.username",
        ),
    ],
)
def test_invalid_settings_name_the_field(tmp_path, change, expected):
    """Each invalid setting gives a ConfigError naming the field and the file."""
    path = tmp_path / "drbot.toml"
    path.write_text(change(GOOD))
    with pytest.raises(ConfigError) as err:
        config.load(path)
    assert expected in str(err.value)
    assert str(path) in str(err.value)


def test_unknown_pool_lists_the_known_ones(tmp_path):
    """Asking for a pool that is not configured names the pools that are."""
    path = tmp_path / "drbot.toml"
    path.write_text(GOOD)
    with pytest.raises(ConfigError, match="known pools: dr, prod"):
        config.load(path).pool("staging")


def test_sim_endpoints_give_a_working_config(sim):
    """The simulator's endpoints become pools (coordinator first), a pair and its storage."""
    world = sim("demo")
    cfg = world.config
    assert [(p.protected, p.dr) for p in cfg.pairs] == [("prod", "dr")]
    assert cfg.pool("prod").site == "primary"
    assert cfg.pool("prod").urls[0] == world.handle.endpoints["sites"]["primary"]["coordinator"]
    assert cfg.storage.adapter == "sim"
    assert cfg.storage.control_url == world.control_url
    assert world.client("prod").call("pool.get_all")


@pytest.mark.skipif(
    importlib.util.find_spec("cryptography") is None and shutil.which("openssl") is None,
    reason="sim/xapi's TLS listener needs the cryptography package or the openssl command",
)
def test_a_tls_simulator_is_reached_with_its_pinned_certificate(sim):
    """With the simulator on TLS, the endpoints' certificate is pinned and calls verify."""
    world = sim("demo", tls=True)
    endpoint = world.config.pool("dr")
    assert endpoint.urls[0].startswith("https://")
    assert endpoint.fingerprint_hex
    assert world.client("dr").call("pool.get_all")
