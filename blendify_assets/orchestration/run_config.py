"""Run config for the sync runs the sensor and schedules launch.

Steps run in the run's own process, one after another. A sync step spends its time waiting on
HTTP for many users at once (asyncio inside the asset), so a subprocess per step (the default
multiprocess executor: ~2 s of interpreter and code loading each, 7 or 8 steps a run) would cost more
CPU on a small machine than the work itself; parallelism comes from concurrent runs instead.
"""

SYNC_RUN_CONFIG: dict = {"execution": {"config": {"in_process": {}}}}
