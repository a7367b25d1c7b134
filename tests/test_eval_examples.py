"""Rows -> examples (prompt, reference, grader item) and prompt templates."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from foundry_tune.errors import ConfigurationError, DatasetError, InvalidParameterError
from foundry_tune.evaluation import PromptTemplate, Target, load_examples, metrics

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "foundry-samples"


def test_sft_dpo_and_rft_rows() -> None:
    sft, dpo, rft, plain = load_examples([
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q"},
                      {"role": "assistant", "content": [{"type": "text", "text": "A"}]}]},
        {"input": {"messages": [{"role": "user", "content": "Q2"}]},
         "preferred_output": [{"role": "assistant", "content": "good"}],
         "non_preferred_output": [{"role": "assistant", "content": "bad"}]},
        {"messages": [{"role": "user", "content": "Q3"}], "answer": "E", "id": 7},
        {"question": "Q4", "answer": {"x": 1}},
    ])
    assert sft.messages == ({"role": "system", "content": "S"}, {"role": "user", "content": "Q"})
    assert sft.reference == "A" and sft.item == {"reference": "A"} and sft.line == 1
    assert dpo.messages == ({"role": "user", "content": "Q2"},) and dpo.reference == "good"
    assert rft.reference == "E" and rft.input == "Q3"
    assert rft.item == {"answer": "E", "id": 7, "reference": "E"}
    assert plain.messages == () and plain.reference == '{"x": 1}'


def test_reference_field_is_explicit_when_given() -> None:
    rows = [{"messages": [{"role": "user", "content": "Q"}], "answer": "A", "gold": "G"}]
    assert load_examples(rows, reference_field="gold")[0].reference == "G"
    with pytest.raises(DatasetError, match="line 1: the reference field 'label' is missing"):
        load_examples(rows, reference_field="label")


def test_bad_files_name_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "held.jsonl"
    path.write_text('{"messages": []}\n\n{"messages": [\n', encoding="utf-8")
    with pytest.raises(DatasetError, match=r"held.jsonl, line 3: not valid JSON"):
        load_examples(path)
    path.write_text("[1, 2]\n", encoding="utf-8")
    with pytest.raises(DatasetError, match="line 1: a row must be a JSON object"):
        load_examples(path)
    with pytest.raises(DatasetError, match="no such file"):
        load_examples(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="no examples"):
        load_examples([])


def test_limit_reads_only_what_it_needs() -> None:
    def endless():  # type: ignore[no-untyped-def]
        i = 0
        while True:
            i += 1
            yield {"messages": [{"role": "user", "content": str(i)}, {"role": "assistant", "content": "x"}]}

    assert [e.input for e in load_examples(endless(), limit=3)] == ["1", "2", "3"]


def test_prompt_template_system_few_shot_and_user() -> None:
    example = load_examples([{"messages": [{"role": "system", "content": "short"},
                                           {"role": "user", "content": "Where is my parcel?"},
                                           {"role": "assistant", "content": "shipping"}], "lang": "en"}])[0]
    template = PromptTemplate(system="long instructions", few_shot=[("q1", "a1"), example],
                              user="[{lang}] {input}")
    assert template.render(example) == [
        {"role": "system", "content": "long instructions"},
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "Where is my parcel?"}, {"role": "assistant", "content": "shipping"},
        {"role": "user", "content": "[en] Where is my parcel?"},
    ]
    assert PromptTemplate(drop_system=True).render(example) == [
        {"role": "user", "content": "Where is my parcel?"}]
    assert Target("m", prompt=lambda e: [{"role": "user", "content": e.input.upper()}]).render(example) == [
        {"role": "user", "content": "WHERE IS MY PARCEL?"}]
    with pytest.raises(InvalidParameterError, match="not a plain name"):
        PromptTemplate(user="{item.x}")
    with pytest.raises(TypeError, match="few-shot example"):
        PromptTemplate(few_shot=[42])
    with pytest.raises(InvalidParameterError, match="either prompt= or"):
        Target("m", prompt=PromptTemplate(), system="x")


def test_target_prices_tuned_model_ids_as_tuned() -> None:
    assert Target("gpt-4.1-mini-2025-04-14.ft-abc").tuned
    assert not Target("gpt-4.1-mini").tuned
    assert Target("my-deployment", price_model="gpt-4.1-mini", tuned=True).price_model == "gpt-4.1-mini"
    with pytest.raises(InvalidParameterError):
        Target("  ")


def test_json_schema_metric_without_jsonschema_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)
    with pytest.raises(ConfigurationError, match=r"foundry-tune\[eval\]"):
        metrics.json_schema({"type": "object"})


@pytest.mark.skipif(not SHARED.is_dir(), reason="shared samples not available")
def test_real_samples_load() -> None:
    gsm = load_examples(SHARED / "sample-sft-text-gsm8k" / "chat_validation.jsonl")
    assert len(gsm) == 50 and all(e.reference for e in gsm)
    math = load_examples(SHARED / "rft-math-reasoning" / "openr1-math-validation-rft-10.jsonl")
    assert len(math) == 10 and all(e.reference == e.item["answer"] for e in math)
    dpo = load_examples(SHARED / "dpo-intel-orca" / "validation.jsonl", limit=20)
    assert len(dpo) == 20 and all(e.messages and e.reference for e in dpo)
