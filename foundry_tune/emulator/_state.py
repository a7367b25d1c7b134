"""The emulator's configuration and the per-process context every route handler shares."""

from __future__ import annotations

import dataclasses
import secrets
import time
from pathlib import Path
from typing import Any

from foundry_tune.emulator._clock import Clock
from foundry_tune.emulator._store import Store


@dataclasses.dataclass(frozen=True)
class Config:
    """Everything ``foundry-tune emulator`` can be told on its command line."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0
    job_duration: float = 20.0
    fault_rate: float = 0.0
    fault_seed: int = 0
    token: str | None = None
    tls: bool = False
    deployment_ready_delay: float = 2.0
    deployment_provision_delay: float = 1.0
    slow_seconds: float = 1.5
    flavor: str = "azure"
    """``"azure"`` answers as the recorded Azure service; ``"openai"`` as the OpenAI spec describes."""
    drop_metadata: bool = False
    """Accept a job's ``metadata`` but leave it out of every answer (no Azure recording shows it back)."""
    project: str = "default"
    subscription_id: str = "00000000-0000-0000-0000-000000000000"
    resource_group: str = "foundry-tune-emulator"
    account_name: str = "emulator"
    max_queued_jobs: int = 20
    max_jobs: int = 100
    max_finetuned_deployments: int = 5


@dataclasses.dataclass
class Counters:
    """What ``/_emulator/stats`` reports about traffic since start."""

    requests: int = 0
    faults: int = 0
    by_fault: dict[str, int] = dataclasses.field(default_factory=dict)
    by_status: dict[str, int] = dataclasses.field(default_factory=dict)


class Context:
    """The store, the configuration, the counters, the clock and the switches of one running
    emulator."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.counters = Counters()
        self.clock = Clock(self.store)
        self.switches: dict[str, Any] = {}
        """Behaviours a test turns on with ``POST /_emulator/switches`` (see `._control`); every
        emulator part reads its own keys. They last until the process stops."""
        self.switched_at: dict[str, float] = {}
        """The clock time each switch last changed value (a pre-emption or a hang starts then)."""
        self.started_at = time.time()

    def now(self) -> float:
        """The emulator's clock (wall time plus the offset ``POST /_emulator/clock`` adds); every
        simulated transition is derived from stored timestamps on this clock."""
        return self.clock.now()

    def uptime(self) -> float:
        """Wall-clock seconds since the process started (moving the clock does not change it)."""
        return time.time() - self.started_at

    def set_switches(self, values: dict[str, Any]) -> dict[str, Any]:
        """Merge ``values`` into ``switches`` (``None`` removes a key); the switches now."""
        now = self.now()
        for key, value in values.items():
            old = self.switches.get(key)
            if value is None:
                self.switches.pop(key, None)
            else:
                self.switches[key] = value
            if old != value:
                self.switched_at[key] = now
        return dict(self.switches)


def new_id(prefix: str) -> str:
    """A fresh identifier in Azure's style: the prefix and 32 hex digits (``ftjob-`` + 32 = 38
    characters, as the recorded ``ftjob-46fe1c4edca240248803a9e7ccbbb105``)."""
    return f"{prefix}{secrets.token_hex(16)}"
