"""Every scan ends: a list page without ``has_more`` (Azure's ``GET /files``), a server that ignores
``after`` or whose cursor does not advance, a page cap and a time bound each end a scan, sync and
async. The fake service answers with Azure's recorded bodies and never honours ``after``; after
:data:`BACKSTOP` requests to one list it answers an empty last page, so that a library that loops
fails on the request count instead of hanging the suite."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import itertools
import re
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest
from _emulator_helpers import read_recording

from foundry_tune import AsyncFoundry, Foundry, RetryPolicy
from foundry_tune._async import _listings as async_listings
from foundry_tune._async._jobs import scan_jobs as ascan_jobs
from foundry_tune._async._upload import find_uploaded as afind_uploaded
from foundry_tune._async._upload import scan_uploaded as ascan_uploaded
from foundry_tune._core.events import EventTail, JobEvent
from foundry_tune._core.paging import DEFAULT_MAX_PAGES, PageGuard
from foundry_tune._demo_data import demo_records
from foundry_tune._sync import _listings as sync_listings
from foundry_tune._sync._jobs import scan_jobs
from foundry_tune._sync._upload import find_uploaded, scan_uploaded
from foundry_tune.dataset import Dataset
from foundry_tune.errors import InvalidParameterError, ScanIncompleteError

BASE_URL = "https://acct.openai.azure.com/openai/v1"
BACKSTOP = 30
JOB_ID = "ftjob-" + "a" * 32


def _load(relative: str) -> Any:
    return read_recording(relative)


def _exchange(relative: str, uri_part: str) -> dict[str, Any]:
    for exchange in _load(relative)["exchanges"]:
        if exchange["method"] == "GET" and uri_part in exchange["uri"].split("?")[0]:
            return dict(exchange["response"])
    raise AssertionError(f"no GET {uri_part} in {relative}")


class AzureLike:
    """A fake Azure data plane for httpx.MockTransport: recorded bodies, ``after`` ignored."""

    def __init__(self) -> None:
        self.files_page = _load("spec-examples/get_files.json")["body"]  # no has_more
        # has_more: true, and every (sanitized) job has the same id
        self.jobs_page = _exchange("recordings/list_jobs_page1_head.json", "/fine_tuning/jobs")
        checkpoints = _exchange("recordings/list_checkpoints.json", "/checkpoints")
        self.checkpoints_page = {**checkpoints, "has_more": True}
        self.events_page = {**_load("spec-examples/get_finetuning_job_events.json")["body"], "has_more": True}
        self.job = {**_load("spec-examples/get_finetuning_job.json")["body"], "id": JOB_ID}
        self.created_job = {**_load("spec-examples/post_finetuning_job.json")["body"], "id": JOB_ID}
        self.seen: list[httpx.Request] = []
        self.uploaded: dict[str, Any] = {}
        self.content = b'{"messages": []}\n'

    def count(self, method: str, path: str) -> int:
        return sum(1 for r in self.seen if r.method == method and self._path(r) == path)

    @staticmethod
    def _path(request: httpx.Request) -> str:
        return request.url.path.removeprefix("/openai/v1")

    def _list(self, method: str, path: str, page: dict[str, Any]) -> httpx.Response:
        if self.count(method, path) > BACKSTOP:
            return httpx.Response(200, json={"object": "list", "data": [], "has_more": False})
        return httpx.Response(200, json=copy.deepcopy(page))

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        path, method = self._path(request), request.method
        if method == "GET" and path == "/files":
            return self._list(method, path, self.files_page)
        if method == "POST" and path == "/files":
            name = re.search(rb'filename="([^"]+)"', request.content)
            doc = {"id": "file-" + "b" * 32, "object": "file", "bytes": 100, "created_at": 1765377614,
                   "filename": name.group(1).decode() if name else "x.jsonl", "purpose": "fine-tune",
                   "status": "pending"}
            self.uploaded[doc["id"]] = doc
            return httpx.Response(200, json=doc)
        if method == "GET" and path.startswith("/files/") and path.endswith("/content"):
            return httpx.Response(200, content=self.content)  # what every listed file holds
        if method == "GET" and path.startswith("/files/"):
            doc = {**self.uploaded[path.rsplit("/", 1)[-1]], "status": "processed"}
            return httpx.Response(200, json=doc)
        if method == "GET" and path == "/fine_tuning/jobs":
            return self._list(method, path, self.jobs_page)
        if method == "POST" and path == "/fine_tuning/jobs":
            return httpx.Response(201, json=self.created_job)
        if method == "GET" and path == f"/fine_tuning/jobs/{JOB_ID}":
            return httpx.Response(200, json=self.job)
        if method == "GET" and path == f"/fine_tuning/jobs/{JOB_ID}/checkpoints":
            return self._list(method, path, self.checkpoints_page)
        if method == "GET" and path == f"/fine_tuning/jobs/{JOB_ID}/events":
            return self._list(method, path, self.events_page)
        error = {"code": "NotFound", "message": f"no route {method} {path}"}
        return httpx.Response(404, json={"error": error})


def _retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=2, total_timeout=5.0, initial_backoff=0.01, max_backoff=0.01)


@pytest.fixture
def azure() -> AzureLike:
    return AzureLike()


@pytest.fixture
def fake_ft(azure: AzureLike) -> Iterator[Foundry]:
    """A Foundry on the Azure-like fake (not the emulator's ``ft``)."""
    client = openai.OpenAI(base_url=BASE_URL, api_key="k",
                           http_client=httpx.Client(transport=httpx.MockTransport(azure.handler)))
    yield Foundry.from_openai_client(client, retry=_retry())


def _aft(azure: AzureLike) -> AsyncFoundry:
    client = openai.AsyncOpenAI(base_url=BASE_URL, api_key="k",
                                http_client=httpx.AsyncClient(transport=httpx.MockTransport(azure.handler)))
    return AsyncFoundry.from_openai_client(client, retry=_retry())


def _data() -> Dataset:
    return Dataset.from_records(demo_records(12, seed=5), name="paging.jsonl")


# --- the guard itself ---------------------------------------------------------------------------


def test_a_page_without_has_more_ends_where_the_endpoint_says_so() -> None:
    assert PageGuard("files", missing_has_more="end").next_after(["a", "b"], None) is None
    assert PageGuard("jobs", missing_has_more="more").next_after(["a", "b"], None) == "b"


def test_a_cursor_that_does_not_advance_ends_the_scan() -> None:
    same_page = PageGuard("x")
    assert same_page.next_after(["a", "b"], True) == "b"
    assert same_page.next_after(["a", "b"], True) is None
    assert same_page.complete and same_page.reason is not None
    reordered = PageGuard("x")
    assert reordered.next_after(["a", "b"], True) == "b"
    assert reordered.next_after(["b", "a"], True) is None
    cycle = PageGuard("x")
    assert [cycle.next_after(page, True) for page in (["a", "b"], ["c", "d"], ["e", "b"])] == ["b", "d", None]


def test_has_more_false_and_an_empty_page_end_the_scan() -> None:
    assert PageGuard("x").next_after(["a"], False) is None
    assert PageGuard("x").next_after([], True) is None


def test_the_page_cap_ends_a_scan_and_a_strict_one_raises() -> None:
    guard = PageGuard("x", max_pages=3)
    cursors = [guard.next_after([f"id-{n}"], True) for n in range(3)]
    assert cursors == ["id-0", "id-1", None]
    assert not guard.complete and guard.pages == 3
    strict = PageGuard("list checkpoints", max_pages=2, strict=True)
    strict.next_after(["a"], True)
    with pytest.raises(ScanIncompleteError, match="page cap") as info:
        strict.next_after(["b"], True)
    assert info.value.pages == 2
    assert DEFAULT_MAX_PAGES >= 100


def test_the_time_bound_ends_a_scan() -> None:
    now = [0.0]
    guard = PageGuard("x", max_seconds=10.0, clock=lambda: now[0])
    assert guard.next_after(["a"], True) == "a"
    now[0] = 10.5
    assert guard.next_after(["b"], True) is None
    assert not guard.complete
    assert "time bound" in (guard.reason or "")


def test_take_drops_items_of_a_repeated_page_but_keeps_repeats_within_one_page() -> None:
    guard = PageGuard("x")
    first, after = guard.take([{"id": "s"}, {"id": "s"}, {"id": "t"}], True)
    assert len(first) == 3 and after == "t"
    again, after = guard.take([{"id": "s"}, {"id": "t"}], True)
    assert again == [] and after is None


@pytest.mark.parametrize("kwargs", [{"max_pages": 0}, {"max_pages": True}, {"max_seconds": 0.0},
                                    {"missing_has_more": "maybe"}])
def test_bad_bounds_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(InvalidParameterError):
        PageGuard("x", **kwargs)


# --- files: Azure's GET /files has no has_more and the server ignores after ---------------------


def test_start_upload_lookup_ends_on_azures_files_page(fake_ft: Foundry, azure: AzureLike) -> None:
    assert "has_more" not in azure.files_page
    job = fake_ft.fine_tune("gpt-4.1-mini").train_on(_data()).training_type("Standard").start()
    assert job.id == JOB_ID
    assert azure.count("GET", "/files") == 2  # the lookup before the upload, the twin check after it
    assert azure.count("POST", "/files") == 1
    # Azure echoes no job metadata, so three job lookups: by fingerprint, by inputs, and the check for
    # a twin started elsewhere right after the create; each ends when the same page comes back.
    assert azure.count("GET", "/fine_tuning/jobs") <= 6


def test_find_uploaded_is_bounded_sync_and_async(fake_ft: Foundry, azure: AzureLike) -> None:
    assert find_uploaded(fake_ft, "0" * 64, None) is None
    assert azure.count("GET", "/files") == 1
    listed = azure.files_page["data"][0]
    digest = hashlib.sha256(azure.content).hexdigest()  # a reused file's content is read back
    azure.files_page["data"][0] = {**listed, "filename": f"train.sha256-{digest[:32]}.jsonl"}
    found = asyncio.run(afind_uploaded(_aft(azure), digest, None))
    assert found is not None and found.id == listed["id"]
    assert asyncio.run(afind_uploaded(_aft(azure), "0" * 64, None)) is None
    assert azure.count("GET", "/files") == 3


def test_async_start_upload_lookup_ends_on_azures_files_page(azure: AzureLike) -> None:
    async def go() -> str:
        aft = _aft(azure)
        job = await aft.fine_tune("gpt-4.1-mini").train_on(_data()).training_type("Standard").start()
        return job.id

    assert asyncio.run(go()) == JOB_ID
    assert azure.count("GET", "/files") == 2  # the lookup before the upload, the twin check after it
    assert azure.count("GET", "/fine_tuning/jobs") <= 6  # as in the sync test above


def _endless_files(azure: AzureLike) -> None:
    """A files list whose cursor always advances and that always says has_more."""
    counter = itertools.count()

    def page() -> dict[str, Any]:
        n = next(counter)
        return {"object": "list", "has_more": True,
                "data": [{**azure.files_page["data"][0], "id": f"file-{n:032d}"}]}

    original = azure._list

    def listing(method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        return original(method, path, page() if path == "/files" else body)

    azure._list = listing  # type: ignore[method-assign]


def test_the_page_cap_ends_a_file_scan_sync_and_async(fake_ft: Foundry, azure: AzureLike) -> None:
    _endless_files(azure)
    assert scan_uploaded(fake_ft, "0" * 64, None, guard=PageGuard("files", max_pages=4)) is None
    assert azure.count("GET", "/files") == 4
    guard = PageGuard("files", max_pages=3)
    assert asyncio.run(ascan_uploaded(_aft(azure), "0" * 64, None, guard=guard)) is None
    assert azure.count("GET", "/files") == 7


def test_the_time_bound_ends_a_file_scan(fake_ft: Foundry, azure: AzureLike) -> None:
    _endless_files(azure)
    ticks = itertools.count()
    guard = PageGuard("files", max_seconds=5.0, clock=lambda: float(next(ticks)))
    assert scan_uploaded(fake_ft, "0" * 64, None, guard=guard) is None
    assert azure.count("GET", "/files") < BACKSTOP
    assert not guard.complete


# --- jobs, checkpoints and events whose cursor never advances ------------------------------------


def test_jobs_listing_ends_when_the_cursor_does_not_advance(fake_ft: Foundry, azure: AzureLike) -> None:
    assert azure.jobs_page["has_more"] is True
    jobs = fake_ft.jobs.list(limit=50)
    assert len(jobs) == len(azure.jobs_page["data"])
    assert azure.count("GET", "/fine_tuning/jobs") == 2
    assert scan_jobs(fake_ft, {"k": "v"}) == []
    assert azure.count("GET", "/fine_tuning/jobs") == 4


def test_async_jobs_listing_ends_when_the_cursor_does_not_advance(azure: AzureLike) -> None:
    async def go() -> tuple[int, list[dict[str, Any]]]:
        aft = _aft(azure)
        return len(await aft.jobs.list(limit=50)), await ascan_jobs(aft, {"k": "v"})

    listed, found = asyncio.run(go())
    assert listed == len(azure.jobs_page["data"]) and found == []
    assert azure.count("GET", "/fine_tuning/jobs") == 4


def test_checkpoints_end_when_the_cursor_does_not_advance(fake_ft: Foundry, azure: AzureLike) -> None:
    path = f"/fine_tuning/jobs/{JOB_ID}/checkpoints"
    recorded = len(azure.checkpoints_page["data"])
    assert len(fake_ft.jobs.get(JOB_ID).checkpoints()) == recorded  # same ids in one page are all kept
    assert azure.count("GET", path) == 2

    async def go() -> int:
        job = await _aft(azure).jobs.get(JOB_ID)
        return len(await job.checkpoints())

    assert asyncio.run(go()) == recorded
    assert azure.count("GET", path) == 4


def test_a_cut_short_checkpoint_listing_raises_sync_and_async(
    fake_ft: Foundry, azure: AzureLike, monkeypatch: pytest.MonkeyPatch
) -> None:
    counter = itertools.count()
    template = azure.checkpoints_page["data"][0]
    original = azure._list

    def listing(method: str, path: str, body: dict[str, Any]) -> httpx.Response:
        if path.endswith("/checkpoints"):
            body = {"object": "list", "has_more": True, "data": [{**template, "id": f"ckpt-{next(counter)}"}]}
        return original(method, path, body)

    azure._list = listing  # type: ignore[method-assign]
    small = lambda job_id, clock=None: PageGuard(f"list checkpoints of {job_id}", max_pages=3, strict=True)  # noqa: E731
    monkeypatch.setattr(sync_listings, "checkpoints_guard", small)
    monkeypatch.setattr(async_listings, "checkpoints_guard", small)
    with pytest.raises(ScanIncompleteError):
        fake_ft.jobs.get(JOB_ID).checkpoints()

    async def go() -> None:
        job = await _aft(azure).jobs.get(JOB_ID)
        await job.checkpoints()

    with pytest.raises(ScanIncompleteError):
        asyncio.run(go())
    assert azure.count("GET", f"/fine_tuning/jobs/{JOB_ID}/checkpoints") == 6


def test_events_end_when_the_cursor_does_not_advance(fake_ft: Foundry, azure: AzureLike) -> None:
    path = f"/fine_tuning/jobs/{JOB_ID}/events"
    recorded = [e["id"] for e in azure.events_page["data"]]
    events = fake_ft.jobs.get(JOB_ID).events()
    assert sorted(e.id for e in events) == sorted(recorded)  # each once, not once per repeated page
    assert azure.count("GET", path) == 2

    async def go() -> list[JobEvent]:
        job = await _aft(azure).jobs.get(JOB_ID)
        return await job.events()

    assert sorted(e.id for e in asyncio.run(go())) == sorted(recorded)
    assert azure.count("GET", path) == 4


def test_an_event_poll_is_bounded_by_the_page_cap() -> None:
    calls = itertools.count()

    def endless(after: str | None, limit: int) -> tuple[list[JobEvent], bool]:
        n = next(calls)
        assert n < BACKSTOP, "the poll did not stop"
        return [JobEvent(f"ev-{n}", n, "info", f"Step {n}: training loss=0.5", "message", None)], True

    tail = EventTail()
    new: list[JobEvent] = []
    guard = PageGuard("poll job events", max_pages=5)
    after: str | None = None
    for _ in range(BACKSTOP):
        events, has_more = endless(after, 1)
        after = tail.absorb(events, has_more, new, guard)
        if after is None:
            break
    assert len(new) == 5 and tail.requests == 5


def test_an_event_poll_ends_at_the_default_page_cap() -> None:
    calls = itertools.count()

    def endless(after: str | None, limit: int) -> tuple[list[JobEvent], bool]:
        n = next(calls)
        assert n <= DEFAULT_MAX_PAGES, "the poll did not stop"
        return [JobEvent(f"ev-{n}", n, "info", "Job running.", "message", None)], True

    tail = EventTail(page_size=1)
    assert len(sync_listings.poll_events(tail, endless)) == DEFAULT_MAX_PAGES
    assert tail.requests == DEFAULT_MAX_PAGES
