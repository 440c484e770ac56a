"""`drbot sim serve` run as a person runs it, in a child process, for the tests that need the
whole command (its options, its files, Ctrl-C)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


@contextmanager
def sim_serve(
    options: list[str], endpoints: Path, config: Path
) -> Iterator[tuple[subprocess.Popen[str], str, dict[str, Any]]]:
    """`drbot sim serve OPTIONS --speed 1000 --endpoints ... --config ...` until its files are
    written; yields the process, what it printed by then and the endpoints; Ctrl-C at the end."""
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "bot.cli", "sim", "serve", *options),
            *("--speed", "1000", "--endpoints", str(endpoints), "--config", str(config)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # the server says when the files are written
        lines.append(line)
        if line.startswith("drbot configuration written"):
            break
    else:
        pytest.fail("".join(lines))
    try:
        yield proc, "".join(lines), json.loads(endpoints.read_text())
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
