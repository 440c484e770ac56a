"""The CLI's way into the service: `serving(config)` opens the `commands` service from the
configuration file for one command and closes it; the person at the terminal is the actor.

The wiring itself (store, clients, adapter, planner, runner) lives in `commands.wiring`; `Ops`
adds the settings to it for the CLI commands that read them (`drbot report`, `drbot rehearse`).
Errors a person can cause (a missing or invalid configuration, an unknown run) become one clear
message and exit code 2; `typer.Exit` passes through.
"""

from __future__ import annotations

import contextlib
import getpass
from collections.abc import Iterator

from bot.ops.output import fail
from bot.settings import Settings, load_settings
from commands.actor import Actor
from commands.service import Service
from commands.wiring import Wiring
from engine.errors import DRError
from store import StoreError


class Ops(Wiring):
    """The engine's wiring built from the settings, which it keeps (`ops.settings`)."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings.engine, settings.store_path)
        self.settings = settings


def open_ops(config: str | None) -> Ops:
    """The wiring for the configuration file `config`; a bad configuration exits 2."""
    try:
        return Ops(load_settings(config))
    except (DRError, StoreError) as exc:
        raise fail(str(exc)) from None


@contextlib.contextmanager
def operating(config: str | None) -> Iterator[Ops]:
    """The wiring for one command, closed at the end; a person's errors exit 2."""
    ops = open_ops(config)
    try:
        yield ops
    except (DRError, StoreError) as exc:
        raise fail(str(exc)) from None
    finally:
        ops.close()


@contextlib.contextmanager
def serving(config: str | None) -> Iterator[Service]:
    """The service for one command, over the wiring of `config`, closed at the end."""
    with operating(config) as ops:
        yield Service(ops, ops.settings.policy)


def actor() -> Actor:
    """Who acts: the login at the terminal, through the CLI (the break-glass path)."""
    return Actor(id=getpass.getuser(), via="cli")
