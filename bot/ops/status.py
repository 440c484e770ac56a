"""`drbot status`: readiness of every pair, replication, active runs and the last drill."""

from __future__ import annotations

from bot.ops.answer import ask, request
from bot.ops.options import ConfigOpt, JsonOpt
from bot.ops.output import dump
from bot.ops.render import status_report, status_tables
from bot.ops.wiring import serving
from commands.results import StatusResult


def status(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Readiness of every protected pool, replication, active runs and the last drill."""
    with serving(config) as service:
        result = ask(service, request("status"), StatusResult)
        if as_json:
            dump(status_report(result))
        else:
            status_tables(result)
