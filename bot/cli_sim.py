"""`drbot sim ...`: start the simulators and steer them (the only product code that imports sim/)."""

from __future__ import annotations

import typer

app = typer.Typer(no_args_is_help=True)
