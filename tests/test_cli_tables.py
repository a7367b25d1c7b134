"""CLI tables line up with real ids (job ids of 38 characters, file ids of 37, wide characters), and the
deployment names foundry-tune makes keep the job's suffix, stay readable and fit Azure's rules."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from _cli_helpers import Borrowed, arm_connect
from _client_fakes import FakeArm, ScriptedServer

from foundry_tune import Foundry
from foundry_tune._table import columns, display_width, text_table
from foundry_tune.cli import _deploy, _jobs, main
from foundry_tune.deployment import default_name
from foundry_tune.errors import InvalidParameterError

JOB_ID = "ftjob-0123456789abcdef0123456789abcdef"
FILE_ID = "file-fedcba9876543210fedcba9876543210"


def _starts(line: str) -> list[int]:
    """Where each column of a two-space separated line begins."""
    return [m.start() for m in re.finditer(r"(?:^|(?<=  ))\S", line)]


def test_real_ids_have_their_real_lengths() -> None:
    assert (len(JOB_ID), len(FILE_ID)) == (38, 37)


def test_columns_line_up_with_38_character_ids() -> None:
    rows = [["ID", "STATUS", "TRAINING FILE", "MODEL"],
            [JOB_ID, "running", FILE_ID, "gpt-4.1-mini"],
            ["ftjob-abc", "succeeded", "file-1",
             "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef"]]
    lines = columns(rows).splitlines()
    header = _starts(lines[0])
    assert len(header) == 4
    for line in lines[1:]:
        assert _starts(line) == header, lines
    assert JOB_ID in lines[1] and FILE_ID in lines[1]  # never cut


def test_wide_characters_and_line_breaks_keep_the_columns() -> None:
    rows = [["metric", "base model", "fine-tuned"],
            ["répondre", "0.5", "0.7"],
            ["答案一致", "0.6", "0.8"],       # two columns per character in a terminal
            ["multi\nline", "0.1", "0.2"]]   # one row stays one line
    text = text_table(rows)
    lines = text.splitlines()
    assert len(lines) == len(rows) + 1
    bars = {tuple(i for i, _ in enumerate(_columns_of(line)) if _) for line in lines}
    assert len(bars) == 1, text
    assert display_width("答案一致") == 8 and display_width("e\u0301") == 1


def _columns_of(line: str) -> list[bool]:
    """Which terminal columns of ``line`` hold a column separator (``|`` or ``+``)."""
    out: list[bool] = []
    for char in line:
        out += [char in "|+"] + [False] * (display_width(char) - 1)
    return out


# -- the tables the CLI prints ---------------------------------------------------------------------------


@pytest.fixture
def arm(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeArm]:
    server = ScriptedServer()
    fake = FakeArm()
    monkeypatch.setattr(_deploy, "connect", arm_connect(server, fake))
    yield fake
    server.close()


def test_deploy_list_lines_up_with_job_ids(arm: FakeArm, capsys: pytest.CaptureFixture[str]) -> None:
    model = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef-support"
    arm.add(default_name(model), model, tags={"created-by": "foundry-tune", "foundry-tune-job-id": JOB_ID})
    arm.add("short", "gpt-4o")
    assert main(["deploy", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    header = _starts(lines[0])
    assert lines[0].split() == ["NAME", "STATE", "SKU", "OURS", "JOB", "MODEL"]
    for line in lines[1:]:
        assert _starts(line)[:4] == header[:4], lines
    ours = next(line for line in lines if JOB_ID in line)
    assert ours.index(JOB_ID) == lines[0].index("JOB")
    other = next(line for line in lines if line.startswith("short"))
    assert other.index("gpt-4o") == lines[0].index("MODEL")


@pytest.mark.emulator
def test_jobs_list_lines_up_with_the_emulators_ids(ft: Foundry, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("starlette")
    from foundry_tune._demo_data import demo_records
    from foundry_tune.dataset import Dataset

    monkeypatch.setattr(_jobs, "connect", lambda: Borrowed(ft))
    job = (ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(demo_records(20, seed=707)))
           .suffix("cli-tables").training_type("GlobalStandard").start())
    assert main(["jobs", "list", "--suffix", "cli-tables"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(job.id) == 38
    row = next(line for line in lines if line.startswith(job.id))
    for name in ("STATUS", "METHOD", "TRAINING", "CREATED"):
        cell = row[lines[0].index(name):]
        assert cell and not cell.startswith(" "), (lines[0], row)
    assert row[lines[0].index("METHOD"):].startswith("supervised")


# -- deployment names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "name"), [
    ("gpt-4.1-mini-2025-04-14.ft-b0a35cacdf16e98c755d8817e22f9e9e-support-bot",
     "gpt-4.1-mini-support-bot-b0a35cac"),
    ("gpt-4.1-mini-2025-04-14.ft-b525297af36e4cfda898d13c3f91d3dc", "gpt-4.1-mini-ft-b525297a"),
    ("gpt-4o-2024-08-06.ft-4485dc4da8694d3b8c13c516baa18bc0:ckpt-step-80", "gpt-4o-ft-4485dc4d-step80"),
    ("gpt-4.1-2025-04-14.ft-70b83bfc4a2548b081bd3634f63f2503-gpt41-chart-qa-dev-01",
     "gpt-4.1-gpt41-chart-qa-dev-01-70b83bfc"),
    ("Ministral-3B.ft-b96671bea6bb41aeb145a67aef0a463b", "Ministral-3B-ft-b96671be"),
    ("ft:gpt-4o-mini-2024-07-18:my-org:support:AbC123xy", "gpt-4o-mini-support-AbC123xy"),
    ("gpt-4.1-mini", "gpt-4.1-mini"),
])
def test_generated_names_keep_the_suffix_and_read_well(model: str, name: str) -> None:
    assert default_name(model) == name


def test_a_long_suffix_is_shortened_never_the_job_part() -> None:
    model = "gpt-4.1-mini-2025-04-14.ft-70b83bfc4a2548b081bd3634f63f2503-" + "s" * 64
    name = default_name(model)
    assert len(name) == 64 and name.startswith("gpt-4.1-mini-sss") and name.endswith("-70b83bfc")
    checkpoint = default_name(model + ":ckpt-step-120")
    assert len(checkpoint) <= 64 and checkpoint.endswith("-70b83bfc-step120") and checkpoint != name


def test_generated_names_are_valid_deterministic_and_distinct() -> None:
    from foundry_tune._core.deployment_body import validate_name

    models = [
        f"gpt-4.1-mini-2025-04-14.ft-{hex_id}{suffix}{step}"
        for hex_id in ("0123456789abcdef0123456789abcdef", "fedcba9876543210fedcba9876543210")
        for suffix in ("", "-a", "-b", "-" + "x" * 64, "-ünïcode")
        for step in ("", ":ckpt-step-1", ":ckpt-step-2")
    ]
    models += ["gpt-4.1-mini.ft-" + "a" * 80, "gpt-4.1-mini.ft-" + "a" * 80 + "b", "o4-mini",
               "some model/with:odd chars"]
    names = [default_name(m) for m in models]
    assert all(validate_name(n) == n and len(n) <= 64 for n in names)
    assert len(set(names)) == len(models)
    assert names == [default_name(m) for m in models]
    with pytest.raises(InvalidParameterError):
        default_name(" gpt-4.1-mini\n")


@pytest.mark.filterwarnings("ignore::foundry_tune.deployment.BillingWarning")
def test_a_deployment_named_the_old_way_is_reused_not_paid_twice(
    arm: FakeArm, capsys: pytest.CaptureFixture[str]
) -> None:
    from foundry_tune._core.deployment_body import legacy_default_name

    model = "gpt-4.1-mini-2025-04-14.ft-0123456789abcdef0123456789abcdef-old"
    old = legacy_default_name(model)
    assert old == "gpt-4.1-mini-2025-04-14-ft-0123456789abcdef0123456789abcdef-old" != default_name(model)
    arm.add(old, model, tags={"created-by": "foundry-tune"})
    assert main(["deploy", "create", model, "--no-wait", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == old
    assert arm.puts() == []

    other = "gpt-4.1-mini-2025-04-14.ft-fedcba9876543210fedcba9876543210-fresh"
    assert main(["deploy", "create", other, "--no-wait", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "gpt-4.1-mini-fresh-fedcba98"
    assert len(arm.puts()) == 1


@pytest.mark.emulator
def test_a_deployment_made_by_the_cli_is_named_after_the_jobs_suffix(
    ft: Foundry, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("starlette")
    from foundry_tune._demo_data import demo_records
    from foundry_tune.dataset import Dataset

    monkeypatch.setattr(_deploy, "connect", lambda: Borrowed(ft))
    job = (ft.fine_tune("gpt-4.1-mini").train_on(Dataset.from_records(demo_records(20, seed=708)))
           .suffix("cli-names").training_type("GlobalStandard").start())
    job.wait(timeout=120, progress=False)
    assert main(["deploy", "create", str(job.fine_tuned_model), "--capacity", "1", "--json"]) == 0
    name = json.loads(capsys.readouterr().out)["name"]
    try:
        assert name == f"gpt-4.1-mini-cli-names-{job.id.removeprefix('ftjob-')[:8]}"
    finally:
        assert main(["deploy", "delete", name]) == 0
