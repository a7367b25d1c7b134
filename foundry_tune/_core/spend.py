"""What is billing now and what it has cost so far, without I/O: the rates, the hours, the report,
and the reinforcement spend meter that ``wait()`` uses to pause a job at the user's cap.

What bills (Microsoft's "Cost management for fine-tuning",
https://learn.microsoft.com/azure/foundry/openai/how-to/fine-tuning-cost-management):

- supervised and DPO training: per training token, billed once the job is done (the job's
  ``trained_tokens`` times the price per token);
- reinforcement training: per hour of core training time ($100/h for ``o4-mini-2025-04-16``), plus
  the grader model's tokens billed separately; the service pauses a reinforcement job at $5,000 of
  total training cost (training + grading), after which the user may deploy the latest checkpoint
  or resume (billing then goes on with no further cost-based limit)
  (https://learn.microsoft.com/azure/foundry/openai/how-to/reinforcement-fine-tuning);
- a deployment of a fine-tuned model: an hourly hosting fee for every hour it exists, used or
  not ($1.70/h for Standard and Global Standard in the docs' table); the Developer tier has none;
- inference: per token, at the base model's rates (not counted here: it needs usage data).

Paused jobs and time in the queue are not billed.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import math
import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from foundry_tune import catalog
from foundry_tune._core import start_checks
from foundry_tune._core.deployment_info import DeploymentInfo
from foundry_tune._core.events import JobEvent
from foundry_tune._core.job_state import JobState
from foundry_tune._core.lifecycle import base_model_of
from foundry_tune._core.status import JobStatus
from foundry_tune._method_kind import MethodKind
from foundry_tune._table import columns
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "CAP_KEY",
    "ESTIMATE_KEY",
    "MAX_NOW",
    "MIN_NOW",
    "NOTE_MAX_BYTES",
    "SERVICE_CAP_USD",
    "DeploymentSpend",
    "JobSpend",
    "SpendMeter",
    "SpendReport",
    "build_report",
    "cap_cli_hint",
    "cap_hint",
    "check_max_cost",
    "check_now",
    "deployment_created_at",
    "deployment_spend",
    "hosting_rate",
    "is_fine_tuned_model",
    "job_note",
    "job_note_text",
    "job_spend",
    "meter_now",
    "metered_seconds",
    "paused_by_service",
    "recorded_usd",
    "service_cap_event",
    "service_cap_message",
    "training_rate",
    "training_seconds",
    "user_cap_message",
    "with_note",
]

SERVICE_CAP_USD = 5000.0
"""The service pauses a reinforcement job once its total training cost (training + grading) reaches
this many USD (https://learn.microsoft.com/azure/foundry/openai/how-to/reinforcement-fine-tuning)."""

ESTIMATE_KEY = "foundry_tune_estimated_cost_usd"
"""Job metadata key under which ``start()`` records the training estimate of a supervised or DPO
job (USD), for ``spend()`` to show while it runs. Not part of the job's fingerprint."""

CAP_KEY = "foundry_tune_max_cost_usd"
"""Job metadata key under which ``start(max_cost=...)`` records a reinforcement job's spend cap
(USD), for a later handle's ``wait()`` to watch. Not part of the job's fingerprint."""

NOTE_MAX_BYTES = 4096
"""The largest local job note read back (``start()`` writes a few dozen bytes)."""

MIN_NOW = 946684800.0
"""The earliest ``now`` ``spend()`` takes: 2000-01-01 UTC, in Unix seconds."""
MAX_NOW = 7258118400.0
"""The latest: 2200-01-01 UTC."""

_BILLING_JOB_STATUSES = frozenset({JobStatus.RUNNING, JobStatus.PAUSING, JobStatus.RESUMING})
_PAUSED = frozenset({JobStatus.PAUSING, JobStatus.PAUSED})
_TRAINED = _BILLING_JOB_STATUSES | _PAUSED
_TRAINING_STARTED = ("training started", "fine-tuning job started")
_CAP_WORDING = re.compile(
    r"\$\s*5,?000\b|\b(?:cost|spend(?:ing)?|billing|budget)\b[^.]{0,40}\b(?:limit|cap|threshold)\b",
    re.IGNORECASE,
)
_STEP = re.compile(r"^\s*step\s*\d+", re.IGNORECASE)
_WIDTH = 100


# --- rates ------------------------------------------------------------------------------------


def is_fine_tuned_model(model: str | None) -> bool:
    """Whether a deployment's model is a fine-tuned model (or one of its checkpoints), which bills
    an hourly hosting fee: Azure's ``<base>.ft-<id>`` or OpenAI's ``ft:<base>:...`` ids."""
    if not model:
        return False
    lowered = model.lower()
    return ".ft-" in lowered or lowered.startswith("ft:") or ":ft-" in lowered or ":ckpt-step-" in lowered


def hosting_rate(model: str | None, sku: str | None) -> float | None:
    """USD per hour a deployment of fine-tuned ``model`` with ``sku`` bills while it exists
    ([`catalog.hosting_per_hour()`][foundry_tune.catalog.hosting_per_hour]: 0 for the Developer
    tier, ``None`` where unknown, such as provisioned throughput billed by PTU)."""
    if not model or not sku or not sku.strip():
        return None
    return catalog.hosting_per_hour(model, sku)


def training_rate(model: str, training_type: catalog.TrainingType | None = None) -> float | None:
    """USD per hour of reinforcement training for base ``model`` with ``training_type`` (``None``
    where unknown), from [`catalog.training_per_hour()`][foundry_tune.catalog.training_per_hour]."""
    return catalog.training_per_hour(model, training_type)


def check_max_cost(value: object) -> float | None:
    """``value`` as a cap in USD (a finite number >= 0, as ``start(max_cost=...)`` takes) or
    ``None``; else [`InvalidParameterError`][InvalidParameterError]."""
    return start_checks.check_max_cost(value)


def recorded_usd(value: object) -> float | None:
    """A USD figure recorded in job metadata or a local note (a number or its text), when it is a
    finite number >= 0; else ``None`` (missing, edited, broken)."""
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    number = float(value)
    return number if math.isfinite(number) and number >= 0 else None


def job_note_text(*, max_cost: float | None = None, estimate: float | None = None) -> str:
    """The content of the local note ``start()`` keeps for a job (under ``FOUNDRY_TUNE_STATE_DIR``):
    its spend cap and training estimate in USD, for a service that does not echo job metadata."""
    note: dict[str, float] = {}
    if max_cost is not None:
        note["max_cost_usd"] = max_cost
    if estimate is not None:
        note["estimate_usd"] = estimate
    return json.dumps(note, sort_keys=True)


def job_note(text: str) -> dict[str, float]:
    """A local job note read back: ``max_cost_usd`` / ``estimate_usd`` where valid (an empty dict
    for a torn or edited note)."""
    try:
        raw = json.loads(text)
    except (ValueError, RecursionError):
        return {}
    if not isinstance(raw, dict):
        return {}
    note: dict[str, float] = {}
    for key in ("max_cost_usd", "estimate_usd"):
        value = raw.get(key)
        value = None if isinstance(value, str) else recorded_usd(value)
        if value is not None:
            note[key] = value
    return note


def with_note(old: Mapping[str, float], *, max_cost: float | None = None,
              estimate: float | None = None) -> str:
    """The note ``old`` with a new cap and/or estimate (``None`` keeps the old value)."""
    return job_note_text(max_cost=max_cost if max_cost is not None else old.get("max_cost_usd"),
                         estimate=estimate if estimate is not None else old.get("estimate_usd"))


def check_now(moment: object) -> float:
    """``spend(now=...)`` as Unix seconds: a datetime (naive: UTC) or finite Unix seconds between
    2000 and 2200 ([`MIN_NOW`][MIN_NOW], [`MAX_NOW`][MAX_NOW]); else
    [`InvalidParameterError`][InvalidParameterError]."""
    if isinstance(moment, dt.datetime):
        aware = moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
        try:
            seconds = aware.timestamp()
        except (OverflowError, ValueError, OSError):
            seconds = math.nan
    elif isinstance(moment, bool) or not isinstance(moment, (int, float)):
        raise InvalidParameterError(f"now must be a datetime or Unix seconds, got {type(moment).__name__}")
    else:
        try:
            seconds = float(moment)
        except OverflowError:
            seconds = math.inf
    if not math.isfinite(seconds) or not MIN_NOW <= seconds <= MAX_NOW:
        shown = repr(moment) if not isinstance(moment, int) or moment.bit_length() <= 64 else "a huge integer"
        raise InvalidParameterError(f"now must be a datetime or Unix seconds between 2000 and 2200, got "
                                    f"{shown[:60]}")
    return seconds


# --- time ---------------------------------------------------------------------------------------


def deployment_created_at(info: DeploymentInfo) -> dt.datetime | None:
    """When the deployment was created: ARM's ``systemData.createdAt`` (every ARM resource has it;
    Azure writes seven fractional digits), else the ``created-at`` tag foundry-tune writes."""
    system = info.raw.get("systemData")
    if isinstance(system, Mapping):
        parsed = _parse_time(system.get("createdAt"))
        if parsed is not None:
            return parsed
    return info.created_at


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str) or not value:
        return None
    text = value.strip().replace("Z", "+00:00")
    match = re.fullmatch(r"(.*T\d\d:\d\d:\d\d)(\.\d+)?(.*)", text)
    if match:  # at most 6 fractional digits for fromisoformat
        fraction = (match.group(2) or "")[:7]
        text = match.group(1) + fraction + match.group(3)
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.timezone.utc)


def _kind(message: str) -> Literal["start", "pause", "resume", "step", ""]:
    text = message.strip().lower()
    if any(text.startswith(marker) for marker in _TRAINING_STARTED):
        return "start"
    if _STEP.match(text):
        return "step"
    if re.search(r"\bpaused\b", text):
        return "pause"
    if re.search(r"\bresumed\b", text):
        return "resume"
    return ""


def training_seconds(events: Iterable[JobEvent], now: float, *,
                     status: JobStatus | None = None) -> float | None:
    """Seconds a job has spent training, read from its events: from the first ``Training started.``
    (or, failing that, the first step event) to ``now``, less the spans between ``paused`` and
    ``resumed`` events. A job whose ``status`` is paused counts up to its last event only (Azure
    writes no event when a job pauses). ``None`` when no event shows training started."""
    ordered = sorted(events, key=lambda e: e.created_at)
    total = 0.0
    since: float | None = None
    started = False
    last = None
    for event in ordered:
        kind = _kind(event.message)
        at = float(event.created_at)
        last = at
        if kind in ("start", "step") and not started:
            started, since = True, at
        elif kind == "pause" and since is not None:
            total += max(0.0, at - since)
            since = None
        elif kind in ("resume", "step") and started and since is None:
            since = at
    if not started:
        return None
    if since is not None:
        end = last if status in _PAUSED and last is not None else now
        total += max(0.0, end - since)
    return total


def service_cap_event(events: Iterable[JobEvent]) -> JobEvent | None:
    """The newest event in which the service says it paused the job at its spend cap, if it is
    still what holds the job paused: ``None`` when the job was resumed after it (a later pause is
    the user's, not the service's)."""
    found = None
    resumed = None
    for event in events:
        if _CAP_WORDING.search(event.message) and (found is None or event.created_at >= found.created_at):
            found = event
        elif _kind(event.message) == "resume" and (resumed is None or event.created_at > resumed):
            resumed = event.created_at
    if found is not None and resumed is not None and resumed >= found.created_at:
        return None
    return found


def paused_by_service(events: Sequence[JobEvent], accrued: float | None) -> bool:
    """Whether a paused reinforcement job was paused by the service at its $5,000 cap: its own
    event says so ([`service_cap_event()`][service_cap_event]), or, where no such event is read,
    the job reached $5,000 and was never resumed (so no pause of the user's past the cap can be
    the one holding it). A job resumed past the cap and paused again was paused by the user."""
    if service_cap_event(events) is not None:
        return True
    if accrued is None or accrued < SERVICE_CAP_USD:
        return False
    return not any(_kind(event.message) == "resume" for event in events)


def meter_now(wall: float, events: Iterable[JobEvent]) -> float:
    """The moment spend is metered at: the later of the local clock (``wall``, Unix seconds) and
    the job's newest event, so that a service clock ahead of the local one is followed. The spend
    watch of ``wait()`` and ``spend()`` both use it."""
    newest = max((float(e.created_at) for e in events), default=0.0)
    return max(wall, newest)


def metered_seconds(events: Sequence[JobEvent], status: JobStatus, wall: float) -> float:
    """The training seconds of a reinforcement job at [`meter_now()`][meter_now]: what both the
    spend watch and ``spend()`` count ([`training_seconds()`][training_seconds]; 0 before training)."""
    return training_seconds(events, meter_now(wall, events), status=status) or 0.0


class SpendMeter:
    """Accrued reinforcement training spend while a job is watched.

    Feed it one observation per poll ([`observe()`][observe]): the job's status, the events seen so
    far and the local time. The first observation reads the training time so far from the events
    with [`metered_seconds()`][metered_seconds], the function ``spend()`` uses; after that, each
    interval between two observations counts when the job was running at its start (a pause the
    events do not show still stops the meter). Every time is [`meter_now()`][meter_now], the
    moment ``spend()`` meters at too, so while the job runs both give the same figure.
    """

    def __init__(self, per_hour: float | None) -> None:
        self.per_hour = per_hour
        self.seconds = 0.0
        self._last: tuple[float, JobStatus] | None = None

    def observe(self, status: JobStatus, events: Sequence[JobEvent], wall_now: float) -> float:
        """Account for one poll; returns the training seconds so far."""
        now = meter_now(wall_now, events)
        if self._last is None:
            self.seconds = metered_seconds(events, status, wall_now)
        else:
            then, was = self._last
            now = max(now, then)
            if was is JobStatus.RUNNING:
                self.seconds += now - then
        self._last = (now, status)
        return self.seconds

    @property
    def hours(self) -> float:
        """Training hours so far."""
        return self.seconds / 3600.0

    @property
    def accrued(self) -> float | None:
        """USD accrued so far (``None`` without an hourly rate)."""
        return None if self.per_hour is None else self.hours * self.per_hour

    def reached(self, cap: float | None) -> bool:
        """Whether the accrued spend reached ``cap``."""
        accrued = self.accrued
        return cap is not None and accrued is not None and accrued >= cap


def user_cap_message(job_id: str, *, accrued: float, cap: float, hours: float, per_hour: float,
                     paused: bool) -> str:
    """The message of the error a wait raises when it paused a job at the user's cap (or, with
    ``paused`` false, could not: the job is still training and billing)."""
    what = ("paused it" if paused else
            "could NOT pause it: it is STILL TRAINING AND BILLING; pause or cancel it yourself now")
    return (f"reinforcement job {job_id} reached its spend cap: about {_usd(accrued)} of training "
            f"({hours:.2f} h at {_usd(per_hour)}/h) against max_cost={_usd(cap)}; foundry-tune {what}")


def service_cap_message(job_id: str, *, accrued: float | None, said: str | None) -> str:
    """The message of the error a wait raises when the service paused a job at its own cap."""
    so_far = f" (foundry-tune counts about {_usd(accrued)} of training time)" if accrued else ""
    quoted = f': "{said}"' if said else ""
    return (f"reinforcement job {job_id} was paused by the service at its ${SERVICE_CAP_USD:,.0f} spend cap "
            f"(training + grading){so_far}{quoted}")


def cap_hint(resume: str, deploy: str, *, service: bool, pause: str | None = None,
             cancel: str | None = None) -> str:
    """What to do with a job paused at a spend cap (``resume`` / ``deploy``: the calls to show);
    with ``pause`` and ``cancel`` (the calls), what to do with one whose pause failed."""
    if pause is not None and cancel is not None:
        return (f"the pause failed and the job is still training: pause it ({pause}) or cancel it "
                f"({cancel}) now; a paused job keeps its checkpoints")
    after = ("billing then goes on with no further cost-based limit" if service
             else "billing goes on: wait(max_cost=...) with a higher cap watches it again")
    return (f"inspect its metrics and checkpoints, then deploy the latest checkpoint ({deploy}) "
            f"or resume training ({resume}; {after})")


def cap_cli_hint(job_id: str, *, service: bool, paused: bool = True) -> str:
    """[`cap_hint()`][cap_hint] as ``foundry-tune`` commands, for the command line."""
    if not paused:
        return (f"the pause failed and the job is still training: foundry-tune jobs pause {job_id} "
                f"(or foundry-tune jobs cancel {job_id}) now")
    after = ("billing then goes on with no further cost-based limit" if service
             else f"billing goes on: foundry-tune jobs watch {job_id} --max-cost USD with a higher cap "
                  "watches it again")
    return (f"list its checkpoints (foundry-tune jobs checkpoints {job_id}), deploy the latest "
            f"(foundry-tune deploy create CHECKPOINT_MODEL --job-id {job_id}) or resume training "
            f"(foundry-tune jobs resume {job_id}; {after})")


# --- the report ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DeploymentSpend:
    """One live deployment of a fine-tuned model and what it bills."""

    name: str
    model: str | None
    sku: str | None
    state: str | None
    per_hour: float | None
    """USD per hour of hosting (0 for the Developer tier; ``None``: could not be priced)."""
    created_at: dt.datetime | None
    hours: float | None
    """Hours since creation (``None`` when ARM gives no creation time)."""
    job_id: str | None = None

    @property
    def so_far(self) -> float | None:
        """Hosting cost since creation, in USD (``None`` when the rate or the hours are unknown)."""
        if self.per_hour is None or self.hours is None:
            return None
        return self.per_hour * self.hours

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "name": self.name, "model": self.model, "sku": self.sku, "state": self.state,
            "per_hour_usd": self.per_hour, "created_at": _iso(self.created_at),
            "hours": _round(self.hours, 4), "so_far_usd": _round(self.so_far, 2), "job_id": self.job_id,
        }


@dataclasses.dataclass(frozen=True)
class JobSpend:
    """One live fine-tuning job and what it costs."""

    id: str
    model: str
    status: str
    method: str | None
    """``supervised``, ``dpo``, ``reinforcement``, or ``None`` when the job does not say."""
    training_type: str | None
    billing: Literal["tokens", "hours", "unknown"]
    per_hour: float | None = None
    """Reinforcement: USD per training hour (``None`` for token-billed jobs or unknown)."""
    hours: float | None = None
    """Reinforcement: training hours so far."""
    so_far: float | None = None
    """USD accrued so far (reinforcement: hours x rate; token-billed jobs bill at the end)."""
    estimate: float | None = None
    """USD for the whole job where known: trained tokens x price, or the estimate ``start()`` recorded."""
    note: str | None = None

    @property
    def billing_now(self) -> bool:
        """Whether the job accrues cost by the hour right now (a running reinforcement job)."""
        return self.billing == "hours" and self.status in {s.value for s in _BILLING_JOB_STATUSES}

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {
            "id": self.id, "model": self.model, "status": self.status, "method": self.method,
            "training_type": self.training_type, "billing": self.billing, "per_hour_usd": self.per_hour,
            "hours": _round(self.hours, 4), "so_far_usd": _round(self.so_far, 2),
            "estimate_usd": _round(self.estimate, 2), "note": self.note,
        }


@dataclasses.dataclass(frozen=True)
class SpendReport:
    """What is billing now and what it has cost so far (``ft.spend()``).

    ``deployments``: live deployments of fine-tuned models with their hourly rate and hours up;
    ``jobs``: live fine-tuning jobs with their estimate; ``per_hour``: what bills by the hour right
    now (hosting plus running reinforcement jobs); ``so_far``: the sum of the costs that could be
    computed. ``unpriced`` names what could not be priced and ``incomplete`` what could not be listed
    in full (so a total may be low). Prices are list prices as of ``prices_as_of``
    (``prices_source``); inference tokens and grader tokens are not counted.
    """

    at: dt.datetime
    deployments: tuple[DeploymentSpend, ...]
    jobs: tuple[JobSpend, ...]
    unpriced: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()
    other_deployments: int = 0
    """Live deployments of base models (billed per token only, not shown)."""
    prices_as_of: str = catalog.PRICES_AS_OF
    prices_source: str = catalog.PRICES_SOURCE

    @property
    def per_hour(self) -> float:
        """USD per hour billing right now (hosting of live deployments + running reinforcement jobs)."""
        hosting = sum(d.per_hour or 0.0 for d in self.deployments)
        training = sum(j.per_hour or 0.0 for j in self.jobs if j.billing_now)
        return hosting + training

    @property
    def so_far(self) -> float:
        """USD accrued so far by what is listed (what could be priced)."""
        return sum(d.so_far or 0.0 for d in self.deployments) + sum(j.so_far or 0.0 for j in self.jobs)

    def prices_used(self) -> list[tuple[str, str, str]]:
        """``(what, as of, source)`` of each price the report used: hosting fees, reinforcement
        hourly rates and per-token training prices (their
        [`TrainingPrice`][foundry_tune.catalog.TrainingPrice] ``as_of``; ``""`` where no date
        applies), without repeats."""
        used: list[tuple[str, str, str]] = []

        def add(item: tuple[str, str, str]) -> None:
            if item not in used:
                used.append(item)

        for d in self.deployments:
            if d.per_hour is None:
                continue
            base = base_model_of(d.model or "")
            info = catalog.lookup_model(base)
            ours = info is not None and catalog.price_for(base) is info.price
            if d.per_hour == 0.0 or ours:
                add(("hosting fees", catalog.PRICES_AS_OF, catalog.COST_GUIDE_URL))
            else:
                add((f"hosting fee of {base}", "", "your set_price()"))
        for j in self.jobs:
            if (j.per_hour is None and j.estimate is None) or j.method is None:
                continue
            price = catalog.training_price(j.model, j.training_type, j.method)
            if price is None:
                add((f"estimate of {j.id}", "", "recorded by start()"))
                continue
            what = "reinforcement training per hour" if j.billing == "hours" else "training per 1M tokens"
            add((f"{what} of {price.model}", price.as_of, price.source))
        return used

    def prices_line(self) -> str:
        """The report's last line: the dates and sources of the prices it used (the per-model list
        prices are older than the day the price table was last checked)."""
        used = self.prices_used()
        if not used:
            return "prices: none used (nothing listed is priced)"
        parts = [f"{what} as of {as_of} ({source})" if as_of else f"{what}: {source}"
                 for what, as_of, source in used]
        return "prices: " + "; ".join(parts) + "; indicative list prices, check your agreement"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``json.dumps(report.to_dict())``)."""
        return {
            "at": _iso(self.at),
            "per_hour_usd": _round(self.per_hour, 4),
            "so_far_usd": _round(self.so_far, 2),
            "deployments": [d.to_dict() for d in self.deployments],
            "jobs": [j.to_dict() for j in self.jobs],
            "other_deployments": self.other_deployments,
            "unpriced": list(self.unpriced),
            "incomplete": list(self.incomplete),
            "prices_as_of": self.prices_as_of,
            "prices_source": self.prices_source,
            "prices_used": [{"what": what, "as_of": as_of or None, "source": source}
                            for what, as_of, source in self.prices_used()],
        }

    def to_json(self) -> str:
        """[`to_dict()`][to_dict] as indented JSON."""
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False)

    def to_text(self) -> str:
        """Tables of the deployments and jobs and the totals, in at most 100 columns except where an
        id or name is longer (ids are never cut)."""
        parts: list[str] = []
        if self.deployments:
            rows = [["DEPLOYMENT", "SKU", "$/H", "HOURS", "SO FAR", "BASE MODEL"]]
            rows += [[d.name, d.sku or "-", _money(d.per_hour), _hours(d.hours), _money(d.so_far),
                      _base_model(d.model)] for d in self.deployments]
            parts.append(columns(rows))
        else:
            parts.append("no live deployments of fine-tuned models\n")
        if self.jobs:
            rows = [["JOB", "STATUS", "METHOD", "TYPE", "$/H", "HOURS", "COST"]]
            rows += [[j.id, j.status, _method(j.method), _training_type(j.training_type), _money(j.per_hour),
                      _hours(j.hours), _job_cost(j)] for j in self.jobs]
            parts.append(columns(rows))
        else:
            parts.append("no live fine-tuning jobs\n")
        lines = [f"billing now: {_usd(self.per_hour)}/h; so far: {_usd(self.so_far)} "
                 "(hosting + reinforcement training; inference and grader tokens not counted)"]
        if any(j.billing == "tokens" for j in self.jobs):
            lines.append("COST: so far for jobs billed by the hour; ~ the whole job's estimate for jobs "
                         "billed per token (charged when training ends)")
        if self.other_deployments:
            lines.append(f"{self.other_deployments} base-model deployment(s) not shown: billed per token, "
                         "no hourly fee")
        lines += [f"not priced: {item}" for item in self.unpriced]
        lines += [f"incomplete: {item}" for item in self.incomplete]
        lines.append(self.prices_line())
        wrapped = [textwrap.fill(line, _WIDTH, subsequent_indent="  ", break_long_words=False,
                                 break_on_hyphens=False) for line in lines]
        parts.append("".join(line + "\n" for line in wrapped))
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.to_text()


def deployment_spend(info: DeploymentInfo, now: dt.datetime) -> DeploymentSpend:
    """The spend line of one deployment at ``now``."""
    created = deployment_created_at(info)
    hours = None if created is None else max(0.0, (now - created).total_seconds() / 3600.0)
    return DeploymentSpend(name=info.name, model=info.model, sku=info.sku, state=info.provisioning_state,
                           per_hour=hosting_rate(info.model, info.sku), created_at=created, hours=hours,
                           job_id=info.job_id)


def build_report(
    now: float,
    deployments: Iterable[DeploymentInfo],
    jobs: Iterable[tuple[JobState, Sequence[JobEvent] | None]],
    *,
    incomplete: Iterable[str] = (),
) -> SpendReport:
    """The report at ``now`` (Unix seconds) from what was listed: every deployment (only live
    deployments of fine-tuned models get a line) and every live job with its events (``None`` when
    they were not read). ``incomplete`` names listings that were cut short."""
    at = dt.datetime.fromtimestamp(now, tz=dt.timezone.utc)
    lines: list[DeploymentSpend] = []
    others = 0
    for info in deployments:
        if info.failed or (info.provisioning_state or "").lower() == "deleting":
            continue
        if is_fine_tuned_model(info.model):
            lines.append(deployment_spend(info, at))
        else:
            others += 1
    job_lines = [job_spend(job, now, events) for job, events in jobs]
    unpriced = [f"deployment {d.name}: no hourly price known for {d.model} on {d.sku or 'an unknown SKU'}"
                for d in lines if d.per_hour is None]
    unpriced += [f"deployment {d.name}: no creation time, hours up unknown"
                 for d in lines if d.hours is None]
    unpriced += [f"job {j.id}: no hourly training price known for {j.model}"
                 for j in job_lines if j.billing == "hours" and j.per_hour is None]
    unpriced += [f"job {j.id}: {j.note}" for j in job_lines
                 if j.billing == "hours" and j.hours is None and j.note]
    unpriced += [f"job {j.id}: no training price known for {j.model}"
                 for j in job_lines if j.billing == "tokens" and j.estimate is None
                 and catalog.training_price(j.model, j.training_type, j.method) is None]
    return SpendReport(at=at, deployments=tuple(lines), jobs=tuple(job_lines), unpriced=tuple(unpriced),
                       incomplete=tuple(incomplete), other_deployments=others)


def job_spend(job: JobState, now: float, events: Sequence[JobEvent] | None = None) -> JobSpend:
    """The spend line of one live job at ``now`` (Unix seconds); ``events`` (reinforcement jobs:
    its events, to read the training time) may be None when they could not be read."""
    method = job.method
    kind = method.kind if method is not None else None
    training_type = job.training_type
    common: dict[str, Any] = {
        "id": job.id, "model": job.model, "status": job.status.value,
        "method": kind.value if kind is not None else None,
        "training_type": training_type.value if training_type is not None else None,
    }
    if kind is MethodKind.REINFORCEMENT:
        rate = training_rate(job.model, training_type)
        if job.status not in _TRAINED:  # validating, queued: no training time yet
            return JobSpend(**common, billing="hours", per_hour=rate, hours=0.0,
                            so_far=None if rate is None else 0.0)
        if events is None:
            return JobSpend(**common, billing="hours", per_hour=rate, note="events not read: hours unknown")
        seconds = metered_seconds(events, job.status, now)
        hours = seconds / 3600.0
        return JobSpend(**common, billing="hours", per_hour=rate, hours=hours,
                        so_far=None if rate is None else rate * hours)
    if kind is None:
        return JobSpend(**common, billing="unknown", note="the job does not say its method")
    return JobSpend(**common, billing="tokens", estimate=_token_estimate(job, kind),
                    note=None if job.trained_tokens else "billed per token when training ends")


def _token_estimate(job: JobState, kind: MethodKind) -> float | None:
    tokens = job.trained_tokens
    price = catalog.training_price(job.model, job.training_type, kind) if tokens else None
    if tokens and price is not None and price.per_1m is not None:
        return tokens / 1_000_000 * price.per_1m
    return recorded_usd(job.metadata.get(ESTIMATE_KEY))


# --- formatting ---------------------------------------------------------------------------------


def _usd(value: float | None) -> str:
    return "?" if value is None else f"${value:,.2f}"


def _money(value: float | None) -> str:
    return "-" if value is None else f"{value:,.2f}"


def _hours(value: float | None) -> str:
    return "-" if value is None else f"{value:,.1f}"


def _method(value: str | None) -> str:
    return MethodKind(value).short if value in {k.value for k in MethodKind} else (value or "-")


def _base_model(model: str | None) -> str:
    info = catalog.lookup_model(model) if model else None
    return info.name if info is not None else (model or "-")


_TYPE_LABELS = {"Standard": "standard", "GlobalStandard": "global", "DataZone": "datazone",
                "Developer": "developer"}


def _training_type(value: str | None) -> str:
    return _TYPE_LABELS.get(value or "", value or "-")


def _job_cost(job: JobSpend) -> str:
    """So far for an hourly job; the whole job's estimate (``~``) for a token-billed one."""
    if job.billing == "hours":
        return _money(job.so_far)
    return "-" if job.estimate is None else f"~{job.estimate:,.2f}"


def _iso(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
