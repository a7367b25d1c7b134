"""Hyperparameter sweeps: ``ft.sweep(builder, grid={...})`` starts one idempotent job per grid
point within Foundry's per-resource limits, ``wait()`` shows them all, ``results()`` ranks them and
``deploy_best()`` deploys the winner (see [`Sweep`][Sweep]).

The implementation is ``foundry_tune._sync._sweep``, generated from the async source whose
[`AsyncSweep`][aio.AsyncSweep] is the async twin (``await ft.sweep(...)``).
"""

from foundry_tune._core.sweep_plan import QUEUED_LIMIT, RUNNING_LIMIT  # noqa: F401 (importable helpers)
from foundry_tune._sync._sweep import Sweep, Trial, sweep

__all__ = ["Sweep", "Trial", "sweep"]
