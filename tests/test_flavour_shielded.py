"""``shielded`` of the blocking flavour: clean-up after Ctrl-C runs to its end even when Ctrl-C
comes again meanwhile (it runs in a worker thread, which Ctrl-C does not reach), and the
interruption is raised once it is done. The async twin is exercised by the checkpoint tournament's
cancel-scope tests (tests/_async/test_checkpoint_tournament.py)."""

from __future__ import annotations

import contextvars
import signal
import threading
import time

import pytest

from foundry_tune._sync import _flavour as sync_flavour

_seen: contextvars.ContextVar[str] = contextvars.ContextVar("_seen", default="unset")


def test_the_work_finishes_through_ctrl_c_and_ctrl_c_is_raised_after() -> None:
    if threading.current_thread() is not threading.main_thread() or \
            signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        pytest.skip("needs Python's own Ctrl-C handler in the main thread")
    main = threading.main_thread().ident
    assert main is not None
    finished: list[str] = []

    def cleanup() -> str:
        for step in ("first", "second"):
            signal.pthread_kill(main, signal.SIGINT)  # Ctrl-C, twice, while the clean-up runs
            time.sleep(0.1)
            finished.append(step)
        return "deleted"

    with pytest.raises(KeyboardInterrupt):
        sync_flavour.shielded(cleanup)
    assert finished == ["first", "second"]


def test_the_value_the_error_and_the_callers_context() -> None:
    token = _seen.set("caller")
    try:
        assert sync_flavour.shielded(lambda: (_seen.get(), threading.current_thread().name)) == \
            ("caller", "foundry-tune-cleanup")
    finally:
        _seen.reset(token)

    def fails() -> None:
        raise ValueError("could not")

    with pytest.raises(ValueError, match="could not"):
        sync_flavour.shielded(fails)
