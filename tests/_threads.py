"""The threads a test may look for (kept out of the async test sources, which may not import
`threading`: tests/test_unasync.py)."""

from __future__ import annotations

import threading


def thread_ids() -> set[int | None]:
    """The ids of the threads alive now."""
    return {t.ident for t in threading.enumerate()}


def new_pool_workers(before: set[int | None]) -> list[threading.Thread]:
    """The thread-pool workers alive now that were not in ``before``."""
    return [t for t in threading.enumerate()
            if t.ident not in before and t.name.startswith("ThreadPoolExecutor")]
