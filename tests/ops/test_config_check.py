"""`drbot config check` against sim/xapi and sim/slack on loopback: it logs in to each pool and
reads the account's role as xapi reports it, asks Slack who the bot is and whether it is in
each channel it posts to, and says what to fix (exit 1), or that the file is unusable (exit 2)."""

from __future__ import annotations

import importlib.util
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.demo import Simulators, simulators
from bot.ops.output import terminal_width
from tests.ops.conftest import invoke


@pytest.fixture(scope="module")
def sims(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Simulators]:
    """sim/xapi (mini: pools prod and dr) and sim/slack, with the configuration they wrote."""
    with simulators(tmp_path_factory.mktemp("sims"), scenario="mini", speed=1000.0) as s:
        yield s


def _check(app, sims: Simulators, **env: str) -> tuple[int, dict]:
    result = invoke(app, "config", "check", "--json", "--config", sims.config_path, env=env)
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def _by_area(report: dict) -> dict[str, dict]:
    return {f["area"]: f for f in report["findings"]}


def _as(pool: str, user: str, password: str) -> dict[str, str]:
    key = f"DRBOT_ENGINE__POOLS__{pool.upper()}"
    return {f"{key}__USERNAME": user, f"{key}__PASSWORD": password}


def test_a_pool_operator_account_and_a_member_bot_pass(app, sims: Simulators) -> None:
    """With the pool-operator account on both pools, and the bot in every channel it posts
    to, every check passes and the exit code is 0."""
    code, report = _check(
        app, sims, **_as("prod", "operator", "operator-pw"), **_as("dr", "operator", "operator-pw")
    )
    found = _by_area(report)
    assert code == 0
    assert report["ok"] is True
    assert "role pool-operator" in found["pool prod"]["message"]
    assert "role pool-operator" in found["pool dr"]["message"]
    channels = [f for f in report["findings"] if f["area"].startswith("channel")]
    assert {f["status"] for f in channels} == {"ok"}
    assert len(channels) == 3  # requests, audit, reports


def test_root_passes_with_advice_to_use_a_pool_operator(app, sims: Simulators) -> None:
    """The local superuser works (exit 0) but is flagged: a pool-operator account is enough."""
    # The configuration the simulators write logs in as pool-operator: log in as root here.
    code, report = _check(app, sims, **_as("prod", "root", "xenroot"))
    assert code == 0
    prod = _by_area(report)["pool prod"]
    assert prod["status"] == "warn"
    assert "pool-operator" in prod["message"]


def test_an_account_without_pool_operator_rights_is_named_with_what_it_lacks(
    app, sims: Simulators
) -> None:
    """A vm-operator account on the DR pool fails: the check names the DR permissions it lacks
    (VDI.open_database, DR_task.create) and the role to give it; exit 1."""
    code, report = _check(app, sims, **_as("dr", "vmop", "vmop-pw"))
    dr = _by_area(report)["pool dr"]
    assert code == 1
    assert dr["status"] == "fail"
    assert "vdi.open_database" in dr["message"]
    assert "dr_task.create" in dr["message"]
    assert "vm.start " not in dr["message"]  # a vm-operator may start VMs
    assert "role-name=pool-operator" in dr["message"]


def test_a_wrong_password_names_the_key_to_fix(app, sims: Simulators) -> None:
    """A refused login says wrong username or password and names the key and variable."""
    code, report = _check(app, sims, **_as("prod", "operator", "wrong"))
    prod = _by_area(report)["pool prod"]
    assert code == 1
    assert "wrong username or password" in prod["message"]
    assert "DRBOT_ENGINE__POOLS__PROD__PASSWORD" in prod["message"]
    assert "wrong" not in prod["message"].replace("wrong username", "")  # never the password


def test_an_unreachable_pool_says_to_check_the_network(app, sims: Simulators) -> None:
    """A pool nobody answers for is reported with its URLs and the network to check."""
    code, report = _check(app, sims, DRBOT_ENGINE__POOLS__DR__URLS='["http://127.0.0.1:9"]')
    dr = _by_area(report)["pool dr"]
    assert code == 1
    assert "http://127.0.0.1:9" in dr["message"]
    assert "port 443" in dr["message"]


def test_channels_the_bot_is_not_in_or_that_do_not_exist(app, sims: Simulators) -> None:
    """A reports channel the bot was never invited to says to /invite it; an ID that names
    no channel says the ID is wrong; both exit 1."""
    code, report = _check(
        app,
        sims,
        DRBOT_SLACK__CHANNELS__REPORTS="C0GENERAL1",
        DRBOT_SLACK__CHANNELS__AUDIT="C0NOSUCH01",
    )
    found = _by_area(report)
    assert code == 1
    assert "/invite @" in found["channel slack.channels.reports"]["message"]
    assert "#general" in found["channel slack.channels.reports"]["message"]
    assert "C0NOSUCH01 not found" in found["channel slack.channels.audit"]["message"]
    assert found["channel slack.channels.requests, policy.channels"]["status"] == "ok"


def test_a_bad_bot_token_names_where_to_get_the_right_one(app, sims: Simulators) -> None:
    """A bot token Slack refuses is reported with where the right one is found."""
    code, report = _check(app, sims, DRBOT_SLACK__BOT_TOKEN="xoxb-not-a-real-token")
    slack = [f for f in report["findings"] if f["area"] == "slack"]
    assert code == 1
    assert any("Bot User OAuth Token" in f["message"] for f in slack)
    assert "xoxb-not-a-real-token" not in json.dumps(report)


def test_a_bad_app_level_token_fails_in_socket_mode(app, sims: Simulators) -> None:
    """An app-level token that cannot open a Socket Mode connection is named, with its fix."""
    code, report = _check(app, sims, DRBOT_SLACK__APP_TOKEN="xapp-1-wrong")
    assert code == 1
    assert any(
        "connections:write" in f["message"] for f in report["findings"] if f["status"] == "fail"
    )


def test_an_invalid_file_exits_2_naming_the_key(app, tmp_path: Path) -> None:
    """A configuration that cannot be read exits 2 and names the key and what it expects."""
    bad = tmp_path / "drbot.toml"
    bad.write_text(
        '[engine.pools.prod]\nurls = ["https://127.0.0.1:9"]\nusername = "u"\npassword = "p"\n'
        '[slack]\nbot_token = "x"\n[slack.http]\nport = "three thousand"\n'
    )
    bad.chmod(0o600)
    result = invoke(app, "config", "check", "--config", bad)
    assert result.exit_code == 2
    assert "slack.http.port" in result.output
    assert "integer" in result.output


def test_a_missing_key_is_named_with_where_keys_are_described(app, tmp_path: Path) -> None:
    """A required key left out is named as missing and required, pointing at the reference of
    every key; an error in [engine] names the file it is in."""
    bad = tmp_path / "drbot.toml"
    bad.write_text(
        '[engine.pools.prod]\nurls = ["https://127.0.0.1:9"]\nusername = "u"\npassword = "p"\n'
        '[slack]\nmode = "socket"\n'
    )
    bad.chmod(0o600)
    result = invoke(app, "config", "check", "--config", bad)
    assert result.exit_code == 2
    assert "slack.bot_token: missing; this key is required" in result.output
    assert "docs/configuration.md" in result.output
    bad.write_text('[engine.pools.prod]\nurls = ["https://127.0.0.1:9"]\nusername = "u"\n')
    result = invoke(app, "config", "check", "--config", bad)
    assert result.exit_code == 2
    assert str(bad) in result.output.replace("\n", "")
    assert "password" in result.output


# -- TLS -----------------------------------------------------------------------------------------

needs_tls = pytest.mark.skipif(
    importlib.util.find_spec("cryptography") is None and shutil.which("openssl") is None,
    reason="sim/xapi's TLS listener needs the cryptography package or the openssl command",
)


@pytest.fixture(scope="module")
def tls_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """sim/xapi (mini) on TLS with its self-signed certificate, and a configuration for it
    that pins the certificate (as `drbot sim serve --tls --config` writes it)."""
    from bot.simconfig import write_config
    from sim.xapi.serve import start_sim

    state = tmp_path_factory.mktemp("tls")
    handle = start_sim("mini", speed=1000.0, tls=True, endpoints_path=state / "endpoints.json")
    try:
        config = state / "drbot.toml"
        write_config(json.loads((state / "endpoints.json").read_text()), config, Path("drbot.db"))
        yield config
    finally:
        handle.stop()


def _finding_lines(output: str, area: str) -> list[str]:
    """The lines of the finding about `area`: its marked line and the lines wrapped under it."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line[5:].startswith(f"{area}:"))
    end = start + 1
    while end < len(lines) and lines[end].startswith("     "):
        end += 1
    return lines[start:end]


@needs_tls
@pytest.mark.parametrize(
    ("pin", "says"),
    [
        (None, ["its certificate did not verify (self-signed certificate)", "ca_file", "insecure"]),
        ("ab" * 32, [f"not the {'ab' * 32} pinned in engine.pools.prod.fingerprint"]),
    ],
)
def test_a_tls_failure_is_one_sentence_with_a_hanging_indent(
    app, tls_config: Path, tmp_path: Path, pin: str | None, says: list[str]
) -> None:
    """A certificate that does not verify (none pinned, or another one pinned) is one readable
    finding: the host, what is wrong with the certificate and what to set, no Python lists or
    error codes, and its wrapped lines indented under its text."""
    text = tls_config.read_text()
    fingerprint = next(line for line in text.splitlines() if line.startswith("fingerprint"))
    replaced = "" if pin is None else f'fingerprint = "{pin}"'
    config = tmp_path / "drbot.toml"
    config.write_text(text.replace(fingerprint, replaced))
    config.chmod(0o600)
    with terminal_width(80):
        result = invoke(app, "config", "check", "--config", config)
    assert result.exit_code == 1, result.output
    lines = _finding_lines(result.output, "pool prod")
    assert lines[0].startswith("FAIL pool prod: TLS to 127.0.1.")
    assert all(line.startswith("     ") and line[5] != " " for line in lines[1:])
    sentence = " ".join(line.strip() for line in lines)
    for words in [*says, "engine.pools.prod.fingerprint", "openssl s_client -connect 127.0.1."]:
        assert words in sentence
    for noise in ("TLS_VERIFY_FAILED", "[", "_ssl.c", "Could not reach any host", "login_with"):
        assert noise not in sentence
    assert len(lines) <= 8  # it was 12 lines of nested list text
