"""``Emulator``: start the emulator in a subprocess from Python, read where it listens, stop it."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import math
import os
import queue
import shutil
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal

from foundry_tune.emulator._options import PARENT_PID_ENV
from foundry_tune.emulator._store import private_dir, private_file
from foundry_tune.errors import InvalidParameterError

__all__ = ["Emulator", "EmulatorInfo"]

_CONTROL_TIMEOUT = 60.0
"""Seconds a control call may take (an advance runs every job's catch-up before it answers)."""


@dataclasses.dataclass(frozen=True)
class EmulatorInfo:
    """Where a running emulator listens and the ARM coordinates it answers to."""

    project_endpoint: str
    openai_base_url: str
    arm_endpoint: str
    subscription_id: str
    resource_group: str
    account_name: str
    token: str | None = dataclasses.field(default=None, repr=False)
    ca_cert: str | None = None
    stats_url: str = ""
    data_dir: str = ""

    def __repr__(self) -> str:
        return f"EmulatorInfo(project_endpoint={self.project_endpoint!r}, data_dir={self.data_dir!r})"


class Emulator:
    """The local Foundry emulator in a background process; a context manager.

    ``with Emulator(job_duration=3) as emu:`` starts it on a free port and stops it on exit;
    ``emu.info`` says where it listens. ``flavor="azure"`` (the default) answers as the recorded
    Azure service, ``flavor="openai"`` as the OpenAI spec describes; ``drop_metadata=True`` accepts
    a job's ``metadata`` but never sends it back. ``kill()`` sends SIGKILL (for restart tests): start a new
    ``Emulator`` on the same ``data_dir`` to continue where it stopped. ``advance(hours=...)`` moves
    its clock forward (a Developer-tier deployment expires, a long job finishes, in seconds) and
    ``switches(...)`` turns on pre-emption, hanging jobs and long reinforcement jobs.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        data_dir: str | Path | None = None,
        job_duration: float = 20.0,
        fault_rate: float = 0.0,
        fault_seed: int = 0,
        token: str | None = None,
        tls: bool = False,
        deployment_ready_delay: float = 2.0,
        *,
        deployment_provision_delay: float = 1.0,
        slow_seconds: float = 1.5,
        flavor: Literal["azure", "openai"] = "azure",
        drop_metadata: bool = False,
        startup_timeout: float = 30.0,
    ) -> None:
        if flavor not in ("azure", "openai"):
            raise InvalidParameterError(f"flavor must be 'azure' or 'openai', not {flavor!r}")
        self._options = {
            "--host": host,
            "--port": port,
            "--job-duration": job_duration,
            "--fault-rate": fault_rate,
            "--fault-seed": fault_seed,
            "--deployment-ready-delay": deployment_ready_delay,
            "--deployment-provision-delay": deployment_provision_delay,
            "--slow-seconds": slow_seconds,
            "--flavor": flavor,
        }
        self._drop_metadata = drop_metadata
        self._token = token
        self._tls = tls
        self._given_dir = Path(data_dir) if data_dir is not None else None
        self._temp_dir: Path | None = None
        self._startup_timeout = startup_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._info: EmulatorInfo | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"Emulator({state}, data_dir={str(self.data_dir)!r})"

    @property
    def data_dir(self) -> Path | None:
        """The folder holding the emulator's state."""
        return self._given_dir or self._temp_dir

    @property
    def running(self) -> bool:
        """Whether the emulator process is alive."""
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The server process id while it runs (for memory measurements)."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def info(self) -> EmulatorInfo:
        """Where the running emulator listens (``start()`` first)."""
        if self._info is None:
            raise RuntimeError("the emulator is not started; call start() or use it as a context manager")
        return self._info

    def _command(self, data_dir: Path) -> list[str]:
        cmd = [sys.executable, "-m", "foundry_tune.emulator", "--data-dir", str(data_dir)]
        for flag, value in self._options.items():
            cmd += [flag, str(value)]
        if self._tls:
            cmd.append("--tls")
        if self._drop_metadata:
            cmd.append("--drop-metadata")
        return cmd

    def _environment(self) -> dict[str, str]:
        # The token travels in the environment, never on the command line that `ps` shows.
        env = {k: v for k, v in os.environ.items() if k != "FOUNDRY_TUNE_EMULATOR_TOKEN"}
        env["PYTHONUNBUFFERED"] = "1"
        env[PARENT_PID_ENV] = str(os.getpid())
        if self._token is not None:
            env["FOUNDRY_TUNE_EMULATOR_TOKEN"] = self._token
        return env

    def start(self) -> EmulatorInfo:
        """Start the process and wait until it listens."""
        if self.running:
            return self.info
        for package in ("starlette", "uvicorn"):
            if importlib.util.find_spec(package) is None:
                raise ImportError(
                    f"the emulator needs {package!r}: pip install 'foundry-tune[emulator]'", name=package
                )
        if self._given_dir is None and self._temp_dir is None:
            self._temp_dir = Path(tempfile.mkdtemp(prefix="foundry-tune-emulator-"))
        data_dir = self.data_dir
        assert data_dir is not None
        private_dir(data_dir)
        self._log = private_file(data_dir / "emulator.log").open("ab")
        self._process = subprocess.Popen(
            self._command(data_dir),
            stdout=subprocess.PIPE,
            stderr=self._log,
            stdin=subprocess.DEVNULL,
            env=self._environment(),
        )
        line = self._read_line(self._process)
        fields = {f.name for f in dataclasses.fields(EmulatorInfo)}
        self._info = EmulatorInfo(
            **{k: v for k, v in json.loads(line).items() if k in fields}, token=self._token
        )
        return self._info

    def _read_line(self, process: subprocess.Popen[bytes]) -> str:
        assert process.stdout is not None
        lines: queue.Queue[bytes] = queue.Queue()
        stdout = process.stdout
        threading.Thread(target=lambda: lines.put(stdout.readline()), daemon=True).start()
        try:
            raw = lines.get(timeout=self._startup_timeout)
        except queue.Empty:
            raw = b""
        if not raw.strip():
            self.kill()
            log_path = (self.data_dir or Path()) / "emulator.log"
            tail = log_path.read_text(errors="replace")[-2000:] if log_path.exists() else ""
            raise RuntimeError(f"the emulator did not start (log {log_path}):\n{tail}")
        return raw.decode()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the process gracefully (SIGTERM, then SIGKILL); remove a temporary data folder."""
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._cleanup()
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    def kill(self) -> None:
        """SIGKILL the process, as a crash would; the data folder stays for a restart."""
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._process is not None and self._process.stdout is not None:
            self._process.stdout.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._process = None

    def stats(self) -> dict[str, Any]:
        """The emulator's ``/_emulator/stats`` counters."""
        context = ssl.create_default_context(cafile=self.info.ca_cert) if self.info.ca_cert else None
        with urllib.request.urlopen(self.info.stats_url, timeout=10, context=context) as answer:  # noqa: S310
            data: dict[str, Any] = json.loads(answer.read())
        return data

    def now(self) -> float:
        """The emulator's clock, in epoch seconds: wall time plus every
        [`advance()`][foundry_tune.emulator.Emulator.advance] so far."""
        return float(self._control("GET", "/_emulator/clock")["now"])

    def advance(self, hours: float = 0, minutes: float = 0, seconds: float = 0, *, days: float = 0) -> float:
        """Move the emulator's clock forward and let every job, deployment and file catch up at
        once; the new time (epoch seconds). The clock never goes back, and an emulator restarted
        on the same ``data_dir`` keeps it.

        ```python
        with Emulator() as emu:
            ...                        # deploy on the Developer tier
            emu.advance(hours=25)      # the service has deleted it now
        ```

        :param hours: hours to add (also ``minutes``, ``seconds`` and ``days``; they add up).
        :raises InvalidParameterError: an amount is negative or not a finite number.
        """
        amounts = {"days": days, "hours": hours, "minutes": minutes, "seconds": seconds}
        for name, value in amounts.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise InvalidParameterError(f"advance({name}=...) must be a finite number, not {value!r}")
            if value < 0:
                raise InvalidParameterError(f"advance({name}={value!r}): the clock only moves forward")
        body = {name: value for name, value in amounts.items() if value}
        return float(self._control("POST", "/_emulator/clock", body or {"seconds": 0})["now"])

    def switches(self, **values: Any) -> dict[str, Any]:
        """Turn emulator behaviours on or off (``None`` turns one off) and return them all; with
        no argument, just return them. They last until the emulator stops.

        ```python
        emu.switches(preempt=True)     # Developer-tier jobs get pre-empted, then resume
        emu.switches(hang=True)        # running jobs stop progressing, with no events
        emu.switches(rft_hours=80)     # reinforcement jobs train 80 clock hours
        emu.switches(hang=None, preempt=None, rft_hours=None)
        ```

        See "Travelling in time" in the emulator guide for every switch.

        :raises InvalidParameterError: the emulator refused a value.
        """
        if not values:
            return self._control("GET", "/_emulator/switches")
        return self._control("POST", "/_emulator/switches", values)

    def _control(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call one of the emulator's control routes with its token."""
        info = self.info
        request = urllib.request.Request(  # noqa: S310 (the emulator's own http(s) URL)
            info.arm_endpoint.rstrip("/") + path,
            data=None if body is None else json.dumps(body).encode(),
            method=method,
            # Any non-empty token is accepted by an emulator started without one.
            headers={"api-key": self._token or "emulator", "Content-Type": "application/json"},
        )
        context = ssl.create_default_context(cafile=info.ca_cert) if info.ca_cert else None
        try:
            with urllib.request.urlopen(request, timeout=_CONTROL_TIMEOUT, context=context) as answer:  # noqa: S310
                data: dict[str, Any] = json.loads(answer.read())
        except urllib.error.HTTPError as exc:
            try:
                message = json.loads(exc.read())["error"]["message"]
            except (ValueError, KeyError, TypeError):
                message = f"HTTP {exc.code}"
            if exc.code == 400:
                raise InvalidParameterError(f"the emulator refused {method} {path}: {message}") from None
            raise RuntimeError(f"the emulator answered {method} {path} with {exc.code}: {message}") from None
        return data

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
