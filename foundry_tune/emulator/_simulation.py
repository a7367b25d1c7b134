"""The simulated training clock: every job transition is computed from timestamps in the store.

Nothing lives in memory timers, so after a restart (even ``kill -9``) the next tick catches up:
a job that should have finished while the process was down finishes with the time it would have
had, and a running job carries on from where its stored start time puts it. Only one job runs per
resource at a time; the others queue, as on Azure.

A job's private ``_phase`` (validating, queued, running, pausing, paused, resuming, succeeded,
failed, cancelled) drives the clock; its public ``status`` is the phase as the configured flavour
spells it: Azure says ``pending`` for the first two (recordings/sft_create_cancel_events.json),
OpenAI ``validating_files`` and ``queued``. Azure's events are its recorded ``message`` lines
(notebooks/dpo_event_messages_newest_first.json); the OpenAI flavour adds ``metrics`` events.
"""

from __future__ import annotations

import csv
import io
import math
import os
import threading
from typing import Any

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset._cost import default_epochs
from foundry_tune.dataset._validator import MIN_EXAMPLES
from foundry_tune.emulator import _safety as safety
from foundry_tune.emulator._curves import full_validation, metrics_at, results_header, results_row
from foundry_tune.emulator._files import add_file, file_path
from foundry_tune.emulator._lifecycle import held, run_duration, service_rules
from foundry_tune.emulator._state import Context, new_id
from foundry_tune.emulator._store import Doc
from foundry_tune.emulator._validation import check_file
from foundry_tune.emulator._webhooks import WebhookSender

ACTIVE = frozenset({"running", "pausing", "paused", "resuming"})
"""Phases that hold the resource's one training slot."""
WAITING = frozenset({"validating", "queued"})
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
_MAX_RECORDED_STEPS = 400
_KEPT_CHECKPOINTS = 3
_STEP_MESSAGE_EVERY = 10  # Azure reports step 1, then every 10th step (the DPO notebook's events)
_PUBLIC_STATUS = {
    "azure": {"validating": "pending", "queued": "pending"},
    "openai": {"validating": "validating_files", "queued": "queued"},
}
_AZURE_START_MESSAGES = (
    "Job started.",
    "Data Import started.",
    "Finetuning started.",
    "Job queued, waiting for GPUs.",
)
_PREP_SHARE = 0.1  # share of the run before training starts (Azure flavour)


_SFT_KEYS = ("n_epochs", "batch_size", "learning_rate_multiplier")


def estimated_finish(job: Doc) -> int:
    """When a started job will end, pauses included."""
    return int(job["_started_at"] + job["_paused_total"] + job["_run_duration"])


def azure_step_message(kind: MethodKind, step: int, total: int, data: Doc) -> str:
    """A step event's text. Supervised / DPO as Azure's recorded lines (``Step 1: training
    loss=0.6786144375801086``); reinforcement in the wording of OpenAI's RFT guide (an
    assumption: no Azure recording shows an RFT step line), with the validation reward."""
    if kind is MethodKind.REINFORCEMENT:
        return (
            f"Step {step}/{total} , train mean reward={azure_number(data['train_reward_mean'])}, "
            f"validation mean reward={azure_number(data['valid_reward_mean'])}"
        )
    return f"Step {step}: training loss={azure_number(data['train_loss'])}"


def phase_of(job: Doc) -> str:
    """Where the job is in its life (see the module docstring)."""
    return str(job.get("_phase") or job["status"])


def status_of(phase: str, flavor: str) -> str:
    """The public ``status`` of ``phase`` in the flavour's spelling."""
    return _PUBLIC_STATUS.get(flavor, {}).get(phase, phase)


def set_phase(job: Doc, phase: str, flavor: str) -> None:
    """Move ``job`` to ``phase`` and set its public ``status`` in the flavour's spelling."""
    job["_phase"] = phase
    job["status"] = status_of(phase, flavor)


def azure_number(value: float | int | None) -> str:
    """A number as Azure's step messages print it: full precision, ``E`` exponents
    (``Step 8250: training loss=3.814697265625E-06``)."""
    return repr(float(value or 0.0)).replace("e", "E")


def event(
    job_id: str,
    created_at: float,
    message: str,
    *,
    level: str = "info",
    data: Doc | None = None,
    type_: str = "message",
) -> Doc:
    """A ``fine_tuning.job.event`` document."""
    return {
        "id": new_id("ftevent-"),
        "object": "fine_tuning.job.event",
        "created_at": int(created_at),
        "level": level,
        "message": message,
        "type": type_,
        "data": data or {},
        "_job": job_id,
    }


def resolve(kind: MethodKind, hp: dict[str, Any], examples: int) -> dict[str, Any]:
    """Replace every ``auto`` hyperparameter by the value the simulated run uses."""
    out = dict(hp)
    if out.get("n_epochs") == "auto":
        out["n_epochs"] = default_epochs(max(examples, 1))
    if out.get("batch_size") == "auto":
        out["batch_size"] = max(1, min(256, math.ceil(examples * 0.002)))
    if out.get("learning_rate_multiplier") == "auto":
        out["learning_rate_multiplier"] = 1.0
    if kind is MethodKind.DPO and out.get("beta") == "auto":
        out["beta"] = 0.1
    if kind is MethodKind.REINFORCEMENT:
        for key, value in (("compute_multiplier", 1.0), ("eval_samples", 1)):
            if out.get(key) == "auto":
                out[key] = value
        if out.get("eval_interval") == "auto":
            steps = math.ceil(examples / out["batch_size"]) * out["n_epochs"]
            out["eval_interval"] = max(1, steps // 10)
    return out


class JobRunner:
    """Advances every job to where the clock says it is; called by a background ticker."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.lock = threading.RLock()
        self.webhooks = WebhookSender(ctx)  # signed fine_tuning.job.* webhooks of jobs that end

    @property
    def azure(self) -> bool:
        """Whether the emulator answers in the Azure flavour."""
        return self.ctx.config.flavor != "openai"

    def _phase(self, job: Doc, phase: str) -> None:
        set_phase(job, phase, self.ctx.config.flavor)

    def tick(self) -> None:
        """One pass: validate due jobs, start the next queued one, progress the running one."""
        now = self.ctx.now()
        for job in self.ctx.store.all("job"):
            if phase_of(job) == "validating" and now >= job["_validate_until"]:
                outcome = self._check_files(job)
                if outcome is None:
                    continue
                with self.lock:
                    fresh = self.ctx.store.get("job", job["id"])
                    if fresh is not None and phase_of(fresh) == "validating":
                        self._apply_validation(fresh, outcome)
        with self.lock:
            for _ in range(1000):  # catch-up after downtime: finish one, start the next, ...
                changed = self._settle_transitions(now)
                changed = self._start_next(now) or changed
                # the clock's rules (hang, pre-emption, the $5,000 cap), with this module's helpers
                rules = service_rules(self, now, event=event, phase_of=phase_of, finish=estimated_finish)
                changed = rules or changed
                for job in self.ctx.store.all("job"):
                    if phase_of(job) == "running" and not held(job):
                        changed = self._progress(job, now) or changed
                if not changed:
                    break
        self.webhooks.after_tick()  # whatever ended a job (training, validation, a cancel request)

    # -- validating -------------------------------------------------------------------------------
    def _check_files(self, job: Doc) -> Doc | None:
        kind = MethodKind(job["_kind"])
        examples = 0
        for param in ("training_file", "validation_file"):
            file_id = job.get(param)
            if file_id is None:
                continue
            label = "training" if param == "training_file" else "validation"
            code = "invalidTrainingFile" if param == "training_file" else "invalidValidationFile"
            doc = self.ctx.store.get("file", file_id)
            if doc is None:
                return {
                    "error": {
                        "code": code,
                        "param": param,
                        "message": f"The {label} file '{file_id}' was not found.",
                    }
                }
            if doc["status"] in {"uploaded", "pending"}:
                return None  # still being processed: look again on the next tick
            check = check_file(file_path(self.ctx, doc), kind, model=job["model"])
            if not check.valid:
                return {
                    "error": {
                        "code": code,
                        "param": param,
                        "message": f"The job failed due to an invalid {label} file. {check.details}",
                    }
                }
            if param == "training_file":
                examples = check.examples
                if examples < MIN_EXAMPLES:
                    # The service's job error (azure-recordings errors/job_failed_invalid_n_examples.json).
                    return {
                        "error": {
                            "code": "invalid_n_examples",
                            "param": param,
                            "message": f"Training file has {examples} example(s), but must have at least "
                            f"{MIN_EXAMPLES} examples",
                        }
                    }
        screened = safety.screen(self.ctx, job)  # the data-safety screening (markers, the `safety` switch)
        if "error" in screened:
            return screened
        return {"examples": examples, "bytes": self._bytes(job), **screened}

    def _bytes(self, job: Doc) -> int:
        doc = self.ctx.store.get("file", job["training_file"])
        return int(doc["bytes"]) if doc else 0

    def _apply_validation(self, job: Doc, outcome: Doc) -> None:
        at = job["_validate_until"]
        store = self.ctx.store
        if "error" in outcome:
            self._phase(job, "failed")
            job["error"] = {**outcome["error"]}
            job["finished_at"] = int(at)
            job["_finished_at"] = at
            store.put("event", event(job["id"], at, outcome["error"]["message"], level="error"), job["id"])
            store.put("job", job)
            return
        kind = MethodKind(job["_kind"])
        hp = resolve(kind, job["_hp"], outcome["examples"])
        job["_resolved"] = hp
        if outcome.get("_unsafe_model"):  # its model fails the safety evaluation after training
            job["_unsafe_model"] = outcome["_unsafe_model"]
        if not self.azure:  # OpenAI echoes the resolved numbers once the files are validated
            job["method"][kind.value]["hyperparameters"] = hp
            job["hyperparameters"] = {k: hp[k] for k in _SFT_KEYS}
        per_epoch = math.ceil(outcome["examples"] / hp["batch_size"])
        total = per_epoch * hp["n_epochs"]
        job["_plan"] = {
            "per_epoch": per_epoch,
            "epochs": hp["n_epochs"],
            "total": total,
            "stride": max(1, math.ceil(total / _MAX_RECORDED_STEPS)),
            "message_stride": _STEP_MESSAGE_EVERY
            * max(1, math.ceil(total / (_STEP_MESSAGE_EVERY * _MAX_RECORDED_STEPS))),
        }
        job["_trained_tokens"] = max(1, outcome["bytes"] // 4) * hp["n_epochs"]
        self._phase(job, "queued")
        job["_queued_at"] = at
        if self.azure:
            messages = [
                "Preprocessing running for file training file.",
                "Preprocessing completed for file training file.",
            ]
            if job.get("validation_file") is not None:
                messages.append("Preprocessing completed for file validation file.")
        else:
            messages = ["Training file validated.", "Job enqueued. Waiting for jobs ahead to complete."]
        store.put_many("event", [event(job["id"], at, m) for m in messages], job["id"])
        store.put("job", job)

    # -- pausing -> paused, resuming -> running ---------------------------------------------------
    def _settle_transitions(self, now: float) -> bool:
        changed = False
        for job in self.ctx.store.all("job"):
            phase = phase_of(job)
            if phase not in {"pausing", "resuming"} or now < job["_transition_until"]:
                continue
            at = job.pop("_transition_until")
            if phase == "pausing":
                self._phase(job, "paused")
            else:
                job["_paused_total"] += at - job.pop("_paused_at")
                job["estimated_finish"] = estimated_finish(job)
                self._phase(job, "running")
            self.ctx.store.put("job", job)
            changed = True
        return changed

    # -- queued -> running ------------------------------------------------------------------------
    def _start_next(self, now: float) -> bool:
        jobs = self.ctx.store.all("job")
        # A paused job holds no training capacity (a user's pause, a spend cap, a pre-emption can
        # last for days): the next queued job starts.
        if any(phase_of(j) in ACTIVE - {"paused"} for j in jobs):
            return False
        queued = [j for j in jobs if phase_of(j) == "queued"]
        if not queued:
            return False
        job = queued[0]
        slot_free = max((j.get("_finished_at", 0.0) for j in jobs if "_started_at" in j), default=0.0)
        start = max(job["_queued_at"], slot_free)
        if start > now:
            return False
        self._phase(job, "running")
        job["_started_at"] = start
        job["_paused_total"] = 0.0
        job["_last_step"] = 0
        job["_run_duration"] = run_duration(self.ctx, job)  # switch `rft_hours`
        job["estimated_finish"] = int(start + job["_run_duration"])
        if self.azure:
            # The job runs a while (data import, waiting for GPUs) before training starts:
            # recordings/pause_job.json shows a `running` job still without results and with -1.
            job["_prep"] = job["_run_duration"] * _PREP_SHARE
            messages = list(_AZURE_START_MESSAGES)
            self.ctx.store.put_many("event", [event(job["id"], start, m) for m in messages], job["id"])
        else:
            self.ctx.store.put("event", event(job["id"], start, "Fine-tuning job started."), job["id"])
        self.ctx.store.put("job", job)
        return True

    # -- running ----------------------------------------------------------------------------------
    def _progress(self, job: Doc, now: float) -> bool:
        plan = job["_plan"]
        prep = float(job.get("_prep", 0.0))
        duration = job["_run_duration"] - prep
        origin = job["_started_at"] + job["_paused_total"] + prep
        if now < origin:
            return False
        started_now = self.azure and not job.get("_hp_final")
        if started_now:
            # Training starts: the results file exists from here on and the hyperparameters are
            # echoed resolved (recordings/resume_job.json, after -1 in pause_job.json).
            job["_hp_final"] = True
            results = self._write_results(job, MethodKind(job["_kind"]), 0)
            job["result_files"] = [results]
            messages = ["Training started.", f"Created results file: {results}"]
            self.ctx.store.put_many("event", [event(job["id"], origin, m) for m in messages], job["id"])
            self.ctx.store.put("job", job)
        elapsed = min(max(now - origin, 0.0), duration)
        step = min(plan["total"], math.floor(elapsed / duration * plan["total"]))
        if step <= job["_last_step"] and elapsed < duration:
            return started_now
        kind = MethodKind(job["_kind"])
        has_valid = job.get("validation_file") is not None
        events: list[Doc] = []
        for s in range(job["_last_step"] + 1, step + 1):
            at = origin + duration * s / plan["total"]
            epoch_end = s % plan["per_epoch"] == 0
            if self.azure:
                if s == 1 or s % plan.get("message_stride", _STEP_MESSAGE_EVERY) == 0:
                    data = metrics_at(kind, job["seed"], s, plan["total"], has_validation=has_valid)
                    events.append(event(job["id"], at, azure_step_message(kind, s, plan["total"], data)))
                if epoch_end or s == 1:  # Azure keeps a step-1 checkpoint (recordings/list_checkpoints.json)
                    self._checkpoint(job, kind, s, at)
                continue
            if s % plan["stride"] == 0 or s == plan["total"] or epoch_end:
                data = metrics_at(kind, job["seed"], s, plan["total"], has_validation=has_valid)
                message = f"Step {s}/{plan['total']}: training loss={data['train_loss']}"
                events.append(event(job["id"], at, message, data=data, type_="metrics"))
            if epoch_end:
                self._checkpoint(job, kind, s, at)
        advanced = step > job["_last_step"]
        job["_last_step"] = step
        if events:
            self.ctx.store.put_many("event", events, job["id"])
        if self.azure and advanced:
            self._write_results(job, kind, step)
        if elapsed >= duration:
            self._succeed(job, kind, origin + duration)
        self.ctx.store.put("job", job)
        return True

    def _checkpoint(self, job: Doc, kind: MethodKind, step: int, at: float) -> None:
        plan = job["_plan"]
        # OpenAI's checkpoints always carry validation metrics; Azure's only with a validation file.
        has_valid = not self.azure or job.get("validation_file") is not None
        data = metrics_at(kind, job["seed"], step, plan["total"], has_validation=has_valid)
        metrics = {k: v for k, v in data.items() if k != "total_steps" and v is not None}
        if has_valid:
            full_loss, full_acc = full_validation(kind, job["seed"], step, plan["total"])
            metrics.update(full_valid_loss=full_loss, full_valid_mean_token_accuracy=full_acc)
        # On Azure the final checkpoint is the job's model itself (recordings/list_checkpoints.json).
        final = self.azure and step == plan["total"]
        model = job["_ft_model"] if final else f"{job['_ft_model']}:ckpt-step-{step}"
        doc: Doc = {  # keys in the recorded order
            "id": new_id("ftckpt_" if self.azure else "ftckpt-"),
            "created_at": int(at),
            "fine_tuned_model_checkpoint": model,
            "step_number": step,
            "metrics": metrics,
            "fine_tuning_job_id": job["id"],
            "object": "fine_tuning.job.checkpoint",
        }
        store = self.ctx.store
        store.put("checkpoint", doc, job["id"])
        if self.azure:
            droppable = [c for c in store.all("checkpoint", job["id"]) if c["step_number"] != 1]
        else:
            droppable = store.all("checkpoint", job["id"])
        for old in droppable[:-_KEPT_CHECKPOINTS]:
            store.delete("checkpoint", old["id"])
        if not self.azure:  # Azure's recorded events say nothing about checkpoints
            store.put("event", event(job["id"], at, f"Checkpoint created at step {step}."), job["id"])

    def _succeed(self, job: Doc, kind: MethodKind, at: float) -> None:
        result = self._write_results(job, kind, job["_plan"]["total"])
        if safety.fail_unsafe_model(self.ctx, job, at, result, phase=self._phase, event=event):
            return
        self._phase(job, "succeeded")
        job["finished_at"] = int(at)
        job["_finished_at"] = at
        job["fine_tuned_model"] = job["_ft_model"]
        job["trained_tokens"] = job["_trained_tokens"]
        job["result_files"] = [result]
        if self.azure:
            messages = [
                "Job succeeded.",
                "Model Evaluation Passed.",
                f"Completed results file: {result}",
                f"Training tokens billed: {job['_trained_tokens']}",
            ]
        else:
            job["estimated_finish"] = None
            messages = [
                f"New fine-tuned model created: {job['_ft_model']}",
                "The job has successfully completed.",
            ]
        self.ctx.store.put_many("event", [event(job["id"], at, m) for m in messages], job["id"])

    def _write_results(self, job: Doc, kind: MethodKind, upto: int) -> str:
        """Write the results CSV up to step ``upto`` (a new file, or the job's existing one
        rewritten in place); its file id."""
        plan = job["_plan"]
        has_valid = job.get("validation_file") is not None
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(results_header(kind))
        for s in range(1, upto + 1):
            epoch_end = s % plan["per_epoch"] == 0
            if not (s % plan["stride"] == 0 or s == plan["total"] or epoch_end):
                continue
            data = metrics_at(kind, job["seed"], s, plan["total"], has_validation=has_valid)
            full: tuple[object, object] = ("", "")
            if epoch_end and has_valid:
                full = full_validation(kind, job["seed"], s, plan["total"])
            writer.writerow(results_row(kind, data, full))
        tmp = self.ctx.store.blob_path(f"{job['id']}.results.tmp")
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        size = tmp.stat().st_size
        existing = job.get("_results_file")
        doc = self.ctx.store.get("file", existing) if existing else None
        if existing and doc is None:  # the user deleted the results file: leave it gone
            tmp.unlink(missing_ok=True)
            return str(existing)
        if doc is not None:
            os.replace(tmp, file_path(self.ctx, doc))
            doc["bytes"] = size
            self.ctx.store.put("file", doc)
            return str(doc["id"])
        created = add_file(self.ctx, tmp, "results.csv", "fine-tune-results", size, status="processed")
        job["_results_file"] = created["id"]
        return str(created["id"])
