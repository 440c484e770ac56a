"""The world's XAPI methods, registered with the core's dispatcher when imported.

Each module here turns wire arguments into a call of the operations below it (`storage.py`,
`metadata.py`, `dr_tasks.py`, `recovery.py`, `lifecycle.py`, `appliance.py`, `ha.py`) and
holds no behaviour of its own beyond checking its arguments; importing this package
registers them all (as importing `sim.xapi.server` registers the core's).
"""

from sim.xapi.methods import appliance, dr, ha, network, storage, vm

__all__ = ["appliance", "dr", "ha", "network", "storage", "vm"]
