"""Canary secrets through a whole workflow on the emulator: none is printed, logged or written.

Planted: the connection's key (the emulator's token), an endpoint grader's header value and
``?code=`` function key, a proxy URL's password, and a SAS ``?sig=``. Collected: every log record
of every logger at DEBUG (ours, httpx / httpx2 / httpcore / openai / azure), str and repr of every
object, every exception provoked on the way (a refused grader, a 404, a bad key, a refused file,
an unreachable proxy), every warning, the CLI's output, stdout / stderr, and every file the library
and the emulator write (the state folder, the emulator's data folder and log, a saved grader).

The emulator stores a job's request as it received it, grader headers included, as Azure does:
the job request documents in its database are the one place a grader key may be, because the
service must have it. The connection's key and the proxy's password are found nowhere.
"""

from __future__ import annotations

import contextlib
import io
import os
import sqlite3
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest

pytest.importorskip("starlette")
pytest.importorskip("uvicorn")

import test_security_secrets
from test_security_secrets import Everything, exception_text

from foundry_tune._core.translate import translate
from foundry_tune.cli import _jobs, main
from foundry_tune.client import Foundry, RetryPolicy
from foundry_tune.dataset import Dataset
from foundry_tune.errors import FoundryTuneError, GraderError, NotFoundError
from foundry_tune.graders import Endpoint, Multi, StringCheck
from foundry_tune.job import Job
from foundry_tune.methods import Reinforcement

pytestmark = [pytest.mark.emulator, pytest.mark.slow,
              pytest.mark.filterwarnings("ignore::foundry_tune._core.billing.BillingWarning")]

API_KEY = "canaryAPIKEYq8Zr2"
GRADER_HEADER = "canaryHEADERm4Kx9"
GRADER_CODE = "canaryCODEp7Tn3"
PROXY_PASSWORD = "canaryPROXYw2Jd6"
SAS_SIG = "canarySIGv5Lb1"
CONNECTION_SECRETS = (API_KEY, PROXY_PASSWORD, SAS_SIG)
GRADER_SECRETS = (GRADER_HEADER, GRADER_CODE)
ALL = (*CONNECTION_SECRETS, *GRADER_SECRETS)

debug_logs = test_security_secrets.debug_logs  # every record of every logger, at DEBUG


def grader(code: str = GRADER_CODE, header: str = GRADER_HEADER) -> Multi:
    remote = Endpoint(name="remote", url=f"https://grader.example.net/api/grade?code={code}",
                      headers={"X-Canary-Key": header})
    exact = StringCheck(name="exact", input="{{sample.output_text}}", reference="{{item.answer}}",
                        operation="eq")
    return Multi(name="both", graders={"remote": remote, "exact": exact}, calculate_output="remote + exact")


def rft_rows(n: int, offset: int = 0) -> list[dict[str, Any]]:
    return [{"messages": [{"role": "user", "content": f"What is {i} times 3? [canary]"}],
             "answer": str(3 * i)} for i in range(offset, offset + n)]


def test_no_canary_secret_anywhere(debug_logs: Everything, make_foundry: Callable[..., Foundry],
                                   tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                   capfd: pytest.CaptureFixture[str]) -> None:
    # The proxy for every https host but this machine (the emulator is reached directly).
    monkeypatch.setenv("HTTPS_PROXY", f"http://canary-user:{PROXY_PASSWORD}@127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    seen: list[str] = []

    def expect(kind: type[BaseException], fn: Callable[[], Any]) -> BaseException:
        with pytest.raises(kind) as info:
            fn()
        seen.append(exception_text(info.value))
        return info.value

    data_dir = tmp_path / "emulator"
    progress = io.StringIO()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        ft = make_foundry(token=API_KEY, data_dir=data_dir, job_duration=0.5, deployment_ready_delay=0.1,
                          deployment_provision_delay=0.1)
        info = ft.emulator_instance.info if ft.emulator_instance else None
        assert info is not None
        seen += [repr(ft), str(ft), repr(ft.retry), repr(ft.credential), repr(info), repr(ft.arm_settings)]

        # The workflow: plan, start, re-run with a rotated key (the same job), wait, read, deploy, chat.
        train = Dataset.from_records(rft_rows(12), name="canary-train.jsonl")
        valid = Dataset.from_records(rft_rows(10, offset=50), name="canary-valid.jsonl")

        def builder(code: str = GRADER_CODE, header: str = GRADER_HEADER) -> Any:
            return (ft.fine_tune("o4-mini").train_on(train).validate_on(valid)
                    .method(Reinforcement(grader=grader(code, header), n_epochs=1)).suffix("canary")
                    .training_type("GlobalStandard").check_grader(False))

        plan = builder().plan()
        seen += [repr(builder()), str(builder()), repr(plan), str(plan), repr(grader()), str(grader()),
                 repr(builder().spec)]
        job = builder().start(on_progress=lambda line: progress.write(line + "\n"))
        again = builder("rotatedCODE", "rotatedHEADER").start()
        assert again.id == job.id
        job.wait(timeout=60, progress="plain", stream=progress, poll=0.2)
        seen += [repr(job), str(job), job._repr_html_(), repr(job.method), repr(job.metrics()),
                 repr(job.checkpoints()), repr(job.events()), repr(ft.jobs.list(limit=5)), repr(again)]
        with job.deploy(capacity=1) as deployment:
            seen += [repr(deployment), deployment.chat("What is 2 times 3?")]

        # The CLI on this connection.
        monkeypatch.setattr(_jobs, "connect", lambda: contextlib.nullcontext(ft))
        for argv in (["jobs", "show", job.id], ["jobs", "show", job.id, "--json"], ["jobs", "list"],
                     ["jobs", "list", "--json"]):
            assert main(argv) == 0

        # Failures on the way.
        expect(NotFoundError, lambda: ft.jobs.get("ftjob-canary-missing"))
        expect(GraderError, lambda: Endpoint(url=f"ftp://u:{PROXY_PASSWORD}@g/?code={GRADER_CODE}",
                                             headers={"X-Canary-Key": GRADER_HEADER}))
        try:
            ft.openai.fine_tuning.jobs.create(model="not-a-model", training_file="file-missing",
                                              method=Reinforcement(grader=grader(), n_epochs=1).to_wire())
        except openai.APIError as exc:
            seen.append(exception_text(translate(exc, what="create job")))
        else:
            pytest.fail("the emulator accepted a job for an unknown model")
        expect(FoundryTuneError, lambda: Job.attach(ft, "ftjob-canary-missing").wait(timeout=5))

        # A rejected key, and a remote host behind the (unreachable) proxy.
        # (its requests carry a SAS-like ?sig=, which the HTTP clients' request lines print)
        keyed = openai.OpenAI(base_url=info.openai_base_url, api_key=API_KEY + "-wrong",
                              default_query={"sv": "2024-01-01", "sig": SAS_SIG})
        with Foundry.from_openai_client(keyed) as by_key:
            seen.append(repr(by_key))
            expect(FoundryTuneError, lambda: by_key.jobs.list(limit=1))
        quick = RetryPolicy(max_attempts=2, total_timeout=3.0)
        client = openai.OpenAI(base_url="https://canary-acct.openai.azure.com/openai/v1", api_key=API_KEY,
                               default_query={"sig": SAS_SIG})
        with Foundry.from_openai_client(client, retry=quick) as remote:
            seen.append(repr(remote))
            expect(FoundryTuneError, lambda: remote.jobs.list(limit=1))

        saved = grader().save(tmp_path / "grader.json")
        seen.append(saved.read_text(encoding="utf-8"))
    seen += [str(w.message) for w in caught]
    ft.close()

    out, err = capfd.readouterr()
    seen += [out, err, progress.getvalue()]
    seen += debug_logs.texts
    assert len(debug_logs.texts) > 50  # DEBUG logging really was on
    assert any(t.startswith(("httpx", "openai", "httpcore")) for t in debug_logs.texts)
    assert job.id in out and "started job" in progress.getvalue()
    for secret in ALL:
        leaks = [text[:400] for text in seen if secret in text]
        assert not leaks, f"{secret} printed in: {leaks[:3]}"

    state_dir = Path(os.environ["FOUNDRY_TUNE_STATE_DIR"])
    written = [p for root in (tmp_path, state_dir, data_dir) for p in root.rglob("*") if p.is_file()]
    assert {"emulator.log", "emulator.sqlite3", "grader.json"} <= {p.name for p in written}
    for path in written:
        content = path.read_bytes()
        allowed = GRADER_SECRETS if path.name.startswith("emulator.sqlite3") else ()
        for secret in ALL:
            if secret not in allowed:
                assert secret.encode() not in content, f"{secret} written to {path}"
    # The one allowed place: the job request the service received (it must call the grader).
    with sqlite3.connect(data_dir / "emulator.sqlite3") as db:
        requests = [row[0] for row in db.execute("SELECT doc FROM docs WHERE kind = 'job'")]
    assert any(GRADER_CODE in doc for doc in requests)
    # A request line with the key's query was logged (and masked): the filter really saw it.
    assert any("sig=********" in text for text in debug_logs.texts)
