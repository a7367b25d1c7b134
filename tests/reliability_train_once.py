"""A user's training script, for the client-restart tests: start a job, wait for it, print the id.

    python tests/reliability_train_once.py DATA.jsonl   (settings from the environment, below)

Run it, kill it with SIGKILL at any point, run it again: the second run must find the first run's
file and job (by content hash and fingerprint) and finish that job instead of paying again.

Environment: ``RESTART_PROJECT_ENDPOINT``, ``RESTART_ARM_ENDPOINT``, ``RESTART_SUBSCRIPTION``,
``RESTART_RESOURCE_GROUP``, ``RESTART_ACCOUNT`` (where the emulator is), and the test-only hook
``RESTART_KILL_BEFORE_CREATE=1``: once the data is uploaded and processed, the script SIGKILLs itself
at the moment it would send the job create. The hook lives here, in the test script: the library
has no such switch.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

from foundry_tune._sync._credentials import StaticTokenCredential
from foundry_tune.client import Foundry, RetryPolicy


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main(path: str) -> int:
    env = os.environ
    ft = Foundry(
        env["RESTART_PROJECT_ENDPOINT"],
        StaticTokenCredential("restart-test-token"),
        subscription_id=env["RESTART_SUBSCRIPTION"],
        resource_group=env["RESTART_RESOURCE_GROUP"],
        account_name=env["RESTART_ACCOUNT"],
        arm_endpoint=env["RESTART_ARM_ENDPOINT"],
        retry=RetryPolicy(initial_backoff=0.2, max_backoff=1.0, total_timeout=60.0),
    )
    if env.get("RESTART_KILL_BEFORE_CREATE") == "1":
        jobs = ft.openai.fine_tuning.jobs

        def die_instead(**kwargs: Any) -> Any:
            say("KILL before create")
            os.kill(os.getpid(), signal.SIGKILL)

        jobs.create = die_instead  # type: ignore[method-assign]
    builder = ft.fine_tune("gpt-4.1-mini").train_on(path).suffix("restart").training_type("GlobalStandard")
    job = builder.start(on_progress=lambda line: say(f"PROGRESS {line}"))
    say(f"JOB {job.id} reused={job.reused}")
    job.wait(timeout=120, progress=False)
    say(f"DONE {job.id} {job.status.value} reused={job.reused}")
    ft.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
