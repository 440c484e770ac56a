"""What the twin assumes about what a dump cannot say: replication, lag, the DR pool.

A pool database does not know which LUNs the storage array replicates, how far behind the
mirror runs, or what the DR site looks like. The twin takes these from flags, else from a
small TOML file beside the dump (`pool.xml` -> `pool.twin.toml`), else from defaults, and
prints what it used (`Twin.notes`):

```toml
lag_seconds = 300                 # how far each mirror runs behind
replicated = ["Gold iSCSI"]       # SRs (name or uuid) the array replicates; default: every
                                  # shared SR that carries a VM disk
not_replicated = ["Scratch NFS"]  # taken out of that default
dr_capacity = 0.6                 # a generated DR pool: its hosts' memory and CPUs vs the primary's
dr_missing_networks = ["Backup"]  # networks a generated DR pool lacks
assume_dr_licensed = false        # true: treat the primary as licensed for DR even if the
                                  # dump says restrict_dr (e.g. a licence about to be applied)
```
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sim.xapi.twin.dump import DumpError


class Assumptions(BaseModel):
    """See the module docstring; `source` says where they came from (for the printout)."""

    model_config = ConfigDict(extra="forbid")

    lag_seconds: float = Field(300.0, ge=0)
    replicated: list[str] | None = None
    not_replicated: list[str] = Field(default_factory=list)
    dr_capacity: float = Field(1.0, gt=0, le=10)
    dr_missing_networks: list[str] = Field(default_factory=list)
    assume_dr_licensed: bool = False
    source: str = Field("", exclude=True)


def beside(dump: Path) -> Path:
    """The assumptions file that belongs to `dump`: same name, `.twin.toml`."""
    return dump.with_suffix(".twin.toml")


def load_assumptions(dump: str | Path, path: str | Path | None = None, **flags: Any) -> Assumptions:
    """Assumptions from `path` (or the file beside `dump`, if any), then flags that are not None.

    Raises DumpError (one line) for a file that is not valid TOML or names unknown keys.
    """
    dump = Path(dump)
    file = Path(path) if path is not None else beside(dump)
    data: dict[str, Any] = {}
    source = ""
    if path is not None or file.is_file():
        try:
            data = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise DumpError(f"{file}: cannot be read ({exc.strerror or exc})") from None
        except tomllib.TOMLDecodeError as exc:
            raise DumpError(f"{file}: not valid TOML ({exc}); fix the syntax") from None
        source = str(file)
    given = {k: v for k, v in flags.items() if v is not None}
    # A flag wins over the file, also where the file says the opposite about an SR.
    for key, other in (("replicated", "not_replicated"), ("not_replicated", "replicated")):
        if key in given and isinstance(data.get(other), list):
            data[other] = [n for n in data[other] if n not in given[key]]
    data.update(given)
    try:
        out = Assumptions.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'top level'}: {e['msg']}" for e in exc.errors()
        )
        raise DumpError(f"{source or 'assumptions'}: {problems}") from None
    out.source = source
    return out
