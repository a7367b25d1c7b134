"""What ``start()`` checks about money and dates before any upload or request (no I/O).

- The cost cap of ``start(max_cost=...)``: the training estimate, priced for the job's training
  type, against the cap; refused with [`CostLimitError`][CostLimitError] when it is over or
  cannot be computed. Reinforcement is billed per hour, so it has no total to check: its cap goes
  to the job (``job.max_cost``, recorded for later handles) for ``wait()`` to watch, and is refused
  when no hourly rate is known to watch it with.
- The base model's fine-tuning retirement: a [`RetirementWarning`][RetirementWarning] when it is
  near (``RETIREMENT_WARNING_DAYS``) or past.
"""

from __future__ import annotations

import logging
import math
import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from foundry_tune._method_kind import MethodKind
from foundry_tune.catalog import RetirementWarning, TrainingType, retirement_notice, training_per_hour
from foundry_tune.errors import CostLimitError, InvalidParameterError

if TYPE_CHECKING:
    from foundry_tune._core.spec import JobSpec
    from foundry_tune.dataset import CostEstimate, ValidationReport
    from foundry_tune.methods import TuningMethod

__all__ = [
    "check_cost_cap",
    "check_hourly_rate",
    "check_max_cost",
    "checked_with_estimate",
    "estimate_from_reports",
    "estimate_usd",
    "job_estimate",
    "priced_for_job",
    "warn_if_retiring",
]

log = logging.getLogger("foundry_tune.job")

DEFAULT_NOTE = ("no training type is sent: priced at Standard, the service's default "
                "(set .training_type(...) to price another)")


def check_max_cost(value: object) -> float | None:
    """``max_cost`` as a float, or ``None``; a negative, NaN, infinite, boolean or non-number cap
    is an [`InvalidParameterError`][InvalidParameterError]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidParameterError(f"max_cost must be a number of USD, not {type(value).__name__}")
    try:
        cap = float(value)
    except OverflowError:  # an int too large for a float
        cap = math.inf
    if not math.isfinite(cap) or cap < 0:
        shown = "a huge integer" if isinstance(value, int) and value.bit_length() > 64 else repr(value)
        raise InvalidParameterError(f"max_cost must be a finite number of USD >= 0, not {shown}")
    return cap


def job_estimate(spec: JobSpec) -> CostEstimate:
    """The job's training estimate priced for its training type (the service's default, Standard,
    when none is set). Raises [`InvalidParameterError`][InvalidParameterError] when the training
    data is an uploaded file id (no local tokens to count)."""
    return priced_for_job(spec.estimate(), spec.training_type_value)


def priced_for_job(estimate: CostEstimate, training_type: TrainingType | None) -> CostEstimate:
    """``estimate`` priced for a job's training type: ``None`` (none sent) prices at the service's
    default, Standard, and says so in the notes."""
    if training_type is not None:
        return estimate.priced_for(training_type)
    priced = estimate.priced_for(TrainingType.STANDARD)
    return priced.model_copy(update={"notes": [*priced.notes, DEFAULT_NOTE]})


def check_cost_cap(spec: JobSpec, method: TuningMethod, cap: float,
                   estimate: CostEstimate | None = None) -> CostEstimate | None:
    """Refuse (raise [`CostLimitError`][CostLimitError]) when the job's estimated training cost
    exceeds ``cap`` or cannot be computed (no price known, or a price that gives no finite
    figure). ``estimate``: the unpriced estimate the local validation already made (else it is
    made here). A reinforcement job (billed per hour, no total to check) is refused only when no
    hourly rate is known for it (the cap ``wait()`` watches could not be watched); it returns
    ``None``, any other job the estimate that passed."""
    if method.kind is MethodKind.REINFORCEMENT:
        check_hourly_rate(spec, cap)
        return None
    try:
        if estimate is None:
            estimate = job_estimate(spec)
        else:
            estimate = priced_for_job(estimate, spec.training_type_value)
    except InvalidParameterError as exc:
        raise CostLimitError(
            f"start(max_cost={cap:g}) refused: the training cost cannot be estimated ({exc}); nothing was "
            "uploaded or started", estimate=None, cap=cap, how=str(exc)) from None
    usd = estimate.training_usd
    if usd is None or estimate.formula is None or not math.isfinite(usd) or usd < 0:
        why = "; ".join(estimate.notes) or f"no training price known for {spec.model}"
        if usd is not None and (not math.isfinite(usd) or usd < 0):  # fail closed on a broken figure
            why = f"the estimate is {usd!r}, not a cost"
        raise CostLimitError(
            f"start(max_cost={cap:g}) refused: the training cost of {spec.model} cannot be estimated "
            f"({why}). "
            "Set a price with foundry_tune.set_price(model, Price(...)) (or for one training type, "
            "set_price(..., training_type=...)) to check the cap against it. Nothing was uploaded or started",
            estimate=None, cap=cap, how=why)
    how = f"{estimate.formula}; training price: {estimate.price_basis}"
    if usd > cap:
        raise CostLimitError(
            f"estimated training cost ${usd:,.2f} exceeds max_cost ${cap:,.2f}: {how}. "
            "Nothing was uploaded or started; raise max_cost, train fewer epochs or tokens, or pick a "
            "cheaper training type (Global, Developer)", estimate=usd, cap=cap, how=how)
    log.info("estimated training cost $%.2f is within max_cost $%.2f: %s", usd, cap, how)
    return estimate


def check_hourly_rate(spec: JobSpec, cap: float) -> float:
    """The hourly training rate of a reinforcement job, which ``wait()`` needs to watch
    ``max_cost``; [`CostLimitError`][CostLimitError] when none is known (or it is not a finite
    number >= 0), before any upload, as for a token-billed job without a price."""
    training_type = spec.training_type_value or TrainingType.STANDARD
    rate = training_per_hour(spec.model, training_type)
    if rate is None or not math.isfinite(rate) or rate < 0:
        why = (f"no hourly reinforcement training price known for {spec.model}" if rate is None
               else f"the hourly price is {rate!r}, not a rate")
        raise CostLimitError(
            f"start(max_cost={cap:g}) refused: the training cost of reinforcement job on {spec.model} cannot "
            f"be watched ({why}). Set a price with foundry_tune.set_price(model, Price(..., "
            "training_per_hour=...)) to watch the cap against it. Nothing was uploaded or started",
            estimate=None, cap=cap, how=why)
    return rate


def checked_with_estimate(spec: JobSpec) -> tuple[TuningMethod, str, CostEstimate | None]:
    """What [`JobSpec.checked()`][foundry_tune._core.spec.JobSpec.checked] does (the static checks,
    local validation, the fingerprint), also returning the unpriced training estimate that
    validation made (``None`` for remote data), so that ``start()`` reads the data once."""
    from foundry_tune.errors import DatasetValidationError

    method = spec.method_or_default()
    spec.check_static(method)
    reports = spec.validate_local(method)
    for report in reports:
        if not report.valid:
            raise DatasetValidationError(report)
    return method, spec.fingerprint_for(method), estimate_from_reports(spec, reports)


def estimate_from_reports(spec: JobSpec, reports: Sequence[ValidationReport]) -> CostEstimate | None:
    """The unpriced training estimate the local validation of ``spec`` made (the training data's
    report), or ``None`` (remote data, or no estimate)."""
    from foundry_tune.dataset import Dataset

    if not isinstance(spec.training, Dataset) or not reports:
        return None
    return reports[0].estimate


def estimate_usd(estimate: CostEstimate | None) -> float | None:
    """The estimate's training cost in USD when it is a finite figure >= 0, else ``None``."""
    usd = None if estimate is None else estimate.training_usd
    return usd if usd is not None and math.isfinite(usd) and usd >= 0 else None


def warn_if_retiring(model: str) -> str | None:
    """Warn (a [`RetirementWarning`][RetirementWarning], and an INFO log line) when ``model``'s
    fine-tuning retirement is near or past; returns the message, or ``None``."""
    notice = retirement_notice(model)
    if notice is None:
        return None
    # INFO, not WARNING: where logging is not configured (the CLI) Python prints WARNING records
    # itself, and the notice would show twice.
    log.info("%s", notice)
    warnings.warn(notice, RetirementWarning, stacklevel=3)
    return notice
