"""Secrets at rest: what drbot writes is owner-only, what it reads is checked, secrets can be
given one file each, plain HTTP is refused unless a pool allows it, and unverified TLS and
plain HTTP are said out loud every time the configuration is read."""

from __future__ import annotations

import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from bot.settings import load_settings
from engine.errors import ConfigError
from store import open_store
from tests.hardening.conftest import FINGERPRINT, config_text, refused


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for name in list(os.environ):
        if name.startswith("DRBOT_"):
            monkeypatch.delenv(name)


# -- files drbot writes ------------------------------------------------------------------------


def test_a_new_store_and_its_wal_are_owner_only(tmp_path):
    """A store drbot creates, and SQLite's -wal and -shm files beside it, are 0600."""
    path = tmp_path / "drbot.db"
    with open_store(path) as store:
        store.audit.append("X", "U1", {})
        modes = {p.name: _mode(p) for p in tmp_path.iterdir() if p.name.startswith("drbot.db")}
    assert modes["drbot.db"] == 0o600
    assert modes["drbot.db-wal"] == 0o600
    assert modes["drbot.db-shm"] == 0o600
    assert modes["drbot.db.audit-key"] == 0o600


def test_an_existing_store_others_may_read_is_warned_about(tmp_path, caplog):
    """Opening a store that is 0644 warns, naming the file and the chmod that fixes it."""
    path = tmp_path / "drbot.db"
    open_store(path).close()
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="drbot.store"):
        open_store(path).close()
    assert f"chmod 600 {path}" in caplog.text


def test_a_configuration_others_may_read_is_warned_about(tmp_path, caplog):
    """Reading a 0644 configuration warns with the fix; a 0600 one does not."""
    path = tmp_path / "drbot.toml"
    path.write_text(config_text(tmp_path / "drbot.db"))
    path.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        load_settings(path)
    assert "may be read by other users" not in caplog.text
    path.chmod(0o644)
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        load_settings(path)
    assert f"configuration file {path} may be read by other users (mode 644)" in caplog.text


def test_a_shared_configuration_without_secrets_is_not_warned_about(tmp_path, monkeypatch, caplog):
    """A 0644 configuration whose passwords come from secret files (a Kubernetes ConfigMap)
    holds nothing to hide: no warning."""
    path = _without_passwords(tmp_path)
    path.chmod(0o644)
    directory = _secrets(
        tmp_path,
        DRBOT_ENGINE__POOLS__PROD__PASSWORD="prod-from-file",
        DRBOT_ENGINE__POOLS__DR__PASSWORD="dr-from-file",
    )
    monkeypatch.setenv("DRBOT_SECRETS_DIR", str(directory))
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        load_settings(path)
    assert "may be read by other users" not in caplog.text


# -- secret files ------------------------------------------------------------------------------


def _without_passwords(tmp_path: Path) -> Path:
    path = tmp_path / "drbot.toml"
    text = config_text(tmp_path / "drbot.db").replace('password = "secret"\n', "")
    path.write_text(text)
    path.chmod(0o600)
    return path


def _secrets(tmp_path: Path, **values: str) -> Path:
    directory = tmp_path / "secrets"
    directory.mkdir(mode=0o700)
    for name, value in values.items():
        (directory / name).write_text(value + "\n")
        (directory / name).chmod(0o600)
    return directory


def test_pool_passwords_come_from_one_secret_file_each(tmp_path, monkeypatch):
    """With DRBOT_SECRETS_DIR, a file named like the variable gives each pool its password
    (its trailing newline dropped), the TOML holding none."""
    config = _without_passwords(tmp_path)
    directory = _secrets(
        tmp_path,
        DRBOT_ENGINE__POOLS__PROD__PASSWORD="prod-from-file",
        DRBOT_ENGINE__POOLS__DR__PASSWORD="dr-from-file",
    )
    monkeypatch.setenv("DRBOT_SECRETS_DIR", str(directory))
    engine = load_settings(config).engine
    assert engine.pools["prod"].password.get_secret_value() == "prod-from-file"
    assert engine.pools["dr"].password.get_secret_value() == "dr-from-file"
    assert engine.pools["prod"].fingerprint == FINGERPRINT  # the rest still from the file


def test_a_secret_file_wins_over_the_file_and_the_environment_over_both(tmp_path, monkeypatch):
    """Order: environment, then secret file, then TOML (a placeholder there is overridden)."""
    config = tmp_path / "drbot.toml"
    config.write_text(config_text(tmp_path / "drbot.db").replace("secret", "change-me"))
    config.chmod(0o600)
    directory = _secrets(tmp_path, DRBOT_ENGINE__POOLS__PROD__PASSWORD="from-file")
    monkeypatch.setenv("DRBOT_SECRETS_DIR", str(directory))
    pools = load_settings(config).engine.pools
    assert pools["prod"].password.get_secret_value() == "from-file"
    assert pools["dr"].password.get_secret_value() == "change-me"
    monkeypatch.setenv("DRBOT_ENGINE__POOLS__PROD__PASSWORD", "from-env")
    assert load_settings(config).engine.pools["prod"].password.get_secret_value() == "from-env"


def test_slack_tokens_come_from_secret_files(tmp_path, monkeypatch):
    """The bot and app tokens of a [slack] section without them come from their secret files."""
    config = tmp_path / "drbot.toml"
    config.write_text(config_text(tmp_path / "drbot.db") + '[slack]\nmode = "socket"\n')
    config.chmod(0o600)
    directory = _secrets(
        tmp_path, DRBOT_SLACK__BOT_TOKEN="xoxb-from-file", DRBOT_SLACK__APP_TOKEN="xapp-from-file"
    )
    monkeypatch.setenv("DRBOT_SECRETS_DIR", str(directory))
    slack = load_settings(config).slack
    assert slack is not None
    assert slack.bot_token.get_secret_value() == "xoxb-from-file"
    assert slack.app_token is not None
    assert slack.app_token.get_secret_value() == "xapp-from-file"


def test_a_missing_password_says_where_it_may_come_from(tmp_path):
    """Without a password anywhere, the error names the pool's password key."""
    with pytest.raises(ConfigError, match=r"pools\.prod\.password"):
        load_settings(_without_passwords(tmp_path))


def test_a_secrets_dir_that_is_not_a_directory_is_refused(tmp_path, monkeypatch):
    """DRBOT_SECRETS_DIR naming nothing is refused with what to do."""
    monkeypatch.setenv("DRBOT_SECRETS_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(ConfigError, match="is not a directory"):
        load_settings(_without_passwords(tmp_path))


def test_a_secret_file_others_may_read_is_warned_about(tmp_path, monkeypatch, caplog):
    """A 0644 secret file is used, with a warning naming it."""
    directory = _secrets(tmp_path, DRBOT_ENGINE__POOLS__PROD__PASSWORD="p")
    (directory / "DRBOT_ENGINE__POOLS__PROD__PASSWORD").chmod(0o644)
    monkeypatch.setenv("DRBOT_SECRETS_DIR", str(directory))
    config = tmp_path / "drbot.toml"
    config.write_text(config_text(tmp_path / "drbot.db"))
    config.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        load_settings(config)
    assert "secret file" in caplog.text
    assert "DRBOT_ENGINE__POOLS__PROD__PASSWORD may be read by other users" in caplog.text


def _kubernetes_secret(tmp_path: Path, mode: int, gid: int) -> Path:
    """A secret volume as the kubelet mounts it: each file a symlink into `..data`, the file
    itself `mode`, owned by root and group `gid` (the pod's fsGroup)."""
    volume = tmp_path / "secrets"
    data = volume / "..2026_12_05_06_00_00.000000001"
    data.mkdir(parents=True)
    (volume / "..data").symlink_to(data.name)
    name = "DRBOT_ENGINE__POOLS__PROD__PASSWORD"
    (data / name).write_text("from-kubernetes")
    os.chown(data / name, -1, gid)
    (data / name).chmod(mode)
    (volume / name).symlink_to(f"..data/{name}")
    return volume


def _read_with_secrets(tmp_path: Path, volume: Path, monkeypatch, caplog) -> str:
    monkeypatch.setenv("DRBOT_SECRETS_DIR", str(volume))
    config = tmp_path / "drbot.toml"
    config.write_text(config_text(tmp_path / "drbot.db"))
    config.chmod(0o600)
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        engine = load_settings(config).engine
    assert engine.pools["prod"].password.get_secret_value() == "from-kubernetes"
    return caplog.text


def test_a_kubernetes_secret_mounted_0440_for_the_pods_group_is_not_warned_about(
    tmp_path, monkeypatch, caplog
):
    """A secret file 0440 whose group is one of drbot's own (the pod's fsGroup) is read
    without a warning: group-readable by the bot's own group is the documented k8s way."""
    volume = _kubernetes_secret(tmp_path, 0o440, os.getegid())
    assert "may be read by other users" not in _read_with_secrets(
        tmp_path, volume, monkeypatch, caplog
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file another group needs root")
def test_a_secret_readable_by_a_group_drbot_is_not_in_is_warned_about(
    tmp_path, monkeypatch, caplog
):
    """The same 0440 file whose group drbot is not in is warned about: others read it."""
    stranger = max({os.getegid(), *os.getgroups()}) + 4242
    volume = _kubernetes_secret(tmp_path, 0o440, stranger)
    text = _read_with_secrets(tmp_path, volume, monkeypatch, caplog)
    assert "DRBOT_ENGINE__POOLS__PROD__PASSWORD may be read by other users (mode 440)" in text


def test_a_world_readable_secret_is_warned_about_whatever_its_group(tmp_path, monkeypatch, caplog):
    """0444 is warned about even when the group is drbot's own."""
    volume = _kubernetes_secret(tmp_path, 0o444, os.getegid())
    text = _read_with_secrets(tmp_path, volume, monkeypatch, caplog)
    assert "DRBOT_ENGINE__POOLS__PROD__PASSWORD may be read by other users (mode 444)" in text


# -- transport ---------------------------------------------------------------------------------


def _pool_config(tmp_path: Path, url: str, extra: str) -> Path:
    path = tmp_path / "drbot.toml"
    text = config_text(tmp_path / "drbot.db")
    text = text.replace("https://192.0.2.10", url).replace(
        f'fingerprint = "{FINGERPRINT}"', extra, 1
    )
    path.write_text(text)
    path.chmod(0o600)
    return path


def test_plain_http_is_refused_unless_the_pool_allows_it(tmp_path):
    """An http:// URL is refused, saying the password would cross in clear and how to allow it."""
    config = _pool_config(tmp_path, "http://192.0.2.11", f'fingerprint = "{FINGERPRINT}"')
    with pytest.raises(ConfigError) as caught:
        load_settings(config)
    assert "is plain HTTP" in str(caught.value)
    assert "allow_plaintext = true" in str(caught.value)


def test_allowed_plain_http_is_warned_about_every_time(tmp_path, caplog):
    """With allow_plaintext = true the pool loads, and reading the settings warns about it."""
    config = _pool_config(tmp_path, "http://192.0.2.12", "allow_plaintext = true")
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        settings = load_settings(config)
    assert settings.engine.pools["prod"].allow_plaintext
    assert "pool 'prod' is reached over plain HTTP (http://192.0.2.12" in caplog.text


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:8080", "http://localhost"]
)
def test_plain_http_to_a_loopback_address_is_not_warned_about(tmp_path, caplog, url):
    """A pool reached only on loopback (a simulator) gets no word about its password crossing
    the network: it never leaves the machine."""
    config = _pool_config(tmp_path, url, "allow_plaintext = true")
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        load_settings(config)
    assert "in clear" not in caplog.text
    assert "plain HTTP" not in caplog.text


def test_plain_http_to_loopback_and_another_host_is_warned_about(tmp_path, caplog):
    """A pool with one loopback and one other URL is warned about: the other crosses."""
    config = _pool_config(
        tmp_path, 'http://127.0.0.1:8080", "http://192.0.2.15', "allow_plaintext = true"
    )
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        load_settings(config)
    assert "pool 'prod' is reached over plain HTTP" in caplog.text
    assert "http://192.0.2.15" in caplog.text


def test_a_command_on_a_loopback_simulator_prints_no_transport_warning(tmp_path):
    """`drbot runs` against a loopback plain-HTTP pool prints nothing on stderr."""
    config = _pool_config(tmp_path, "http://127.0.0.1:9", "allow_plaintext = true")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "runs", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "in clear" not in proc.stderr
    assert proc.stdout.strip() == "[]"


def test_unverified_tls_is_warned_about(tmp_path, caplog):
    """insecure = true without a pinned fingerprint or CA warns that TLS is not verified."""
    config = _pool_config(tmp_path, "https://192.0.2.13", "insecure = true")
    with caplog.at_level(logging.WARNING, logger="drbot.settings"):
        load_settings(config)
    assert "TLS to pool 'prod' is not verified" in caplog.text


def test_the_warnings_reach_a_person_at_the_cli(tmp_path):
    """`drbot runs` with an unverified pool prints the warning on stderr (no logging set up)."""
    config = _pool_config(tmp_path, "https://192.0.2.14", "insecure = true")
    proc = subprocess.run(
        [sys.executable, "-m", "bot.cli", "runs", "--json", "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "TLS to pool 'prod' is not verified" in proc.stderr
    assert proc.stdout.strip() == "[]"


# -- drbot sim serve ---------------------------------------------------------------------------


def test_sim_serve_refuses_to_overwrite_a_configuration(tmp_path, drbot):
    """`sim serve --config FILE` on an existing file exits 2 before starting anything and
    leaves the file as it was."""
    config = tmp_path / "drbot.toml"
    config.write_text("# my own configuration\n")
    endpoints = tmp_path / "endpoints.json"
    line = refused(drbot("sim", "serve", "--config", config, "--endpoints", endpoints))
    assert f"{config} already exists" in line
    assert "--force" in line
    assert config.read_text() == "# my own configuration\n"
    assert not endpoints.exists()
