"""Which xapi release a pool runs, and the behaviour that changed between releases.

A scenario pool's `xapi_version` is the toolstack's version (xapi's own numbering:
`1.249.x` for Citrix Hypervisor 8.2, `yy.n.m` since 2023); the newest release modelled is
the default. Each behaviour that differs is one property here, named after what it does,
with the xen-api change that introduced it (docs/xapi-behaviours.md lists them all):

- `plug_scans`: until v23.22.0 the first plug of an SR on the coordinator scanned the SR
  (`Xapi_sr.scan_one`, in the background) and handled its metadata VDIs when the scan was
  done. "CA-379112 make PBD.plug wait for scan results" (xen-api 7c04e3e5, first in
  v23.22.0) replaced the scan by a direct call of its callback (`message_forwarding.ml`,
  `PBD.plug`): the metadata VDIs are handled and `SR.update` runs, but nothing scans, and
  `SR.introduce` sets no `auto-scan` / `dirty` key for the periodic scanner (`xapi_sr.ml`,
  `scan_all`). An SR the pool did not know has no VDI records until someone calls `SR.scan`.
"""

from __future__ import annotations

from dataclasses import dataclass

NEWEST = "26.17.0"
# The first release whose PBD.plug no longer scans (CA-379112).
PLUG_STOPS_SCANNING = (23, 22, 0)


def version_tuple(text: str) -> tuple[int, ...]:
    """`"23.22.0"` -> `(23, 22, 0)`; non-numeric parts are ignored."""
    return tuple(int(p) for p in text.split(".") if p.isdigit())


@dataclass(frozen=True)
class Release:
    """One xapi release (see the module docstring)."""

    version: str = NEWEST

    @property
    def plug_scans(self) -> bool:
        """Whether the coordinator's plug of an SR scans it (releases before v23.22.0)."""
        return version_tuple(self.version) < PLUG_STOPS_SCANNING
