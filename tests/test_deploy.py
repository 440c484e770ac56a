"""What deploy/ ships is usable as it stands: the example configuration loads, the image runs
`drbot serve` as a non-root user with a health check, and the compose file, the systemd units
and the Kubernetes objects give the bot its store, its secrets (under names the settings read)
and its probes."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bot.logs import ObservabilityConfig
from bot.settings import load_settings

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
EXAMPLE = DEPLOY / "drbot.example.toml"
PORT = ObservabilityConfig().port
STORE_DIR = "/var/lib/drbot"


def test_example_configuration_loads() -> None:
    """deploy/drbot.example.toml is a valid configuration: two pools, one pair, a manual adapter."""
    settings = load_settings(EXAMPLE)
    engine = settings.engine
    assert set(engine.pools) == {"prod", "dr"}
    assert [(p.protected, p.dr) for p in engine.pairs] == [("prod", "dr")]
    assert engine.storage.adapter == "manual"
    assert engine.storage.luns[0].mirror_device_config["SCSIid"].startswith("3600")
    assert str(settings.store_path).startswith(STORE_DIR)


def _containerfile() -> list[str]:
    """The instructions of the final stage, continuation lines joined."""
    text = (DEPLOY / "Containerfile").read_text().replace("\\\n", " ")
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    last_from = max(i for i, ln in enumerate(lines) if ln.startswith("FROM "))
    return lines[last_from:]


def test_image_runs_serve_as_a_non_root_user_with_a_health_check() -> None:
    """The final image is slim, runs `drbot serve` by default as a numeric non-root user, asks
    /healthz on the observability port, and exposes that port."""
    final = _containerfile()
    assert "slim" in final[0]
    (user,) = [ln.split()[1] for ln in final if ln.startswith("USER ")]
    assert user.split(":")[0] not in {"root", "0"}
    assert user.split(":")[0].isdigit()  # Kubernetes' runAsNonRoot needs a numeric user
    (health,) = [ln for ln in final if ln.startswith("HEALTHCHECK ")]
    assert f"127.0.0.1:{PORT}/healthz" in health
    assert 'ENTRYPOINT ["drbot"]' in final
    assert 'CMD ["serve"]' in final
    assert f"EXPOSE {PORT}" in final
    assert not [ln for ln in final if re.search(r"(TOKEN|PASSWORD|SECRET)=", ln)]


def _compose() -> dict:
    return yaml.safe_load((DEPLOY / "compose.yaml").read_text())


def _unit(name: str) -> dict[str, list[str]]:
    """A systemd unit's Key=Value lines (a key may repeat)."""
    keys: dict[str, list[str]] = {}
    for line in (DEPLOY / name).read_text().splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def _k8s() -> dict[str, dict]:
    docs = yaml.safe_load_all((DEPLOY / "kubernetes" / "drbot.yaml").read_text())
    return {d["kind"]: d for d in docs}


def _secret_names() -> dict[str, list[str]]:
    """The secret names each deployment gives the bot."""
    compose = list(_compose()["secrets"])
    systemd = [v.split(":")[0] for v in _unit("drbot.service")["LoadCredential"]]
    kube = re.findall(
        r"--from-file=(DRBOT_[A-Z_]+)=", (DEPLOY / "kubernetes" / "drbot.yaml").read_text()
    )
    return {"compose": compose, "systemd": systemd, "kubernetes": kube}


@pytest.mark.parametrize("where", ["compose", "systemd", "kubernetes"])
def test_secret_files_are_named_as_the_settings_read_them(
    where: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each secret file a deployment provides overrides the setting it is named after (the
    bot token, the app token, each pool's password), as DRBOT_SECRETS_DIR reads them."""
    names = _secret_names()[where]
    assert len(names) == 4
    secrets = tmp_path / "secrets"
    secrets.mkdir(mode=0o700)
    for name in names:
        (secrets / name).write_text(f"value-of-{name}\n")
        (secrets / name).chmod(0o600)
    monkeypatch.setenv("DRBOT_SECRETS_DIR", str(secrets))
    settings = load_settings(EXAMPLE)
    assert settings.slack is not None
    read = {
        "DRBOT_SLACK__BOT_TOKEN": settings.slack.bot_token.get_secret_value(),
        "DRBOT_SLACK__APP_TOKEN": settings.slack.app_token.get_secret_value(),
        "DRBOT_ENGINE__POOLS__PROD__PASSWORD": settings.engine.pools[
            "prod"
        ].password.get_secret_value(),
        "DRBOT_ENGINE__POOLS__DR__PASSWORD": settings.engine.pools[
            "dr"
        ].password.get_secret_value(),
    }
    assert {n: read[n] for n in names} == {n: f"value-of-{n}" for n in names}


def test_compose_gives_the_bot_a_store_volume_secrets_and_a_locked_down_container() -> None:
    """The compose service serves, keeps the store on a named volume, reads secrets from files
    in DRBOT_SECRETS_DIR, and runs read-only without capabilities."""
    compose = _compose()
    service = compose["services"]["drbot"]
    assert service["command"] == ["serve"]
    volumes = [v.split(":") for v in service["volumes"]]
    assert any(src in compose["volumes"] and dst == STORE_DIR for src, dst, *_ in volumes)
    assert service["environment"]["DRBOT_SECRETS_DIR"] == "/run/secrets"
    assert all("file" in s for s in compose["secrets"].values())
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert f"127.0.0.1:{PORT}:{PORT}" in service["ports"]


def test_systemd_unit_serves_with_credentials_and_hardening() -> None:
    """drbot.service runs `drbot serve` as its own user, reads secrets from the credentials
    directory, keeps the store in its state directory, and is sandboxed."""
    unit = _unit("drbot.service")
    assert shlex.split(unit["ExecStart"][0])[1:3] == ["serve", "--config"]
    assert unit["User"] == ["drbot"]
    assert "DRBOT_SECRETS_DIR=%d" in unit["Environment"]
    assert unit["StateDirectory"] == ["drbot"]
    assert unit["StateDirectoryMode"] == ["0700"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "ProtectHome": "yes",
        "PrivateTmp": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "UMask": "0077",
    }.items():
        assert unit[key] == [value], key
    assert unit["RestrictAddressFamilies"] == ["AF_INET AF_INET6 AF_UNIX"]


def test_backup_unit_copies_the_store_without_secrets_on_a_timer() -> None:
    """drbot-backup.service copies the store by its path (no configuration, no secrets, no
    network) and its timer runs it every 15 minutes."""
    unit = _unit("drbot-backup.service")
    argv = shlex.split(unit["ExecStart"][0])
    assert argv[1:3] == ["store", "backup"]
    assert argv[argv.index("--store") + 1] == f"{STORE_DIR}/drbot.db"
    assert "LoadCredential" not in unit
    assert unit["PrivateNetwork"] == ["yes"]
    assert _unit("drbot-backup.timer")["OnCalendar"] == ["*:0/15"]


def test_kubernetes_runs_one_replica_replaced_never_rolled_with_probes() -> None:
    """One replica, Recreate (never two bots at once), the store on a PVC, secrets as files
    where DRBOT_SECRETS_DIR points, liveness /healthz and readiness /readyz on the metrics
    port, non-root with a read-only root file system."""
    objects = _k8s()
    deployment = objects["Deployment"]["spec"]
    assert deployment["replicas"] == 1
    assert deployment["strategy"]["type"] == "Recreate"
    pod = deployment["template"]["spec"]
    (container,) = pod["containers"]
    env = {e["name"]: e["value"] for e in container["env"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert container["args"] == ["serve"]
    assert mounts["store"] == STORE_DIR
    assert env["DRBOT_STORE_PATH"].startswith(STORE_DIR + "/")
    claim = volumes["store"]["persistentVolumeClaim"]["claimName"]
    assert objects["PersistentVolumeClaim"]["metadata"]["name"] == claim
    assert mounts["secrets"] == env["DRBOT_SECRETS_DIR"]
    assert "secret" in volumes["secrets"]
    assert container["ports"][0]["containerPort"] == PORT
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="needs systemd-analyze")
def test_systemd_accepts_every_directive_of_the_units(tmp_path: Path) -> None:
    """systemd's own parser (`systemd-analyze verify`) reads the three units without an unknown
    key or a bad value (ExecStart pointed at /usr/bin/true: drbot is not installed here)."""
    names = ["drbot.service", "drbot-backup.service", "drbot-backup.timer"]
    for name in names:
        text = (DEPLOY / name).read_text().replace("/opt/drbot/bin/drbot", "/usr/bin/true")
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", *(f"./{n}" for n in names)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""
