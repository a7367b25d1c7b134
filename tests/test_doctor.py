"""`foundry-tune doctor`: shapes without secrets, a record of a project's answers, a comparison
with the emulator that names each difference (exit 0 same, 1 different, 2 usage error)."""

from __future__ import annotations

import io
import json
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _emulator_helpers import SHARED, sft_rows

from foundry_tune._core.connection import connection_options
from foundry_tune.cli import main
from foundry_tune.client import Foundry, StaticTokenCredential
from foundry_tune.deployment import BillingWarning
from foundry_tune.doctor import Answer, build_record, compare_records, diff, load_record, redact, shape_of
from foundry_tune.emulator import EmulatorInfo
from foundry_tune.errors import InvalidParameterError

RECORDINGS = SHARED / "data" / "azure-recordings"
needs_recordings = pytest.mark.skipif(not RECORDINGS.is_dir(), reason="shared Azure recordings not available")

# -- shapes --------------------------------------------------------------------------------------

SHAPES: list[tuple[str, Any, Any]] = [
    ("null stays", None, None),
    ("bool", True, "<bool>"),
    ("int", 3, "<int>"),
    ("float", 1.5, "<number>"),
    ("status kept", {"status": "running"}, {"status": "running"}),
    ("trainingType kept", {"trainingType": "globalStandard"}, {"trainingType": "globalStandard"}),
    ("provisioningState kept", {"provisioningState": "Creating"}, {"provisioningState": "Creating"}),
    ("id", {"id": "ftjob-46fe1c4edca240248803a9e7ccbbb105"}, {"id": "<id>"}),
    ("file reference", {"training_file": "file-abc"}, {"training_file": "<id>"}),
    ("model", {"model": "gpt-4.1-mini-2025-04-14.ft-b525"}, {"model": "<model>"}),
    (
        "ARM model name",
        {"model": {"name": "gpt-4.1", "format": "OpenAI"}},
        {"model": {"name": "<model>", "format": "OpenAI"}},
    ),
    ("filename", {"filename": "secret.jsonl"}, {"filename": "<filename>"}),
    ("name", {"name": "my-deployment"}, {"name": "<name>"}),
    (
        "sku name kept",
        {"sku": {"name": "DeveloperTier", "capacity": 1}},
        {"sku": {"name": "DeveloperTier", "capacity": "<int>"}},
    ),
    ("free text", {"message": "Step 8250: training loss=3.81E-06"}, {"message": "<text>"}),
    ("url", {"x": "https://acct.services.ai.azure.com/p"}, {"x": "<url>"}),
    ("datetime", {"createdAt": "2026-02-04T04:17:12.9981593Z"}, {"createdAt": "<datetime>"}),
    ("auto kept", {"n_epochs": "auto"}, {"n_epochs": "auto"}),
    (
        "metadata keys are user-defined",
        {"metadata": {"customer-acme": "v", "b": "w"}},
        {"metadata": {"<key>": "<text>"}},
    ),
    ("tags keys are user-defined", {"tags": {"team": "x"}}, {"tags": {"<key>": "<text>"}}),
    (
        "schema property names are user-defined",
        {"schema": {"type": "object", "properties": {"patient_name": {"type": "string"}}}},
        {"schema": {"type": "object", "properties": {"<key>": {"type": "string"}}}},
    ),
    ("an id-like enum value is not kept", {"status": "ftjob-0123456789abcdef0123"}, {"status": "<text>"}),
    (
        "a sentence under an enum key is not kept",
        {"type": "this is, in fact, free text!"},
        {"type": "<text>"},
    ),
    ("a key that is no schema key", {"what a key": 1}, {"<key>": "<int>"}),
    (
        "list items deduplicated",
        [{"level": "info"}, {"level": "info"}, {"level": "warn"}],
        [{"level": "info"}, {"level": "warn"}],
    ),
    ("scalars in a list", [1, 2, 3], ["<int>"]),
]


@pytest.mark.parametrize(("value", "expected"), [c[1:] for c in SHAPES], ids=[c[0] for c in SHAPES])
def test_shape_of(value: Any, expected: Any) -> None:
    assert shape_of(value) == expected


def test_list_shapes_are_capped() -> None:
    items = [{"status": f"s{i}"} for i in range(40)]
    assert len(shape_of(items)) == 5


def test_sensitive_strings_are_cut_out_of_kept_enum_values() -> None:
    body = {"type": "Microsoft.CognitiveServices/accounts/contoso-ai", "id": "/subscriptions/x"}
    assert shape_of(body, sensitive=["contoso-ai"]) == {
        "type": "Microsoft.CognitiveServices/accounts/<redacted>",
        "id": "<id>",
    }


def test_a_key_holding_a_sensitive_string_is_replaced() -> None:
    assert shape_of({"capabilities": {"contoso-ai-feature": "true"}}, sensitive=["contoso-ai"]) == {
        "capabilities": {"<key>": "<text>"}
    }


REDACTIONS = [
    (
        "plain",
        "https://contoso.services.ai.azure.com/api/projects/p1",
        {"contoso": "{account}", "p1": "{project}"},
        "https://{account}.services.ai.azure.com/api/projects/{project}",
    ),
    (
        "longest first",
        "ftjob-abc and ftjob-abcdef",
        {"ftjob-abc": "<a>", "ftjob-abcdef": "<b>"},
        "<a> and <b>",
    ),
    ("case-insensitive", "Account CONTOSO", {"contoso": "{account}"}, "Account {account}"),
    ("nothing to do", "status", {}, "status"),
]


@pytest.mark.parametrize(
    ("text", "secrets", "expected"), [c[1:] for c in REDACTIONS], ids=[c[0] for c in REDACTIONS]
)
def test_redact(text: str, secrets: dict[str, str], expected: str) -> None:
    assert redact(text, secrets) == expected


JOB = {
    "id": "<id>",
    "status": "succeeded",
    "hyperparameters": {"n_epochs": "<int>"},
    "object": "fine_tuning.job",
}
DIFFS: list[tuple[str, Any, Any, list[tuple[str, str]]]] = [
    ("same", JOB, dict(JOB), []),
    ("missing key", JOB, {k: v for k, v in JOB.items() if k != "object"}, [("missing key", "object")]),
    ("extra key", JOB, {**JOB, "error": None}, [("extra key", "error")]),
    (
        "nested type change",
        JOB,
        {**JOB, "hyperparameters": {"n_epochs": "auto"}},
        [("type", "hyperparameters.n_epochs")],
    ),
    ("enum value", JOB, {**JOB, "status": "completed"}, [("enum", "status")]),
    ("enum case", JOB, {**JOB, "status": "Succeeded"}, [("enum (case)", "status")]),
    ("int and number are both numbers", {"x": "<int>"}, {"x": "<number>"}, []),
    ("null is compatible", {"x": "<model>"}, {"x": None}, []),
    ("a recorded null is compatible", {"x": None}, {"x": {"code": "<text>"}}, []),
    (
        "list items",
        {"data": [JOB]},
        {"data": [{**JOB, "status": "Succeeded"}]},
        [("enum (case)", "data[].status")],
    ),
    (
        "items merge",
        {"data": [{"level": "info"}, {"level": "warning"}]},
        {"data": [{"level": "warning"}]},
        [],
    ),
    ("empty list", {"data": [JOB]}, {"data": []}, [("empty list", "data")]),
    ("recorded empty list says nothing", {"data": []}, {"data": [JOB]}, []),
    ("object became a string", {"method": {"type": "dpo"}}, {"method": "<text>"}, [("type", "method")]),
]


@pytest.mark.parametrize(
    ("recorded", "current", "expected"), [c[1:] for c in DIFFS], ids=[c[0] for c in DIFFS]
)
def test_diff(recorded: Any, current: Any, expected: list[tuple[str, str]]) -> None:
    assert [(d.kind, d.path) for d in diff(recorded, current, call="jobs.get")] == expected


def _record(**calls: tuple[int, Any]) -> dict[str, Any]:
    return build_record(
        [
            Answer(name.replace("_", "."), "GET", "{project}/x", status, body)
            for name, (status, body) in calls.items()
        ],
        {"flavour": "azure"},
    )


API = [
    (
        "project, v1",
        "https://acct.services.ai.azure.com/api/projects/p1/openai/v1/",
        {},
        {"flavour": "azure", "paths": "v1", "data_plane": "{project}/openai/v1", "api_version": None},
    ),
    (
        "resource, api-version",
        "https://acct.openai.azure.com/openai",
        {"api-version": "2025-04-01-preview"},
        {
            "flavour": "azure",
            "paths": "api-version",
            "data_plane": "/openai",
            "api_version": "2025-04-01-preview",
        },
    ),
    (
        "openai",
        "https://api.openai.com/v1",
        {},
        {"flavour": "openai", "paths": "v1", "data_plane": "/v1", "api_version": None},
    ),
    (
        "a proxy's own path segments are not kept",
        "https://gw.example.net/tenant-42/openai/v1",
        {},
        {"flavour": "other", "paths": "v1", "data_plane": "/{segment}/openai/v1", "api_version": None},
    ),
]


@pytest.mark.parametrize(("base_url", "query", "expected"), [c[1:] for c in API], ids=[c[0] for c in API])
def test_api_description(base_url: str, query: dict[str, str], expected: dict[str, Any]) -> None:
    from foundry_tune.doctor._record import api_description

    assert api_description(base_url, query, "2024-10-01") == {**expected, "arm_api_version": "2024-10-01"}


def test_compare_records_reports_status_and_calls_one_side_could_not_make() -> None:
    recorded = _record(jobs_get=(200, {"status": "running"}), files_list=(200, {"data": []}))
    recorded["calls"].append(
        {"name": "deployments.get", "method": "GET", "path": "{arm}", "skipped": "no ARM"}
    )
    current = _record(jobs_get=(404, {"error": {"code": "notFound"}}))
    found = [(d.call, d.kind) for d in compare_records(recorded, current)]
    assert found == [("jobs.get", "status"), ("files.list", "call")]


def test_a_record_holds_the_version_date_api_and_templated_paths() -> None:
    record = _record(jobs_get=(200, {"id": "ftjob-x"}))
    assert record["doctor"] == 1
    assert record["tool"].startswith("foundry-tune ")
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", record["recorded_on"])
    assert record["api"] == {"flavour": "azure"}
    assert record["calls"][0] == {
        "name": "jobs.get",
        "method": "GET",
        "path": "{project}/x",
        "status": 200,
        "shape": {"id": "<id>"},
    }


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"doctor": 2, "calls": []}',
        '{"doctor": 1, "calls": [1]}',
        '{"doctor": 1, "calls": [{"name": "x"}]}',
    ],
)
def test_load_record_refuses_what_is_not_a_record(text: str) -> None:
    with pytest.raises(InvalidParameterError, match="record"):
        load_record(text, source="record.json")


def test_the_time_bound_skips_the_calls_left_and_arm_needs_its_settings() -> None:
    from foundry_tune.doctor import collect

    ticks = iter([0.0])
    with Foundry(
        "http://127.0.0.1:9/api/projects/p",
        StaticTokenCredential("t"),
        subscription_id="s",
        resource_group="rg",
        account_name="acct",
        arm_endpoint="http://127.0.0.1:9",
    ) as ft:
        answers = collect(ft, time_bound=5, clock=lambda: next(ticks, 1e6))  # nothing is sent
    assert [(a.name, a.skipped) for a in answers] == [
        ("files.list", "time bound reached"),
        ("jobs.list", "time bound reached"),
        ("jobs.get", "no fine-tuning job in the project"),
        ("jobs.events", "no fine-tuning job in the project"),
        ("jobs.checkpoints", "no fine-tuning job in the project"),
        ("deployments.list", "time bound reached"),
        ("deployments.get", "no deployment on the resource"),
    ]
    ticks = iter([0.0])
    with Foundry("http://127.0.0.1:9/api/projects/p", StaticTokenCredential("t")) as ft:
        arm = [a for a in collect(ft, time_bound=5, clock=lambda: next(ticks, 1e6)) if "deploy" in a.name]
    assert all(a.skipped and "ARM settings" in a.skipped for a in arm)


def test_the_emulator_seeding_refuses_a_real_project() -> None:
    from foundry_tune.doctor import seed_emulator
    from foundry_tune.errors import ConfigurationError

    endpoint = "https://contoso.services.ai.azure.com/api/projects/p"
    with (
        Foundry(endpoint, StaticTokenCredential("t")) as ft,
        pytest.raises(ConfigurationError, match="only seeds a local emulator"),
    ):
        seed_emulator(ft)


# -- the command line: usage -------------------------------------------------------------------


@pytest.mark.parametrize("argv", [["doctor"], ["doctor", "--record", "a.json", "--compare", "b.json"]])
def test_doctor_needs_exactly_one_mode(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_compare_with_a_file_that_is_no_record_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"hello": 1}', encoding="utf-8")
    assert main(["doctor", "--compare", str(bad)]) == 2
    assert "not a foundry-tune doctor record" in capsys.readouterr().err
    assert main(["doctor", "--compare", str(tmp_path / "missing.json")]) == 2
    assert main(["doctor", "--compare", str(bad), "--job", "ftjob-1"]) == 2


# -- against the emulator ---------------------------------------------------------------------

TOKEN = "doctor-planted-token-5c1e"
SUFFIX = "plantedsfx"
META_KEY, META_VALUE = "planted-key-9x", "planted-value-9x"
TRAIN_NAME, VALID_NAME = "planted-train-q7.jsonl", "planted-valid-q7.jsonl"
DEPLOYMENT = "planted-deploy-4k"

# An emulator of this module's own: it needs a token, and the doctor's record must hold exactly
# what `seeded` planted.
pytestmark = pytest.mark.own_emulator(
    token=TOKEN, job_duration=1, deployment_provision_delay=0.2, deployment_ready_delay=0
)


@pytest.fixture(scope="module")
def seeded(emulator_info: EmulatorInfo) -> Iterator[tuple[EmulatorInfo, set[str]]]:
    """The emulator with one succeeded job and one deployment, and every string that names them."""
    info = emulator_info
    with _connect(info) as ft:
        ids = [_upload(ft, TRAIN_NAME, 12), _upload(ft, VALID_NAME, 10)]
        for file_id in ids:
            _processed(ft, file_id)
        job = ft.openai.fine_tuning.jobs.create(
            model="gpt-4.1-mini",
            training_file=ids[0],
            validation_file=ids[1],
            suffix=SUFFIX,
            metadata={META_KEY: META_VALUE},
            method={"type": "supervised", "supervised": {"hyperparameters": {"n_epochs": 1}}},
        )
        done = ft.jobs.get(job.id).wait(timeout=120, progress=False)
        assert done.fine_tuned_model
        with warnings.catch_warnings():  # the hosting-fee reminder: an emulator bills nothing
            warnings.simplefilter("ignore", BillingWarning)
            ft.deployments.create(done.fine_tuned_model, DEPLOYMENT, capacity=1, ready_check=False)
        events = ft.openai.fine_tuning.jobs.list_events(job.id, limit=100).data
        checkpoints = ft.openai.fine_tuning.jobs.checkpoints.list(job.id).data
        port = info.project_endpoint.split(":")[2].split("/")[0]
        secrets = {
            TOKEN,
            SUFFIX,
            META_KEY,
            META_VALUE,
            TRAIN_NAME,
            VALID_NAME,
            DEPLOYMENT,
            job.id,
            done.fine_tuned_model,
            *ids,
            *done.result_files,
            *(e.id for e in events),
            *(c.id for c in checkpoints),
            info.subscription_id,
            info.resource_group,
            info.project_endpoint,
            f"127.0.0.1:{port}",
            "capital of country",
        }
    yield info, secrets


def _connect(info: EmulatorInfo) -> Foundry:
    return Foundry(info.project_endpoint, StaticTokenCredential(TOKEN), **connection_options(info))


def _upload(ft: Foundry, name: str, n: int) -> str:
    data = "".join(json.dumps(r) + "\n" for r in sft_rows(n)).encode()
    return ft.openai.files.create(file=(name, io.BytesIO(data)), purpose="fine-tune").id


def _processed(ft: Foundry, file_id: str) -> None:
    from _emulator_helpers import wait_until

    wait_until(lambda: ft.openai.files.retrieve(file_id).status == "processed", timeout=30)


@pytest.fixture
def emulator_env(seeded: tuple[EmulatorInfo, set[str]], monkeypatch: pytest.MonkeyPatch) -> EmulatorInfo:
    info, _ = seeded
    for name in ("FOUNDRY_PROJECT_ENDPOINT", "AZURE_CLIENT_ID", "AZURE_TENANT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AZURE_AI_PROJECT_ENDPOINT", info.project_endpoint)
    monkeypatch.setenv("AZURE_SUBSCRIPTION_ID", info.subscription_id)
    monkeypatch.setenv("AZURE_RESOURCE_GROUP", info.resource_group)
    monkeypatch.setenv("AZURE_AI_ACCOUNT_NAME", info.account_name)
    monkeypatch.setenv("AZURE_ARM_ENDPOINT", info.arm_endpoint)
    monkeypatch.setenv("FOUNDRY_TUNE_EMULATOR_TOKEN", TOKEN)
    return info


def _counts(info: EmulatorInfo) -> tuple[int, int, int]:
    with _connect(info) as ft:
        return (
            len(ft.openai.files.list().data),
            len(ft.openai.fine_tuning.jobs.list().data),
            len(ft.deployments.list()),
        )


@pytest.mark.emulator
def test_record_holds_shapes_and_no_secret_and_compares_equal_with_the_same_emulator(
    seeded: tuple[EmulatorInfo, set[str]],
    emulator_env: EmulatorInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    _, secrets = seeded
    caplog.set_level(logging.DEBUG)
    before = _counts(emulator_env)
    caplog.clear()
    out = tmp_path / "out.json"
    assert main(["doctor", "--record", str(out)]) == 0
    printed = capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    record = json.loads(text)

    for secret in secrets:
        for where, content in (
            ("file", text),
            ("stdout", printed.out),
            ("stderr", printed.err),
            ("logs", caplog.text),
        ):
            assert secret.lower() not in content.lower(), f"{secret!r} leaked into the {where}"
    assert _counts(emulator_env) == before, "recording created or deleted something"

    calls = {c["name"]: c for c in record["calls"]}
    assert list(calls) == [
        "files.list",
        "jobs.list",
        "jobs.get",
        "jobs.events",
        "jobs.checkpoints",
        "deployments.list",
        "deployments.get",
    ]
    assert all(c["status"] == 200 for c in calls.values())
    job = calls["jobs.get"]
    assert job["path"] == "{project}/openai/v1/fine_tuning/jobs/{job_id}"
    assert job["shape"]["status"] == "succeeded"
    assert job["shape"]["object"] == "fine_tuning.job"
    assert job["shape"]["id"] == "<id>"
    assert calls["deployments.get"]["shape"]["properties"]["provisioningState"] == "Succeeded"
    assert calls["deployments.get"]["path"].startswith("/subscriptions/{subscription_id}/resourceGroups/")
    assert calls["jobs.events"]["shape"]["data"][0]["level"] == "info"
    assert record["api"]["flavour"] == "azure" and record["api"]["paths"] == "v1"
    assert "jobs.get" in printed.out and "status 200" in printed.out

    assert main(["doctor", "--compare", str(out), "--endpoint", emulator_env.project_endpoint]) == 0
    compared = capsys.readouterr().out
    assert compared.rstrip().endswith("no differences")
    assert compared.count("same shape") == 7


@pytest.mark.emulator
def test_an_edited_record_shows_each_difference_and_exits_1(
    emulator_env: EmulatorInfo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out.json"
    assert main(["doctor", "--record", str(out)]) == 0
    record = json.loads(out.read_text(encoding="utf-8"))
    calls = {c["name"]: c for c in record["calls"]}
    del calls["jobs.get"]["shape"]["object"]  # the emulator now sends a key the recording lacks
    calls["jobs.get"]["shape"]["trainingType"] = "GlobalStandard"
    calls["jobs.get"]["shape"]["created_at"] = "<text>"
    calls["jobs.events"]["shape"]["data"][0]["sequence"] = (
        "<int>"  # the recording had a key the emulator lacks
    )
    calls["files.list"]["status"] = 201
    out.write_text(json.dumps(record), encoding="utf-8")
    capsys.readouterr()

    assert main(["doctor", "--compare", str(out), "--endpoint", emulator_env.project_endpoint]) == 1
    text = capsys.readouterr().out
    assert re.search(r"jobs\.get .* 3 differences", text)
    assert re.search(r"extra key\s+object: recorded absent; now string", text)
    assert re.search(r"enum\s+trainingType: recorded GlobalStandard; now \w+", text)
    assert re.search(r"type\s+created_at: recorded string; now number", text)
    assert re.search(r"missing key\s+data\[\]\.sequence: recorded number; now absent", text)
    assert re.search(r"status\s+\(call\): recorded 201; now 200", text)
    assert text.rstrip().endswith("5 differences in 3 calls")

    assert main(["doctor", "--compare", str(out), "--endpoint", emulator_env.project_endpoint, "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["same"] is False
    assert {(d["call"], d["kind"], d["path"]) for d in report["differences"]} == {
        ("files.list", "status", ""),
        ("jobs.get", "extra key", "object"),
        ("jobs.get", "enum", "trainingType"),
        ("jobs.get", "type", "created_at"),
        ("jobs.events", "missing key", "data[].sequence"),
    }


# -- the real Azure bodies against the embedded emulator ---------------------------------------


def _exchange(name: str, method: str, part: str) -> dict[str, Any]:
    data = json.loads((RECORDINGS / "recordings" / name).read_text(encoding="utf-8"))
    return next(e for e in data["exchanges"] if e["method"] == method and part in e["uri"])


def _example(path: str) -> tuple[int, Any]:
    data = json.loads((RECORDINGS / path).read_text(encoding="utf-8"))
    return data["status"], data["body"]


def azure_record() -> dict[str, Any]:
    """A doctor record made from the recorded Azure answers, as if `--record` had run there."""
    jobs = _exchange("list_jobs_page1_head.json", "GET", "/fine_tuning/jobs?")
    job = _exchange("list_checkpoints.json", "GET", "/fine_tuning/jobs/sanitized-ftjob-id?")
    events = _exchange("sft_create_cancel_events.json", "GET", "/events")
    checkpoints = _exchange("list_checkpoints.json", "GET", "/checkpoints")
    deployment = _exchange("deploy_and_infer_oai_sft.json", "GET", "/deployments/")
    arm = (
        "/subscriptions/{subscription_id}/resourceGroups/{resource_group}/providers/"
        "Microsoft.CognitiveServices/accounts/{account}/deployments"
    )
    data = "{project}/openai/fine_tuning/jobs"
    answers = [
        Answer("files.list", "GET", "{project}/openai/files", *_example("spec-examples/get_files.json")),
        Answer("jobs.list", "GET", data, jobs["status"], jobs["response"]),
        Answer("jobs.get", "GET", data + "/{job_id}", job["status"], job["response"]),
        Answer("jobs.events", "GET", data + "/{job_id}/events", events["status"], events["response"]),
        Answer(
            "jobs.checkpoints",
            "GET",
            data + "/{job_id}/checkpoints",
            checkpoints["status"],
            checkpoints["response"],
        ),
        Answer("deployments.list", "GET", arm, *_example("arm/ListDeployments.json")),
        Answer("deployments.get", "GET", arm + "/{deployment}", deployment["status"], deployment["response"]),
    ]
    api = {
        "flavour": "azure",
        "paths": "api-version",
        "data_plane": "{project}/openai",
        "api_version": "2025-11-15-preview",
        "arm_api_version": "2025-09-01",
    }
    return build_record(answers, api, sensitive=["sanitized-account-name", "sanitized-resource-group-name"])


_KINDS = "missing key|extra key|type|enum|enum \\(case\\)|empty list|status|call"
_PATH = r"\(call\)|[A-Za-z_$@<>][\w.$@<>\[\]-]*"


@needs_recordings
@pytest.mark.emulator
def test_the_recorded_azure_answers_compared_with_the_embedded_emulator(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    record = azure_record()
    shapes = json.dumps(record)
    assert "sanitized-account-name" not in shapes and "gpt-4.1-mini-2025-04-14" not in shapes
    calls = {c["name"]: c["shape"] for c in record["calls"]}
    assert calls["jobs.get"]["trainingType"] == "standard"
    assert calls["jobs.get"]["hyperparameters"] == {
        "n_epochs": "<int>",
        "batch_size": "<int>",
        "learning_rate_multiplier": "<int>",
    }
    assert calls["deployments.get"]["type"] == "Microsoft.CognitiveServices/accounts/<redacted>"
    path = tmp_path / "azure.json"
    path.write_text(json.dumps(record), encoding="utf-8")

    code = main(["doctor", "--compare", str(path)])
    text = capsys.readouterr().out

    assert code in (0, 1)
    lines = [line for line in text.rstrip("\n").split("\n") if not line.startswith("emulator: ")]
    assert lines[0].startswith("recorded ") and "compared with the embedded emulator" in lines[0]
    for name in calls:
        assert re.search(
            rf"^  {re.escape(name)}\s+GET \S+  \d+ -> \d+  (same shape|\d+ differences?)$", text, re.MULTILINE
        ), name
    rows = [line for line in lines[1:-1] if line.startswith("      ")]
    for row in rows:
        match = re.fullmatch(rf"      ({_KINDS})\s+({_PATH}): recorded .+; now .+", row)
        assert match, row
    assert (code == 0) == (lines[-1] == "no differences") == (not rows)
    if rows:
        assert re.fullmatch(rf"{len(rows)} differences? in \d+ calls?", lines[-1])


# -- the replay server: the real Azure answers over HTTP ----------------------------------------


def _leaves(value: Any, shape: Any, out: list[Any]) -> None:
    """The raw values the shape replaced by a placeholder."""
    if isinstance(value, dict) and isinstance(shape, dict):
        for k, v in value.items():
            if k in shape:
                _leaves(v, shape[k], out)
            elif "<key>" in shape:
                out.append(k)
                _leaves(v, shape["<key>"], out)
    elif isinstance(value, list) and isinstance(shape, list):
        for item in value:
            for candidate in shape:
                _leaves(item, candidate, out)
    elif isinstance(shape, str) and shape.startswith("<") and not isinstance(value, (dict, list)):
        out.append(value)


@needs_recordings
def test_doctor_record_against_the_replayed_azure_answers(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    from _replay import ReplayServer

    from foundry_tune.doctor import collect, shape_of

    caplog.set_level(logging.DEBUG)
    with ReplayServer() as rs:
        job_id = rs.job_ids["recordings/list_checkpoints.json"]
        with rs.foundry() as ft:
            answers = {a.name: a for a in collect(ft, job_id=job_id)}
        for name in ("FOUNDRY_PROJECT_ENDPOINT", "FOUNDRY_TUNE_EMULATOR_TOKEN"):
            monkeypatch.delenv(name, raising=False)
        for name, value in {
            "AZURE_AI_PROJECT_ENDPOINT": rs.project_endpoint,
            "AZURE_SUBSCRIPTION_ID": rs.subscription_id,
            "AZURE_RESOURCE_GROUP": rs.resource_group,
            "AZURE_AI_ACCOUNT_NAME": rs.account_name,
            "AZURE_ARM_ENDPOINT": rs.arm_endpoint,
        }.items():
            monkeypatch.setenv(name, value)
        out = tmp_path / "replay.json"
        caplog.clear()
        assert main(["doctor", "--record", str(out), "--job", job_id]) == 0
    printed = capsys.readouterr()
    text = out.read_text(encoding="utf-8")
    record = json.loads(text)
    calls = {c["name"]: c for c in record["calls"]}
    assert all(c.get("status") == 200 for c in calls.values()), [c.get("skipped") for c in calls.values()]

    # Everything that names the project is gone: endpoint, ARM settings, and every value the
    # shapes replaced (ids, models, file names, messages, grader prompts, timestamps, seeds).
    planted = {
        rs.url.split("//")[1],
        rs.project,
        rs.resource_group,
        rs.account_name,
        rs.subscription_id,
        job_id,
    }
    for answer in answers.values():
        assert answer.status == 200, answer
        leaves: list[Any] = []
        _leaves(answer.body, shape_of(answer.body), leaves)
        planted.update(v for v in leaves if isinstance(v, str) and len(v) >= 6 and not v.isalpha())
        planted.update(
            str(v) for v in leaves if isinstance(v, int) and not isinstance(v, bool) and v >= 10_000
        )
    assert len(planted) > 30
    for secret in planted:
        for where, content in (
            ("file", text),
            ("stdout", printed.out),
            ("stderr", printed.err),
            ("logs", caplog.text),
        ):
            assert secret not in content, f"{secret!r} leaked into the {where}"

    # The recorded shapes are kept: the enum values, the keys the service sends.
    recorded_job = answers["jobs.get"].body
    job = calls["jobs.get"]["shape"]
    assert job["trainingType"] == recorded_job["trainingType"] == "standard"
    assert job["status"] == "succeeded" and job["object"] == "fine_tuning.job"
    assert set(job) == set(recorded_job)
    assert (
        set(job["hyperparameters"])
        == set(recorded_job["hyperparameters"])
        == {"n_epochs", "batch_size", "learning_rate_multiplier"}
    )
    assert job["additionalParameters"] == {"completionOverride": "<text>"}
    checkpoint = calls["jobs.checkpoints"]["shape"]["data"][0]
    assert checkpoint["object"] == "fine_tuning.job.checkpoint"
    assert set(checkpoint["metrics"]) == set(answers["jobs.checkpoints"].body["data"][0]["metrics"])
    assert {e["type"] for e in calls["jobs.events"]["shape"]["data"]} <= {"message", "metrics"}
    deployment = calls["deployments.get"]["shape"]
    assert deployment["properties"]["provisioningState"] in ("Succeeded", "Creating", "Deleting", "Failed")
    assert deployment["name"] == "<name>" and deployment["id"] == "<id>"
