"""What deploy/ ships is usable as it stands."""

from __future__ import annotations

from pathlib import Path

from bot.settings import load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def test_example_configuration_loads() -> None:
    """deploy/drbot.example.toml is a valid configuration: two pools, one pair, a manual adapter."""
    settings = load_settings(DEPLOY / "drbot.example.toml")
    engine = settings.engine
    assert set(engine.pools) == {"prod", "dr"}
    assert [(p.protected, p.dr) for p in engine.pairs] == [("prod", "dr")]
    assert engine.storage.adapter == "manual"
    assert engine.storage.luns[0].mirror_device_config["SCSIid"].startswith("3600")
