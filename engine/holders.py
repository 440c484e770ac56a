"""Who drives a run: the process named in its pools' leases, and whether it is provably gone.

A lease names its holder as `host:pid:token` (the token tells two runners of one process
apart). A run whose lease has not expired is normally left alone: its process may still be
working. When the holder ran on this very host and its pid no longer exists, it is provably
gone (killed, crashed, the machine rebooted) and its runs may be taken over at once; a holder
on another host, or whose pid still exists (perhaps reused), can only be outlived: its lease
must expire first. Erring that way never lets two processes drive one run.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass


@dataclass(frozen=True)
class Holder:
    """One process that may hold leases."""

    host: str
    pid: int | None
    token: str = ""

    @classmethod
    def this_process(cls) -> Holder:
        return cls(socket.gethostname(), os.getpid(), uuid.uuid4().hex[:8])

    @classmethod
    def parse(cls, text: str) -> Holder:
        """Read a lease's holder; a holder written in another shape has no known pid."""
        parts = text.rsplit(":", 2)
        if len(parts) == 3 and parts[1].isdigit():
            return cls(parts[0], int(parts[1]), parts[2])
        return cls(text, None)

    def __str__(self) -> str:
        return f"{self.host}:{self.pid}:{self.token}"

    @property
    def on_this_host(self) -> bool:
        return self.host == socket.gethostname()

    @property
    def provably_gone(self) -> bool:
        """True only when the holder ran on this host and its process no longer exists."""
        if not self.on_this_host or self.pid is None or self.pid <= 0:
            return False
        try:
            os.kill(self.pid, 0)  # signal 0: the existence check, nothing is sent
        except ProcessLookupError:
            return True
        except PermissionError:
            return False  # it exists, under another user
        return False

    def describe(self) -> str:
        """The holder for a message: `process 1234 on host 'dr-bot-1'`."""
        if self.pid is None:
            return f"holder {self.host!r}"
        return f"process {self.pid} on host {self.host!r}"
