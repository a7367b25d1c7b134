"""``foundry-tune doctor``: record the shapes of a real project's answers, compare them with the emulator.

[`record()`][record] makes read-only calls on a connection (list files, list jobs, one job, its events
and checkpoints, list deployments, one deployment) and returns a record of their *shapes*: keys,
value types and enum-like values such as ``status``, with every id, name, endpoint, number and
free text replaced by a typed placeholder. [`compare()`][compare] makes the same calls on an emulator and
lists the [`Difference`][Difference] rows. See ``docs/doctor.md``.
"""

from foundry_tune.doctor._calls import DEFAULT_TIME_BOUND as DEFAULT_TIME_BOUND
from foundry_tune.doctor._calls import collect as collect
from foundry_tune.doctor._calls import compare, record
from foundry_tune.doctor._calls import quiet_wire_logs as quiet_wire_logs
from foundry_tune.doctor._calls import seed_emulator as seed_emulator
from foundry_tune.doctor._record import Answer, compare_records, load_record
from foundry_tune.doctor._record import build_record as build_record
from foundry_tune.doctor._record import format_comparison as format_comparison
from foundry_tune.doctor._shapes import Difference, diff, shape_of
from foundry_tune.doctor._shapes import redact as redact

# The `name as name` imports are internal helpers: importable as before, not in __all__ (issue 11).
__all__ = [
    "Answer",
    "Difference",
    "compare",
    "compare_records",
    "diff",
    "load_record",
    "record",
    "shape_of",
]
