"""Job scans without I/O: the listing arguments, which listed jobs match, when a scan is complete.

The network layer (``scan_jobs`` in ``foundry_tune._async._jobs``) reads the pages and feeds them to
a [`JobScan`][JobScan]; ``ft.jobs.list`` filters with [`job_filter()`][job_filter], and a create whose answer
was
lost finds its job with [`created_by_request()`][created_by_request] where the service keeps no metadata.
There,
``start()`` also recognises a job to reuse with [`same_inputs()`][same_inputs], and right after its create it
keeps the oldest of the jobs it raced with ([`older_rivals()`][older_rivals]).
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from foundry_tune._core.fingerprint import FINGERPRINT_KEY
from foundry_tune._core.paging import PageGuard
from foundry_tune._core.status import JobStatus
from foundry_tune.catalog import TrainingType, parse_training_type
from foundry_tune.errors import InvalidParameterError

__all__ = [
    "SCAN_LIMIT",
    "JobScan",
    "Keep",
    "created_by_request",
    "job_filter",
    "live_or_succeeded",
    "older_rivals",
    "oldest_live",
    "oldest_rival",
    "same_inputs",
    "wanted_metadata",
]

SCAN_LIMIT = 1000
"""How many jobs a scan reads at most."""

Keep = Callable[[dict[str, Any]], bool]
"""A predicate over a listed job (as a dict)."""


class JobScan:
    """The listing arguments and the matching of a job scan: feed each listed page to
    [`offer_page()`][offer_page] until it returns None, then read [`found()`][found]."""

    def __init__(self, metadata: Mapping[str, str], *, keep: Keep | None = None,
                 want: int | None = None, limit: int = SCAN_LIMIT) -> None:
        self.metadata = dict(metadata)
        self.keep = keep
        self.want = want
        self.limit = limit
        self.scanned = 0
        self._found: list[dict[str, Any]] = []

    def guard(self, clock: Callable[[], float] = time.monotonic) -> PageGuard:
        """The bounds of the scan. A page without ``has_more`` does not end it (every recorded
        jobs list carries the key; a service that omits it is paged on until a page comes back
        empty or repeated)."""
        return PageGuard("list fine-tuning jobs", missing_has_more="more", clock=clock)

    def list_kwargs(self, after: str | None = None) -> dict[str, Any]:
        """Arguments for one ``fine_tuning.jobs.list`` page (``after``: the previous page's cursor)."""
        # A ``keep`` predicate may reject many jobs: small pages would cost one request per job, and
        # under faults a long scan rarely completes.
        want = self.want
        page_size = 100 if want is None or self.keep is not None else max(1, min(100, want))
        kwargs: dict[str, Any] = {"limit": page_size}
        if self.metadata:
            kwargs["metadata"] = dict(self.metadata)
        if after is not None:
            kwargs["after"] = after
        return kwargs

    def offer_page(self, page: Any, guard: PageGuard) -> str | None:
        """Consider one listed page (``data``, ``has_more``); the cursor of the next page to read,
        or None when the scan is complete (enough found, ``limit`` reached, or ``guard`` ended it)."""
        fresh, after = guard.take(page.data, page.has_more)
        if any(self.offer(job) for job in fresh):
            return None
        return after

    def offer(self, job: Any) -> bool:
        """Consider one listed job (an SDK object or a dict); True when the scan is complete."""
        self.scanned += 1
        raw = dict(job) if isinstance(job, dict) else job.model_dump(warnings=False)
        meta = raw.get("metadata") or {}
        if all(meta.get(k) == v for k, v in self.metadata.items()) and (self.keep is None or self.keep(raw)):
            self._found.append(raw)
            if self.want is not None and len(self._found) >= self.want:
                return True
        return self.scanned >= self.limit

    def found(self) -> list[dict[str, Any]]:
        """The matches, newest first."""
        return sorted(self._found, key=lambda r: r.get("created_at") or 0, reverse=True)


def created_by_request(kwargs: Mapping[str, Any], since: float) -> Keep:
    """A ``keep`` predicate that recognises the job a create request made on a service that does
    not store job metadata: same files, suffix and model, created after ``since`` (Unix time,
    minus a margin for clock skew). Jobs that carry foundry-tune's fingerprint never match: where
    metadata is kept, the fingerprint lookup is the exact one."""

    def keep(raw: dict[str, Any]) -> bool:
        if FINGERPRINT_KEY in (raw.get("metadata") or {}):
            return False
        suffix = raw.get("suffix") or raw.get("user_provided_suffix")
        return (
            raw.get("training_file") == kwargs.get("training_file")
            and raw.get("validation_file") == kwargs.get("validation_file")
            and suffix == kwargs.get("suffix")
            and str(raw.get("model") or "").startswith(str(kwargs.get("model")))
            and (raw.get("created_at") or 0) >= since - 300
        )

    return keep


def live_or_succeeded(raw: Mapping[str, Any]) -> bool:
    """Whether a listed job is one ``start()`` returns instead of starting another: live (unknown
    statuses count as live) but not being cancelled, or succeeded."""
    status = JobStatus(str(raw.get("status") or "unknown"))
    return (status.is_live and status != JobStatus.CANCELLING) or status == JobStatus.SUCCEEDED


_UNSET = (None, "auto", "default", -1)
"""How a request leaves a hyperparameter to the service (and how Azure shows it before training)."""


def same_inputs(kwargs: Mapping[str, Any], *, files: bool = True) -> Keep:
    """A ``keep`` predicate that recognises a live or succeeded job made of the same inputs as the
    create request ``kwargs`` (what `JobSpec.create_kwargs
    <foundry_tune._core.spec.JobSpec.create_kwargs>()` gives), on a service that does not echo job
    metadata, so that the fingerprint is not there to look up. There is no time window.

    Compared, as the job body shows them: the base model (a body may carry the dated name,
    ``gpt-4.1-2025-04-14``), the training and validation file ids (files are reused by content: the
    same data gives the same id), the suffix, the method type and its settings other than
    hyperparameters (grader, response format) as sent, and every hyperparameter and the seed the
    request *sets*. Whatever the request leaves to the service matches any value, because a body
    cannot tell "left to the service" from "set to what the service would pick": a hyperparameter
    not sent (or ``"auto"``) shows as ``-1`` until training starts and as the resolved number after
    (Azure recordings ``pause_job.json`` then ``resume_job.json``), and a seed not sent shows the one
    the service drew. The consequence: a start that leaves ``n_epochs`` (or the seed) to the service
    reuses a job with the same data, model, method and suffix whatever its ``n_epochs`` (or seed),
    even one another start set explicitly. A training type not sent must show as none or Standard
    (the service's default). Not compared because the fingerprint leaves them out: the user's
    metadata and integrations. A job that carries any metadata never matches: where the service
    keeps metadata, the fingerprint lookup is the exact one.

    ``files=False`` compares everything but the file ids (only whether there is a validation
    file): the candidates whose files are worth looking at, for the caller to check that they hold
    our data (another machine may have uploaded the same data again, as another file).
    """
    model = str(kwargs.get("model") or "")
    model_re = re.compile(re.escape(model) + r"(-\d{4}-\d{2}-\d{2})?", re.IGNORECASE)
    method = dict(kwargs.get("method") or {"type": "supervised", "supervised": {}})
    kind = str(method.get("type") or "supervised")
    section = dict(method.get(kind) or {})
    sent_hp = {k: v for k, v in dict(section.pop("hyperparameters", None) or {}).items() if v not in _UNSET}
    extra = dict(kwargs.get("extra_body") or {})
    sent_type = extra.get("trainingType")
    wanted_type = TrainingType.STANDARD if sent_type is None else parse_training_type(str(sent_type))
    seed = kwargs.get("seed")

    def keep(raw: dict[str, Any]) -> bool:
        if not live_or_succeeded(raw) or raw.get("metadata"):
            return False
        suffix = raw.get("suffix") or raw.get("user_provided_suffix") or None
        if files and (raw.get("training_file") != kwargs.get("training_file")
                      or raw.get("validation_file") != kwargs.get("validation_file")):
            return False
        if ((raw.get("validation_file") is None) != (kwargs.get("validation_file") is None)
                or suffix != kwargs.get("suffix")
                or not model_re.fullmatch(str(raw.get("model") or ""))):
            return False
        if seed is not None and raw.get("seed") != seed:
            return False
        return (_same_type(raw, wanted_type, sent=sent_type is not None)
                and _same_method(raw, kind, section, sent_hp))

    return keep


def _same_type(raw: Mapping[str, Any], wanted: TrainingType, *, sent: bool) -> bool:
    echoed = raw.get("trainingType") or raw.get("training_type")
    if echoed is None:
        return not sent  # a body without it: the service's default, if the request left it too
    try:
        return parse_training_type(str(echoed)) == wanted
    except InvalidParameterError:  # a spelling we do not know: not provably the same
        return False


def _same_method(raw: Mapping[str, Any], kind: str, section: Mapping[str, Any],
                 sent_hp: Mapping[str, Any]) -> bool:
    method = raw.get("method")
    if isinstance(method, Mapping) and method.get("type"):
        if str(method.get("type")) != kind:
            return False
        echoed = dict(method.get(kind) or {})
    elif kind == "supervised":  # Azure leaves ``method`` out of some bodies: top-level hyperparameters
        echoed = {"hyperparameters": raw.get("hyperparameters")}
    else:
        return False
    echoed_hp = dict(echoed.pop("hyperparameters", None) or {})
    if any(echoed.get(key) != value for key, value in section.items()):
        return False
    return all(key in echoed_hp and echoed_hp[key] == value for key, value in sent_hp.items())


def older_rivals(ours: Mapping[str, Any], found: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Of the jobs ``found`` with our fingerprint (or our inputs), listed newest first as the service
    lists them, the live or succeeded ones older than ``ours`` (the job just created), oldest first.

    Older means an earlier ``created_at``; within the same second (the service counts whole
    seconds), listed later: the listing is in creation order, so every racing start that sees the
    same jobs picks the same oldest one, and a job created after a check can never come out older
    than what that check kept. A job without ``created_at`` counts as the newest. If the listing
    does not show ours yet, no job of its second counts as older: two racers that each miss their
    own job may then both keep it, but never both cancel theirs for the other's."""

    def age(raw: Mapping[str, Any], position: float) -> tuple[float, float]:
        created = raw.get("created_at")
        return (float(created) if isinstance(created, (int, float)) else math.inf, -position)

    ours_id = ours.get("id")
    listed = {raw.get("id"): i for i, raw in enumerate(found)}
    ours_age = age(ours, listed.get(ours_id, math.inf))
    rivals = [(age(raw, i), dict(raw)) for i, raw in enumerate(found)
              if raw.get("id") != ours_id and live_or_succeeded(raw)]
    return [raw for raw_age, raw in sorted(rivals, key=lambda pair: pair[0]) if raw_age < ours_age]


def oldest_live(found: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """Of the jobs ``found`` (listed newest first), the oldest live or succeeded one by the rule of
    [`older_rivals()`][older_rivals] (what every racing start keeps), or None."""
    older = older_rivals({"id": None, "created_at": math.inf}, found)
    return older[0] if older else None


def oldest_rival(ours: Mapping[str, Any], found: Sequence[Mapping[str, Any]]) -> dict[str, Any] | None:
    """The job to keep instead of ``ours``: the oldest of [`older_rivals()`][older_rivals]; None when ours is
    the oldest (so every racing start agrees on one)."""
    older = older_rivals(ours, found)
    return older[0] if older else None


def wanted_metadata(metadata: Mapping[str, str] | None, fingerprint: str | None) -> dict[str, str]:
    """The metadata pairs a listing asks for: ``metadata`` plus the fingerprint key, if given."""
    wanted = dict(metadata or {})
    if fingerprint is not None:
        wanted[FINGERPRINT_KEY] = fingerprint
    return wanted


def job_filter(
    status: JobStatus | str | Iterable[JobStatus | str] | None = None,
    suffix: str | None = None,
) -> Keep:
    """The ``keep`` predicate of ``ft.jobs.list``: one of the statuses (any spelling, unknown
    statuses kept as they are) and the suffix (Azure's ``suffix`` or OpenAI's
    ``user_provided_suffix``), each only when given."""
    statuses: set[JobStatus] | None = None
    if status is not None:
        items = [status] if isinstance(status, (str, JobStatus)) else list(status)
        statuses = {JobStatus(str(s.value if isinstance(s, JobStatus) else s)) for s in items}

    def keep(raw: dict[str, Any]) -> bool:
        if statuses is not None and JobStatus(str(raw.get("status") or "unknown")) not in statuses:
            return False
        if suffix is None:
            return True
        value = raw.get("suffix") or raw.get("user_provided_suffix")
        return (str(value) if value else None) == suffix

    return keep
