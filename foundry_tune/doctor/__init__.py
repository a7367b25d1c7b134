"""``foundry-tune doctor``: record the shapes of a real project's answers, compare them with the emulator.

:func:`record` makes read-only calls on a connection (list files, list jobs, one job, its events
and checkpoints, list deployments, one deployment) and returns a record of their *shapes*: keys,
value types and enum-like values such as ``status``, with every id, name, endpoint, number and
free text replaced by a typed placeholder. :func:`compare` makes the same calls on an emulator and
lists the :class:`Difference` rows. See ``docs/doctor.md``.
"""

from foundry_tune.doctor._calls import (
    DEFAULT_TIME_BOUND,
    collect,
    compare,
    quiet_wire_logs,
    record,
    seed_emulator,
)
from foundry_tune.doctor._record import Answer, build_record, compare_records, format_comparison, load_record
from foundry_tune.doctor._shapes import Difference, diff, redact, shape_of

__all__ = [
    "DEFAULT_TIME_BOUND",
    "Answer",
    "Difference",
    "build_record",
    "collect",
    "compare",
    "compare_records",
    "diff",
    "format_comparison",
    "load_record",
    "quiet_wire_logs",
    "record",
    "redact",
    "seed_emulator",
    "shape_of",
]
