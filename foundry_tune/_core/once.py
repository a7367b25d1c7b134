"""The create-at-most-once decision, without I/O.

A create that could bill (a job, a deployment, an upload) is attempted under the retry policy. The
first attempt creates. When an attempt fails in a way that leaves the outcome unknown (timeout,
dropped connection, 5xx, 429), the policy tries again, and every later attempt first looks the
object up and creates only when nothing is found: a create is never repeated after it took effect.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

__all__ = ["CreateOnce", "Step"]

Step = Literal["create", "lookup"]


@dataclasses.dataclass
class CreateOnce:
    """Decides, attempt by attempt, whether to create or to look up first."""

    attempts: int = 0

    def next_step(self) -> Step:
        """Begin an attempt: ``"create"`` for the first one, ``"lookup"`` for every later one."""
        self.attempts += 1
        return "create" if self.attempts == 1 else "lookup"

    @staticmethod
    def after_lookup(found: bool) -> Literal["return", "create"]:
        """After a lookup: return what was found, or create (nothing took effect yet)."""
        return "return" if found else "create"
