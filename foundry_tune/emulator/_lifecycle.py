"""The service's time-based rules, played out on the emulator's clock (see `._clock`).

Deployments (checked whenever one is looked up, see ``_deployments.live``):

- a Developer-tier deployment (SKU ``DeveloperTier``) is deleted 24 hours after it was created:
  "Developer Tier deployments have a fixed lifetime of 24 hours" (learn.microsoft.com/azure/
  ai-foundry/openai/how-to/fine-tune-test) and "deployments are removed automatically after 24
  hours regardless of usage" (.../how-to/fine-tuning-cost-management);
- any fine-tuned model deployment with no inference call for 15 days is deleted: "if at any time
  the deployment remains inactive for greater than fifteen (15) days, the deployment is deleted
  ... no completions or chat completions calls were made to it during a continuous 15-day period"
  (.../how-to/fine-tuning-deploy, the inactivity include). Its creation counts as the first call;
  the emulator counts Responses calls too (inference).

Jobs (applied on every tick of ``JobRunner``, before the running jobs progress):

- switch ``preempt``: "developer training will run on pre-emptible spot capacity ... Developer
  tier jobs may be paused by the system but automatically resume; you don't incur charges for jobs
  in paused states" (.../how-to/fine-tuning-cost-management). A running job with training type
  Developer is paused by the service (once per job, when training runs while the switch is on) and
  resumed by it [`PREEMPTION_MINUTES`][PREEMPTION_MINUTES] clock minutes later; the pause does not
  count as training time. No wording of the service's events is published: the two messages are
  an inference from that sentence.
- switch ``hang``: running jobs stop progressing and say nothing (status stays ``running``) until
  it is switched off; the time hung does not count as training time.
- switch ``rft_hours``: reinforcement jobs that start while it is set train for that many clock
  hours instead of ``--job-duration`` seconds.
- the service's spend cap on reinforcement jobs: "RFT jobs can lead to high training costs, so
  per-job billing is capped at $5,000. When a job reaches this limit, training pauses and a
  deployable checkpoint is created. You can validate the training job, metrics, and logs, then
  decide whether to resume. If you resume, billing continues with no further price limits."
  (.../how-to/fine-tuning-cost-management, MicrosoftDocs/azure-ai-docs
  ``articles/ai-foundry/openai/how-to/fine-tuning-cost-management.md``). Accrued cost is the
  training time (from "Training started", pauses excluded) times the model's hourly rate for the
  job's training type (``catalog.training_per_hour()``, else ``catalog.price_for(model)``'s, else
  $100/h, the documented o4-mini rate).
  The pause happens once per job; the event's wording follows that paragraph (the service's own
  event text is unpublished).
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from foundry_tune import catalog
from foundry_tune._method_kind import MethodKind
from foundry_tune.emulator._state import Context
from foundry_tune.emulator._store import Doc
from foundry_tune.errors import InvalidParameterError

if TYPE_CHECKING:
    from foundry_tune.emulator._simulation import JobRunner

EventFactory = Callable[[str, float, str], Doc]
"""``_simulation.event``: a job event document (passed in: ``_simulation`` imports this module)."""

DEVELOPER_LIFETIME_HOURS = 24.0
"""A Developer-tier deployment is deleted this long after it was created."""
INACTIVITY_DAYS = 15.0
"""A fine-tuned model deployment with no inference call for this long is deleted."""
PREEMPTION_MINUTES = 10.0
"""Clock minutes a pre-empted Developer-tier job stays paused before the service resumes it
(inference: the docs give no duration)."""
SERVICE_SPEND_CAP_USD = 5000.0
"""The service pauses a reinforcement job whose training cost reaches this (once per job)."""
DEFAULT_TRAINING_PER_HOUR = 100.0
"""Hourly reinforcement training rate when the catalog has none ($100/h for o4-mini)."""
MAX_RFT_HOURS = 720.0
"""Largest ``rft_hours``: the service's maximum training job time (720 hours, Azure OpenAI quotas
and limits)."""

PREEMPTED_MESSAGE = (
    "Job paused by the system: Developer tier training runs on pre-emptible spot capacity. "
    "The job will resume automatically."
)
"""The event of a pre-emption (inference from the cost-management docs' sentence)."""
RESUMED_MESSAGE = "Job resumed automatically after a pre-emption."
"""The event when the service resumes a pre-empted job (inference)."""
SPEND_CAP_MESSAGE = (
    "Training paused: per-job billing is capped at $5,000. A deployable checkpoint was created. "
    "Validate the training job, metrics, and logs, then decide whether to resume. If you resume, "
    "billing continues with no further price limits."
)
"""The event when the service pauses a reinforcement job at its $5,000 cap (the docs' paragraph)."""

_DEVELOPER = frozenset({"developer", "developertier"})


def _is_developer(name: object) -> bool:
    return isinstance(name, str) and re.sub(r"[\s_-]+", "", name).lower() in _DEVELOPER


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


# -- switches -------------------------------------------------------------------------------------
def check_switch(key: str, value: Any) -> str | None:
    """Why ``value`` is not a valid value of switch ``key`` (``None`` when it is, or when the key
    is not one of this module's)."""
    if value is None:
        return None
    if key in {"preempt", "hang"} and not isinstance(value, bool):
        return f"switch '{key}' must be true, false or null"
    if key == "rft_hours":
        hours = _number(value)
        if hours is None or not 0 < hours <= MAX_RFT_HOURS:
            return f"switch 'rft_hours' must be a number of hours above 0, at most {MAX_RFT_HOURS:g}, or null"
    return None


# -- deployments ----------------------------------------------------------------------------------
def deletion_due(doc: Doc) -> float | None:
    """When the service deletes this deployment unless it is used (clock seconds), or ``None``."""
    due: list[float] = []
    created = float(doc["_created_at"])
    if _is_developer((doc.get("sku") or {}).get("name")):
        due.append(created + DEVELOPER_LIFETIME_HOURS * 3600)
    if doc.get("_tuned"):
        last = max(created, float(doc.get("_last_used_at") or 0.0))
        due.append(last + INACTIVITY_DAYS * 86400)
    return min(due) if due else None


def expired(ctx: Context, doc: Doc) -> bool:
    """Whether the service has deleted this deployment by now (24-hour Developer tier, 15 days
    without a call)."""
    due = deletion_due(doc)
    return due is not None and ctx.now() >= due


def record_use(ctx: Context, name: str) -> None:
    """Note an inference call on deployment ``name`` now (it restarts the 15 days)."""
    doc = ctx.store.get("deployment", name)
    if doc is not None:
        doc["_last_used_at"] = ctx.now()
        ctx.store.put("deployment", doc)


# -- jobs -----------------------------------------------------------------------------------------
def run_duration(ctx: Context, job: Doc) -> float:
    """How long a job that starts now runs: ``rft_hours`` clock hours for a reinforcement job while
    that switch is set, else what it was given at creation."""
    hours = _number(ctx.switches.get("rft_hours"))
    if job["_kind"] == MethodKind.REINFORCEMENT.value and hours is not None and hours > 0:
        return hours * 3600
    return float(job["_run_duration"])


def held(job: Doc) -> bool:
    """Whether a running job is hung (switch ``hang``): it neither progresses nor says anything."""
    return "_hung_at" in job


def training_per_hour(model: str, training_type: str | None = None) -> float:
    """The hourly reinforcement training rate of ``model`` for ``training_type``: the catalog's
    (what the library's spend watch uses too), else ``price_for(model).training_per_hour``, else $100."""
    try:
        rate = catalog.training_per_hour(model, training_type)
    except InvalidParameterError:  # a training type spelling the catalog does not know
        rate = None
    if not rate:
        price = catalog.price_for(model)
        rate = price.training_per_hour if price is not None else None
    return float(rate) if rate else DEFAULT_TRAINING_PER_HOUR


def _training_origin(job: Doc) -> float:
    """When training (not data import) started, pauses included: the origin ``_progress`` uses."""
    return float(job["_started_at"] + job["_paused_total"] + float(job.get("_prep", 0.0)))


@dataclasses.dataclass(frozen=True)
class _Tools:
    """What the rules use of ``_simulation`` (which imports this module, so it hands them in)."""

    event: EventFactory
    phase_of: Callable[[Doc], str]
    finish: Callable[[Doc], int]


def service_rules(
    runner: JobRunner,
    now: float,
    *,
    event: EventFactory,
    phase_of: Callable[[Doc], str],
    finish: Callable[[Doc], int],
) -> bool:
    """Apply the service's own pauses, resumes and hangs due by ``now``; whether a job changed.
    ``event``, ``phase_of`` and ``finish`` (``estimated_finish``) are ``_simulation``'s."""
    tools = _Tools(event, phase_of, finish)
    changed = False
    for job in runner.ctx.store.all("job"):
        phase = phase_of(job)
        if "_service_resume_at" in job:
            if phase == "paused":
                changed = _resume_preempted(runner, tools, job, now) or changed
                continue
            job.pop("_service_resume_at")  # the user resumed or cancelled it first
            runner.ctx.store.put("job", job)
        if phase != "running":
            hung_at = job.pop("_hung_at", None)
            if hung_at is not None:  # paused or cancelled while hung: the hung time was no training
                if "_paused_at" in job:
                    job["_paused_total"] += max(0.0, float(job["_paused_at"]) - float(hung_at))
                runner.ctx.store.put("job", job)
            continue
        if _hang(runner, tools, job, now):
            changed = True
            continue
        if held(job):
            continue
        changed = _pause_if_due(runner, tools, job, now) or changed
    return changed


def _hang(runner: JobRunner, tools: _Tools, job: Doc, now: float) -> bool:
    """Hang or release ``job`` as switch ``hang`` says; whether it was released (it moves again)."""
    ctx = runner.ctx
    hanging = bool(ctx.switches.get("hang"))
    if hanging and not held(job):
        since = ctx.switched_at.get("hang", now)
        job["_hung_at"] = max(since, float(job["_started_at"]), float(job.get("_resumed_at", 0.0)))
        ctx.store.put("job", job)
        return False
    if not hanging and held(job):
        hung_at = float(job.pop("_hung_at"))
        released = max(hung_at, ctx.switched_at.get("hang", now))
        job["_paused_total"] += released - hung_at
        job["_resumed_at"] = released
        _refresh_estimate(tools, job)
        ctx.store.put("job", job)
        return True
    return False


def _refresh_estimate(tools: _Tools, job: Doc) -> None:
    if job.get("estimated_finish") is not None:
        job["estimated_finish"] = tools.finish(job)


def _pause_if_due(runner: JobRunner, tools: _Tools, job: Doc, now: float) -> bool:
    """Pause ``job`` at the earliest of its due service pauses (pre-emption, $5,000 cap)."""
    ctx = runner.ctx
    due: list[tuple[float, str]] = []
    if job["_kind"] == MethodKind.REINFORCEMENT.value and "_cap_paused_at" not in job:
        hours = SERVICE_SPEND_CAP_USD / training_per_hour(str(job["model"]), job.get("trainingType"))
        due.append((_training_origin(job) + hours * 3600, "spend_cap"))
    if ctx.switches.get("preempt") and "_preempted_at" not in job and _is_developer(job.get("trainingType")):
        due.append((max(ctx.switched_at.get("preempt", now), _training_origin(job)), "preempt"))
    if not due:
        return False
    at, why = min(due)
    if at > now:
        return False
    runner._progress(job, at)  # train up to the moment of the pause (it may finish first)
    if tools.phase_of(job) != "running":
        return True
    runner._phase(job, "paused")
    job["_paused_at"] = at
    if why == "preempt":
        job["_preempted_at"] = at
        job["_service_resume_at"] = at + PREEMPTION_MINUTES * 60
        message = PREEMPTED_MESSAGE
    else:
        job["_cap_paused_at"] = at
        step = int(job.get("_last_step", 0))
        known = {c["step_number"] for c in ctx.store.all("checkpoint", job["id"])}
        if step >= 1 and step not in known:
            runner._checkpoint(job, MethodKind(job["_kind"]), step, at)
        message = SPEND_CAP_MESSAGE
    ctx.store.put("job", job)
    ctx.store.put("event", tools.event(job["id"], at, message), job["id"])
    return True


def _resume_preempted(runner: JobRunner, tools: _Tools, job: Doc, now: float) -> bool:
    at = float(job["_service_resume_at"])
    if now < at:
        return False
    job.pop("_service_resume_at")
    job["_paused_total"] += at - float(job.pop("_paused_at", at))
    job["_resumed_at"] = at
    runner._phase(job, "running")
    _refresh_estimate(tools, job)
    runner.ctx.store.put("job", job)
    runner.ctx.store.put("event", tools.event(job["id"], at, RESUMED_MESSAGE), job["id"])
    return True
