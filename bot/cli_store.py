"""`drbot store backup` and `drbot store restore`: an online copy of the store, and back.

`backup` may run while `drbot serve` writes (SQLite's online backup API, store/backup.py), so a
timer can take a copy every few minutes and ship it to the standby site. `restore` puts a copy
in place as the configured store on the standby, before its drbot starts; it refuses to replace
an existing store without `--force`, and refuses even with it while a drbot on this host has
the store open (naming its process: a bot still serving would write on into the replaced file,
and what it writes would be lost). The standby then waits for the leases the copy carries
(the scheduler's, each run's pool lease) to run out before it acts, so a primary that is still
alive is not doubled.

Exit codes: 0 done, 2 the input cannot be used (configuration, paths, a file that is not a
sound store), with one line saying what to do.

Mounted on `drbot` by `bot/cli.py` (`cli_store.register(app)`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from bot.ops.options import ConfigOpt, JsonOpt
from bot.ops.output import console, counted, dump, fail
from bot.settings import load_settings
from engine.errors import ConfigError
from store import StoreError
from store.audit import AuditFiles
from store.backup import BackupInfo, backup, restore

store_app = typer.Typer(help="Back up and restore the store (SQLite).", no_args_is_help=True)

BACKED_UP = (
    "Copied the store {src} to {dest}: {bytes} bytes, {runs}, {audit}, integrity checked. {key}"
)
KEEP_KEY = "Keep the audit key {key} with it (copied separately, once)."
NO_KEY_YET = "There is no audit key yet: {key} is made with the first audit entry."
RESTORED = (
    "Restored {src} as the store {dest}: {runs}, {audit}. Before starting drbot here, make sure "
    "the primary is stopped or its leases have run out. {key}"
)
KEY_IN_PLACE = "The audit key {key} is in place: `drbot audit verify` checks the trail with it."
KEY_TO_COPY = (
    "Copy the primary's audit key to {key} (it is kept apart from the store), or the trail "
    "cannot be verified here."
)


def _held(info: BackupInfo) -> dict[str, str]:
    return {
        "runs": counted(info.runs, "run"),
        "audit": counted(info.audit_entries, "audit entry", "audit entries"),
    }


DestArg = Annotated[Path, typer.Argument(help="Where to write the copy (a file).")]
BackupArg = Annotated[Path, typer.Argument(help="The copy to restore (made by `store backup`).")]
StoreOpt = Annotated[
    Path | None,
    typer.Option(
        "--store", help="The store file itself (instead of the configuration's store_path)."
    ),
]
ForceOpt = Annotated[
    bool, typer.Option("--force", help="Replace an existing store (refused while drbot uses it).")
]


def _info(info: BackupInfo) -> dict[str, object]:
    return info.model_dump(mode="json")


def _store_and_key(config: str | None, store: Path | None) -> tuple[Path, Path]:
    """The store file and its audit key: `--store` as given (no configuration is read, so a
    backup job needs no secrets), else the configuration's."""
    if store is not None:
        return store, AuditFiles.beside(store).key_file
    settings = load_settings(config)
    return settings.store_path, settings.audit.files(settings.store_path).key_file


@store_app.command("backup")
def backup_cmd(
    dest: DestArg, config: ConfigOpt = None, store: StoreOpt = None, json: JsonOpt = False
) -> None:
    """Copy the configured store to DEST while drbot runs (consistent, 0600, checked)."""
    try:
        path, key = _store_and_key(config, store)
        info = backup(path, dest)
    except (ConfigError, StoreError) as exc:
        raise fail(str(exc)) from None
    if json:
        dump({"store": str(path), **_info(info)})
        return
    console.print(
        BACKED_UP.format(
            src=path,
            dest=info.path,
            bytes=info.bytes,
            key=(KEEP_KEY if key.is_file() else NO_KEY_YET).format(key=key),
            **_held(info),
        ),
        markup=False,
    )


@store_app.command("restore")
def restore_cmd(
    source: BackupArg,
    config: ConfigOpt = None,
    store: StoreOpt = None,
    force: ForceOpt = False,
    json: JsonOpt = False,
) -> None:
    """Put a copy made by `store backup` in place as the configured store."""
    try:
        path, key = _store_and_key(config, store)
        info = restore(source, path, replace=force)
    except (ConfigError, StoreError) as exc:
        raise fail(str(exc)) from None
    if json:
        dump({"source": str(source), **_info(info)})
        return
    console.print(
        RESTORED.format(
            src=source,
            dest=info.path,
            key=(KEY_IN_PLACE if key.is_file() else KEY_TO_COPY).format(key=key),
            **_held(info),
        ),
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Mount `drbot store ...` on the `drbot` application."""
    app.add_typer(store_app, name="store")
