"""A twin of a real pool: load XAPI's XML database dump and serve it as a simulated site.

`load_dump(path)` reads the dump (`xe pool-dump-database`, or a host's state database) into a
`PoolDump`, keeping only what the twin models and never a secret; `build_twin(primary, ...)`
turns it, with a DR pool (a second dump or one generated to match) and the stated
assumptions, into the same `Scenario` the built-in estates use, so it is served like any
scenario (`sim.xapi.serve.start_sim`), control API, faults and all. docs/xapi-db-format.md
describes the format and where each rule comes from.
"""

from __future__ import annotations

from sim.xapi.twin.assumptions import Assumptions, load_assumptions
from sim.xapi.twin.build import Twin, build_twin
from sim.xapi.twin.dump import DumpError, PoolDump, load_dump

__all__ = [
    "Assumptions",
    "DumpError",
    "PoolDump",
    "Twin",
    "build_twin",
    "load_assumptions",
    "load_dump",
]
