"""Dataset sources, upload bytes, content hash, to_jsonl, iter_records and split."""

from __future__ import annotations

import gc
import hashlib
import json
import math
from pathlib import Path

import pytest
from _dataset_helpers import GOOD, SAMPLES, good_file, line, sft, write_lines

from foundry_tune.dataset import Dataset
from foundry_tune.errors import DatasetError, InvalidParameterError

# -- from_jsonl: the file's own bytes ---------------------------------------------------------------


def test_from_jsonl_uploads_the_file_bytes_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "crlf.jsonl"
    raw = b"\xef\xbb\xbf" + b"\r\n".join(line(sft(i)).encode() for i in range(12))  # BOM, CRLF, no final LF
    path.write_bytes(raw)
    data = Dataset.from_jsonl(path)
    with data.open_upload() as stream:
        assert stream.read() == raw
    assert data.size_bytes == len(raw)
    assert data.content_hash() == hashlib.sha256(raw).hexdigest()
    assert data.name == "crlf.jsonl" and data.path == path


def test_content_hash_follows_changes_to_the_file(tmp_path: Path) -> None:
    path = good_file(tmp_path / "a.jsonl", "sft")
    data = Dataset.from_jsonl(path)
    before = data.content_hash()
    assert data.content_hash() == before
    path.write_bytes(path.read_bytes() + line(sft(99)).encode() + b"\n")
    assert data.content_hash() != before
    assert data.content_hash() == hashlib.sha256(path.read_bytes()).hexdigest()


def test_from_jsonl_missing_or_directory(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such file"):
        Dataset.from_jsonl(tmp_path / "missing.jsonl")
    with pytest.raises(DatasetError, match="not a file"):
        Dataset.from_jsonl(tmp_path)


def test_iter_records_streams_and_skips_blank_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [line(sft(0)), "", line(sft(1)), "  "], newline=b"\r\n")
    assert list(Dataset.from_jsonl(path).iter_records()) == [sft(0), sft(1)]


def test_iter_records_names_the_bad_line(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "d.jsonl", [line(sft(0)), "{broken"])
    records = Dataset.from_jsonl(path).iter_records()
    assert next(records) == sft(0)
    with pytest.raises(DatasetError, match=r"d\.jsonl, line 2: invalid JSON"):
        next(records)


# -- from_records / from_pandas / from_hf: canonical JSONL -----------------------------------------


def test_from_records_writes_canonical_jsonl(tmp_path: Path) -> None:
    records = [{"messages": [{"role": "user", "content": "héllo ✓"}, {"role": "assistant", "content": "ok"}]}]
    data = Dataset.from_records(iter(records), name="mine.jsonl")
    expected = (
        '{"messages":[{"role":"user","content":"héllo ✓"},{"role":"assistant","content":"ok"}]}\n'
    ).encode()
    with data.open_upload() as stream:
        assert stream.read() == expected
    assert data.content_hash() == hashlib.sha256(expected).hexdigest()
    assert data.path is None and data.name == "mine.jsonl" and data.size_bytes == len(expected)
    out = data.to_jsonl(tmp_path / "copy.jsonl")
    assert out.read_bytes() == expected
    assert Dataset.from_jsonl(out).content_hash() == data.content_hash()


def test_equal_records_give_equal_hashes() -> None:
    a = Dataset.from_records([sft(i) for i in range(5)])
    b = Dataset.from_records(sft(i) for i in range(5))
    c = Dataset.from_records([sft(i) for i in range(6)])
    assert a.content_hash() == b.content_hash() != c.content_hash()


def test_from_records_rejects_non_dicts_and_unserializable_values() -> None:
    with pytest.raises(DatasetError, match="record 1 is a list"):
        Dataset.from_records([sft(0), [1, 2]])  # type: ignore[list-item]
    with pytest.raises(DatasetError, match="record 0 cannot be written as JSON"):
        Dataset.from_records([{"messages": object()}])
    with pytest.raises(DatasetError, match="record 0"):
        Dataset.from_records([{"weight": math.nan}])


def test_records_temp_file_is_removed_with_the_dataset() -> None:
    data = Dataset.from_records([sft(0)])
    file = data._file
    assert file.exists()
    del data
    gc.collect()
    assert not file.exists()


def test_from_records_round_trips_through_validation() -> None:
    report = Dataset.from_records(GOOD["dpo"](i) for i in range(12)).validate("dpo")
    assert report.valid and report.examples == 12 and report.path == "dataset.jsonl"


def test_from_pandas_rows_and_missing_cells() -> None:
    pd = pytest.importorskip("pandas")
    np = pytest.importorskip("numpy")
    df = pd.DataFrame(
        {
            "messages": [sft(0)["messages"], sft(1)["messages"]],
            "answer": ["1", None],
            "score": [np.int64(3), np.nan],
            "nums": [np.array([1, 2]), np.array([3])],
        }
    )
    data = Dataset.from_pandas(df, name="frame.jsonl")
    rows = list(data.iter_records())
    assert rows == [
        {"messages": sft(0)["messages"], "answer": "1", "score": 3, "nums": [1, 2]},
        {"messages": sft(1)["messages"], "nums": [3]},
    ]
    assert data.name == "frame.jsonl"


def test_from_pandas_needs_a_dataframe() -> None:
    with pytest.raises(DatasetError, match="pandas DataFrame"):
        Dataset.from_pandas([sft(0)])


def test_from_hf_drops_arrow_null_fields() -> None:
    class FakeHF:
        """What iterating a datasets.Dataset yields: struct fields a row lacks are None."""

        def __iter__(self):  # type: ignore[no-untyped-def]
            yield {
                "messages": [
                    {"role": "user", "content": "q", "tool_calls": None},
                    {"role": "assistant", "content": "a", "tool_calls": None},
                ]
            }

    rows = list(Dataset.from_hf(FakeHF()).iter_records())
    assert rows == [{"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}]
    with pytest.raises(DatasetError, match="one split"):
        Dataset.from_hf({"train": FakeHF()})


def test_from_hf_with_the_real_library() -> None:
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_list([sft(i) for i in range(12)])
    assert Dataset.from_hf(ds).validate("sft").valid


# -- split -----------------------------------------------------------------------------------------


def _lines(data: Dataset) -> list[bytes]:
    with data.open_upload() as stream:
        return stream.read().splitlines()


def test_split_is_deterministic_disjoint_and_complete(tmp_path: Path) -> None:
    path = good_file(tmp_path / "all.jsonl", "sft", n=200)
    data = Dataset.from_jsonl(path)
    train, valid = data.split(validation=0.1, seed=7)
    train_lines, valid_lines = _lines(train), _lines(valid)
    assert len(valid_lines) == 20 and len(train_lines) == 180
    assert not set(train_lines) & set(valid_lines)
    originals = path.read_bytes().splitlines()
    assert sorted(train_lines + valid_lines) == sorted(originals)
    # File order is kept inside each part.
    assert train_lines == [x for x in originals if x in set(train_lines)]
    again_train, again_valid = data.split(validation=0.1, seed=7)
    assert again_train.content_hash() == train.content_hash()
    assert again_valid.content_hash() == valid.content_hash()
    other_train, _ = data.split(validation=0.1, seed=8)
    assert other_train.content_hash() != train.content_hash()
    assert train.name == "all-train.jsonl" and valid.name == "all-validation.jsonl"


def test_split_keeps_duplicates_on_one_side(tmp_path: Path) -> None:
    rows = [line(sft(i % 30)) for i in range(120)]  # every example four times
    data = Dataset.from_jsonl(write_lines(tmp_path / "dups.jsonl", rows))
    for seed in range(5):
        train, valid = data.split(validation=0.25, seed=seed)
        assert not set(_lines(train)) & set(_lines(valid))
        assert len(_lines(train)) + len(_lines(valid)) == 120
        assert len(_lines(valid)) % 4 == 0 and _lines(valid)


def test_split_parts_pass_the_overlap_check(tmp_path: Path) -> None:
    data = Dataset.from_jsonl(good_file(tmp_path / "x.jsonl", "rft", n=100))
    train, valid = data.split(0.2, seed=1)
    report = train.validate("rft", validation=valid)
    assert report.valid and not [w for w in report.warnings if w.code == "data.validation_overlap"]


def test_split_normalises_bom_and_crlf(tmp_path: Path) -> None:
    path = tmp_path / "win.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\r\n".join(line(sft(i)).encode() for i in range(20)) + b"\r\n\r\n")
    train, valid = Dataset.from_jsonl(path).split(0.5)
    for part in (train, valid):
        with part.open_upload() as stream:
            raw = stream.read()
        assert b"\r" not in raw and not raw.startswith(b"\xef\xbb\xbf") and raw.endswith(b"}\n")
    assert len(_lines(train)) + len(_lines(valid)) == 20


@pytest.mark.parametrize("fraction", [0, 1, -0.1, 1.5, True])
def test_split_fraction_must_be_between_0_and_1(tmp_path: Path, fraction: float) -> None:
    data = Dataset.from_jsonl(good_file(tmp_path / "x.jsonl", "sft"))
    with pytest.raises(InvalidParameterError):
        data.split(fraction)


def test_split_refuses_unreadable_lines(tmp_path: Path) -> None:
    path = write_lines(tmp_path / "bad.jsonl", [line(sft(0)), "{", line(sft(1))])
    with pytest.raises(DatasetError, match="line 2"):
        Dataset.from_jsonl(path).split()


def test_split_needs_two_distinct_examples() -> None:
    with pytest.raises(DatasetError, match="at least 2"):
        Dataset.from_records([sft(0)]).split()
    with pytest.raises(DatasetError, match="same"):
        Dataset.from_records([sft(0)] * 10).split()


def test_split_of_a_small_file_leaves_at_least_one_on_each_side() -> None:
    with pytest.warns(UserWarning, match="the training part has 2 and the validation part 1 examples"):
        train, valid = Dataset.from_records(sft(i) for i in range(3)).split(validation=0.01)
    assert len(_lines(train)) == 2 and len(_lines(valid)) == 1


@pytest.mark.skipif(not SAMPLES.is_dir(), reason="shared sample data not available")
def test_split_of_a_real_sample_validates() -> None:
    data = Dataset.from_jsonl(SAMPLES / "sample-sft-text-gsm8k" / "chat_train.jsonl")
    train, valid = data.split(validation=0.1, seed=3)
    assert len(_lines(valid)) == 45
    assert train.validate("sft").valid and valid.validate("sft").valid
    rows = [json.loads(x) for x in _lines(valid)]
    assert all(r["messages"][-1]["role"] == "assistant" for r in rows)


def test_validate_takes_grader_and_epochs_from_the_method_object(tmp_path: Path) -> None:
    from foundry_tune import Reinforcement, Supervised, graders

    grader = graders.StringCheck(
        name="g", input="{{sample.output_json.answer}}", reference="{{item.missing}}", operation="eq"
    )
    data = Dataset.from_jsonl(good_file(tmp_path / "r.jsonl", "rft"))
    report = data.validate(Reinforcement(grader=grader))
    assert [i.code for i in report.errors] == ["rft.response_format_required", "rft.grader_field_missing"]
    sft_data = Dataset.from_jsonl(good_file(tmp_path / "s.jsonl", "sft", n=40))
    report = sft_data.validate(Supervised(n_epochs=4), model="gpt-4.1-mini")
    assert report.estimate is not None and report.estimate.n_epochs == 4


def test_estimate_with_epochs(tmp_path: Path) -> None:
    data = Dataset.from_jsonl(good_file(tmp_path / "s.jsonl", "sft", n=40))
    estimate = data.estimate("sft", "gpt-4.1-mini", n_epochs=2)
    assert estimate.n_epochs == 2 and estimate.billed_tokens is not None
    report = data.validate("sft", model="gpt-4.1-mini")
    assert report.tokens is not None
    assert estimate.billed_tokens == 2 * report.tokens.billable_tokens
