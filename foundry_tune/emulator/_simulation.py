"""The simulated training clock: every job transition is computed from timestamps in the store.

Nothing lives in memory timers, so after a restart (even ``kill -9``) the next tick catches up:
a job that should have finished while the process was down finishes with the time it would have
had, and a running job carries on from where its stored start time puts it. Only one job runs per
resource at a time; the others queue, as on Azure.
"""

from __future__ import annotations

import csv
import io
import math
import threading
from typing import Any

from foundry_tune._method_kind import MethodKind
from foundry_tune.dataset._cost import default_epochs
from foundry_tune.emulator._curves import CSV_HEADER, full_validation, metrics_at
from foundry_tune.emulator._files import add_file, file_path
from foundry_tune.emulator._state import Context, new_id
from foundry_tune.emulator._store import Doc
from foundry_tune.emulator._validation import check_file

ACTIVE = {"running", "paused"}
TERMINAL = {"succeeded", "failed", "cancelled"}
_MAX_RECORDED_STEPS = 400
_KEPT_CHECKPOINTS = 3


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

    def tick(self) -> None:
        """One pass: validate due jobs, start the next queued one, progress the running one."""
        now = self.ctx.now()
        for job in self.ctx.store.all("job"):
            if job["status"] == "validating_files" and now >= job["_validate_until"]:
                outcome = self._check_files(job)
                if outcome is None:
                    continue
                with self.lock:
                    fresh = self.ctx.store.get("job", job["id"])
                    if fresh is not None and fresh["status"] == "validating_files":
                        self._apply_validation(fresh, outcome)
        with self.lock:
            for _ in range(1000):  # catch-up after downtime: finish one, start the next, ...
                changed = self._start_next(now)
                for job in self.ctx.store.all("job"):
                    if job["status"] == "running":
                        changed = self._progress(job, now) or changed
                if not changed:
                    break

    # -- validating_files -------------------------------------------------------------------------
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
            if doc["status"] == "uploaded":
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
        return {"examples": examples, "bytes": self._bytes(job)}

    def _bytes(self, job: Doc) -> int:
        doc = self.ctx.store.get("file", job["training_file"])
        return int(doc["bytes"]) if doc else 0

    def _apply_validation(self, job: Doc, outcome: Doc) -> None:
        at = job["_validate_until"]
        store = self.ctx.store
        if "error" in outcome:
            job["status"] = "failed"
            job["error"] = {**outcome["error"]}
            job["finished_at"] = int(at)
            job["_finished_at"] = at
            store.put("event", event(job["id"], at, outcome["error"]["message"], level="error"), job["id"])
            store.put("job", job)
            return
        kind = MethodKind(job["_kind"])
        section = job["method"][kind.value]
        hp = resolve(kind, section["hyperparameters"], outcome["examples"])
        section["hyperparameters"] = hp
        job["hyperparameters"] = {k: hp[k] for k in ("n_epochs", "batch_size", "learning_rate_multiplier")}
        per_epoch = math.ceil(outcome["examples"] / hp["batch_size"])
        total = per_epoch * hp["n_epochs"]
        job["_plan"] = {
            "per_epoch": per_epoch,
            "epochs": hp["n_epochs"],
            "total": total,
            "stride": max(1, math.ceil(total / _MAX_RECORDED_STEPS)),
        }
        job["_trained_tokens"] = max(1, outcome["bytes"] // 4) * hp["n_epochs"]
        job["status"] = "queued"
        job["_queued_at"] = at
        store.put_many(
            "event",
            [
                event(job["id"], at, "Training file validated."),
                event(job["id"], at, "Job enqueued. Waiting for jobs ahead to complete."),
            ],
            job["id"],
        )
        store.put("job", job)

    # -- queued -> running ------------------------------------------------------------------------
    def _start_next(self, now: float) -> bool:
        jobs = self.ctx.store.all("job")
        if any(j["status"] in ACTIVE for j in jobs):
            return False
        queued = [j for j in jobs if j["status"] == "queued"]
        if not queued:
            return False
        job = queued[0]
        slot_free = max((j.get("_finished_at", 0.0) for j in jobs if "_started_at" in j), default=0.0)
        start = max(job["_queued_at"], slot_free)
        if start > now:
            return False
        job["status"] = "running"
        job["_started_at"] = start
        job["_paused_total"] = 0.0
        job["_last_step"] = 0
        job["estimated_finish"] = int(start + job["_run_duration"])
        self.ctx.store.put("event", event(job["id"], start, "Fine-tuning job started."), job["id"])
        self.ctx.store.put("job", job)
        return True

    # -- running ----------------------------------------------------------------------------------
    def _progress(self, job: Doc, now: float) -> bool:
        plan = job["_plan"]
        duration = job["_run_duration"]
        origin = job["_started_at"] + job["_paused_total"]
        elapsed = min(max(now - origin, 0.0), duration)
        step = min(plan["total"], math.floor(elapsed / duration * plan["total"]))
        if step <= job["_last_step"] and elapsed < duration:
            return False
        kind = MethodKind(job["_kind"])
        has_valid = job.get("validation_file") is not None
        events: list[Doc] = []
        for s in range(job["_last_step"] + 1, step + 1):
            at = origin + duration * s / plan["total"]
            epoch_end = s % plan["per_epoch"] == 0
            if s % plan["stride"] == 0 or s == plan["total"] or epoch_end:
                data = metrics_at(kind, job["seed"], s, plan["total"], has_validation=has_valid)
                message = f"Step {s}/{plan['total']}: training loss={data['train_loss']}"
                events.append(event(job["id"], at, message, data=data, type_="metrics"))
            if epoch_end:
                self._checkpoint(job, kind, s, at)
        job["_last_step"] = step
        if events:
            self.ctx.store.put_many("event", events, job["id"])
        if elapsed >= duration:
            self._succeed(job, kind, origin + duration)
        self.ctx.store.put("job", job)
        return True

    def _checkpoint(self, job: Doc, kind: MethodKind, step: int, at: float) -> None:
        plan = job["_plan"]
        data = metrics_at(kind, job["seed"], step, plan["total"], has_validation=True)
        full_loss, full_acc = full_validation(kind, job["seed"], step, plan["total"])
        metrics = {k: v for k, v in data.items() if k != "total_steps" and v is not None}
        metrics.update(full_valid_loss=full_loss, full_valid_mean_token_accuracy=full_acc)
        doc: Doc = {
            "id": new_id("ftckpt-"),
            "object": "fine_tuning.job.checkpoint",
            "created_at": int(at),
            "fine_tuned_model_checkpoint": f"{job['_ft_model']}:ckpt-step-{step}",
            "fine_tuning_job_id": job["id"],
            "metrics": metrics,
            "step_number": step,
        }
        store = self.ctx.store
        store.put("checkpoint", doc, job["id"])
        for old in store.all("checkpoint", job["id"])[:-_KEPT_CHECKPOINTS]:
            store.delete("checkpoint", old["id"])
        store.put("event", event(job["id"], at, f"Checkpoint created at step {step}."), job["id"])

    def _succeed(self, job: Doc, kind: MethodKind, at: float) -> None:
        result = self._write_results(job, kind)
        job["status"] = "succeeded"
        job["finished_at"] = int(at)
        job["_finished_at"] = at
        job["fine_tuned_model"] = job["_ft_model"]
        job["trained_tokens"] = job["_trained_tokens"]
        job["result_files"] = [result["id"]]
        job["estimated_finish"] = None
        self.ctx.store.put_many(
            "event",
            [
                event(job["id"], at, f"New fine-tuned model created: {job['_ft_model']}"),
                event(job["id"], at, "The job has successfully completed."),
            ],
            job["id"],
        )

    def _write_results(self, job: Doc, kind: MethodKind) -> Doc:
        plan = job["_plan"]
        has_valid = job.get("validation_file") is not None
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(CSV_HEADER)
        for s in range(1, plan["total"] + 1):
            epoch_end = s % plan["per_epoch"] == 0
            if not (s % plan["stride"] == 0 or s == plan["total"] or epoch_end):
                continue
            data = metrics_at(kind, job["seed"], s, plan["total"], has_validation=has_valid)
            full: tuple[object, object] = ("", "")
            if epoch_end and has_valid:
                full = full_validation(kind, job["seed"], s, plan["total"])
            writer.writerow(
                [
                    s,
                    data["train_loss"],
                    data["train_mean_token_accuracy"],
                    _cell(data["valid_loss"]),
                    _cell(data["valid_mean_token_accuracy"]),
                    *full,
                ]
            )
        tmp = self.ctx.store.blob_path(f"{job['id']}.results.tmp")
        tmp.write_text(buffer.getvalue(), encoding="utf-8")
        return add_file(
            self.ctx, tmp, "results.csv", "fine-tune-results", tmp.stat().st_size, status="processed"
        )


def _cell(value: object) -> object:
    return "" if value is None else value
