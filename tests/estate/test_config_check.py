"""`drbot config check` against an estate on sim/xapi: a pair whose protected pool's LUNs
replicate to another site than the DR pool's is a configuration error naming the LUNs (with
the `sim` adapter only the array and the pools know which LUN holds which SR, so the loader
cannot find it; the check, which logs in to every pool, does)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from bot import cli
from engine.config import EngineConfig


def _write(config: EngineConfig, pairs: list[tuple[str, str]], path: Path) -> Path:
    lines = []
    for name, pool in config.pools.items():
        lines += [f"[engine.pools.{json.dumps(name)}]", f"urls = {json.dumps(pool.urls)}"]
        lines += [f"username = {json.dumps(pool.username)}", "allow_plaintext = true"]
        lines += [f"password = {json.dumps(pool.password.get_secret_value())}"]
        lines += [f"site = {json.dumps(pool.site)}"]
    for protected, dr in pairs:
        lines += ["[[engine.pairs]]", f"protected = {json.dumps(protected)}", f'dr = "{dr}"']
    lines += ["[engine.storage]", 'adapter = "sim"']
    lines += [f"control_url = {json.dumps(config.storage.control_url)}"]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def _check(path: Path) -> tuple[int, dict[str, dict]]:
    if not cli.app.registered_commands:
        cli._mount()
    result = CliRunner().invoke(cli.app, ["config", "check", "--json", "--config", str(path)])
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, {f["area"]: f for f in json.loads(result.stdout)["findings"]}


def test_a_pair_whose_luns_replicate_elsewhere_is_a_configuration_error(estate, tmp_path):
    """north -> dr (north's LUN replicates to dr2) fails, naming north's LUN and dr2; the
    correct pairs pass, naming the LUNs that replicate to their DR pool's site."""
    north_lun = next(lun.lun for lun in estate.storage().state() if lun.source_site == "north")
    pairs = [("east-a", "dr"), ("west", "dr"), ("north", "dr")]
    code, found = _check(_write(estate.config, pairs, tmp_path / "drbot.toml"))
    assert code == 1
    wrong = found["pair north -> dr"]
    assert wrong["status"] == "fail"
    assert north_lun in wrong["message"]
    assert "'dr2'" in wrong["message"]
    assert found["pair east-a -> dr"]["status"] == "ok"
    assert found["pair west -> dr"]["status"] == "ok"
    code, found = _check(_write(estate.config, [("north", "dr2")], tmp_path / "right.toml"))
    assert found["pair north -> dr2"]["status"] == "ok"
    assert north_lun in found["pair north -> dr2"]["message"]
