"""Parent-side machinery: the sandbox server process, measured child processes, reports.

A scenario starts a :class:`SandboxProcess` (``python -m airflow_provider_inventory.sandbox``),
runs its measured work with :func:`run_child` in a fresh interpreter that talks to the sandbox
over loopback, and returns a :class:`ScenarioResult` that ``benchmarks.run`` prints as Markdown.
"""

from __future__ import annotations

import json
import os
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

from benchmarks.child import RESULT_MARKER
from benchmarks.measure import RecordSet

REPO_ROOT = Path(__file__).resolve().parent.parent
SANDBOX_START_TIMEOUT = 120.0
PACK_CONN_VAR = "AIRFLOW_CONN_PACK_DEFAULT"
COMMERCELAYER_CONN_VAR = "AIRFLOW_CONN_COMMERCELAYER_DEFAULT"
#: Client-side limits far above anything the sandbox is set to: for scenarios where latency, not
#: the rate limit, is what is measured.
GENEROUS_LIMITS: dict[str, Any] = {"rate_limit_average": 100_000, "rate_limit_burst": 100_000}

# Retries stay on (they are part of the code being measured) but must not stretch a benchmark
# with production-length backoffs if the sandbox ever hiccups.
FAST_RETRY_EXTRA: dict[str, Any] = {"backoff_factor": 0.05, "backoff_max": 1, "read_timeout": 30}


# One line of the server's access log: "GET /api/packages?... HTTP/1.1" 429 -
_ACCESS_LOG = re.compile(r'"[A-Z]+ (?P<path>\S+) HTTP/[0-9.]+" (?P<status>[0-9]{3}) ')


class BenchmarkError(RuntimeError):
    """A benchmark could not run or produced a wrong result (the run exits non-zero)."""


# ---------------------------------------------------------------------- run-wide settings


@dataclass(frozen=True)
class RunOptions:
    """What every scenario needs to know about this run.

    Attributes:
        smoke: small sizes, correctness checks only, no targets judged.
        workdir: a scratch directory for output files and the throwaway ``AIRFLOW_HOME``.
        long: the long variants where a scenario has one (e.g. a 5-minute run).
        no_store_only: skip the variants that need a shared store (Redis).
    """

    smoke: bool
    workdir: Path
    long: bool = False
    no_store_only: bool = False

    def child_env(self, connections: Mapping[str, str]) -> dict[str, str]:
        """The environment of a measured child: quiet Airflow, no DB, the given connections."""
        env = dict(os.environ)
        # Deployed Airflow has compiled bytecode; this environment may forbid writing it
        # (PYTHONDONTWRITEBYTECODE), which would make every import compile from source. Cache it
        # under the scratch directory instead, so the project and the virtualenv stay untouched.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env.update(
            {
                "AIRFLOW_HOME": str(self.workdir / "airflow-home"),
                "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "PYTHONPATH": os.pathsep.join(
                    [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
                ),
                "PYTHONUNBUFFERED": "1",
                "PYTHONPYCACHEPREFIX": str(self.workdir / "pycache"),
            }
        )
        env.update(connections)
        return env

    def command(self, scenario: str) -> str:
        """The command that reproduces one scenario's table in this mode."""
        flags = [
            flag
            for flag, on in (
                ("--smoke", self.smoke),
                ("--long", self.long),
                ("--no-store-only", self.no_store_only),
            )
            if on
        ]
        return " ".join(["python -m benchmarks.run", *flags, "--only", scenario])

    def output_file(self, name: str) -> Path:
        """A fresh path in the scratch directory (any older file of that name removed)."""
        path = self.workdir / name
        path.unlink(missing_ok=True)
        return path


# ---------------------------------------------------------------------- the sandbox


class SandboxProcess:
    """The sandbox HTTP server in a process of its own, for the duration of a ``with`` block.

    Args:
        serial_numbers, products, packages, stock_locations, seed: the generated data.
        latency, latency_jitter: seconds added to every response.
        rate_limit: ``(average_per_minute, burst_per_10s)`` for Commerce Layer reads, or ``None``.
        log_requests: have the server log every request, for :meth:`statuses`.
        shipments: Commerce Layer shipments (uncacheable; exportable).
        export_speed: records per second an export processes.

    Attributes (inside the block):
        url: the server's base URL.
        connections: the ``AIRFLOW_CONN_*`` variables it printed, by name.
    """

    def __init__(
        self,
        *,
        serial_numbers: int = 0,
        products: int = 5,
        packages: int = 0,
        stock_locations: int = 5,
        seed: int = 0,
        latency: float = 0.0,
        latency_jitter: float = 0.0,
        rate_limit: tuple[int, int] | None = None,
        log_requests: bool = False,
        shipments: int = 0,
        export_speed: float = 20_000.0,
    ) -> None:
        self.args = [
            "--port",
            "0",
            "--seed",
            str(seed),
            "--serial-numbers",
            str(serial_numbers),
            "--products",
            str(products),
            "--packages",
            str(packages),
            "--stock-locations",
            str(stock_locations),
            "--latency",
            str(latency),
            "--latency-jitter",
            str(latency_jitter),
            "--shipments",
            str(shipments),
            "--export-speed",
            str(export_speed),
        ]
        if rate_limit is not None:
            self.args += ["--rate-limit", f"{rate_limit[0]}/{rate_limit[1]}"]
        if log_requests:
            self.args.append("--verbose")
        self.url = ""
        self.connections: dict[str, str] = {}
        self.output: list[str] = []
        self._process: subprocess.Popen[str] | None = None
        self._drain: threading.Thread | None = None

    def __enter__(self) -> SandboxProcess:
        command = [sys.executable, "-m", "airflow_provider_inventory.sandbox", *self.args]
        self._process = subprocess.Popen(
            command,
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            self._read_exports(self._process)
        except BaseException:
            self._stop()
            raise
        # Keep reading whatever it prints so a full pipe can never block the server.
        self._drain = threading.Thread(target=self._collect, args=(self._process.stdout,))
        self._drain.daemon = True
        self._drain.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop()

    def _read_exports(self, process: subprocess.Popen[str]) -> None:
        """Read the ``export NAME=VALUE`` lines the sandbox prints once it listens."""
        assert process.stdout is not None
        timer = threading.Timer(SANDBOX_START_TIMEOUT, process.kill)
        timer.start()
        try:
            for line in process.stdout:
                self.output.append(line.rstrip("\n"))
                if line.startswith("export "):
                    name, _, value = shlex.split(line[len("export ") :])[0].partition("=")
                    self.connections[name] = value
                    if name == "SANDBOX_URL" or name.endswith("_URL"):
                        self.url = value
                if PACK_CONN_VAR in self.connections and COMMERCELAYER_CONN_VAR in self.connections:
                    break
        finally:
            timer.cancel()
        if PACK_CONN_VAR not in self.connections or COMMERCELAYER_CONN_VAR not in self.connections:
            tail = "\n".join(self.output[-20:])
            raise BenchmarkError(f"The sandbox did not start; it printed:\n{tail}")
        if not self.url:
            self.url = str(json.loads(self.connections[PACK_CONN_VAR])["host"])

    def _collect(self, stream: IO[str] | None) -> None:
        if stream is None:
            return
        for line in stream:
            self.output.append(line.rstrip("\n"))

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if self._drain is not None:
            self._drain.join(timeout=5)

    def statuses(self, path_prefix: str) -> Counter[int]:
        """How often the server answered each status to paths starting with ``path_prefix``.

        Counts the server's own access log, so it needs ``log_requests=True``.
        """
        counts: Counter[int] = Counter()
        for line in list(self.output):
            match = _ACCESS_LOG.search(line)
            if match and match.group("path").startswith(path_prefix):
                counts[int(match.group("status"))] += 1
        return counts

    def connection_env(
        self,
        *,
        pack_extra: Mapping[str, Any] | None = None,
        commercelayer_extra: Mapping[str, Any] | None = None,
    ) -> dict[str, str]:
        """Both ``AIRFLOW_CONN_*`` variables, with fast retries and the given extras merged in."""
        return {
            PACK_CONN_VAR: _with_extra(self.connections[PACK_CONN_VAR], pack_extra),
            COMMERCELAYER_CONN_VAR: _with_extra(
                self.connections[COMMERCELAYER_CONN_VAR], commercelayer_extra
            ),
        }


def _with_extra(connection_json: str, extra: Mapping[str, Any] | None) -> str:
    connection = json.loads(connection_json)
    connection["extra"] = {**connection.get("extra", {}), **FAST_RETRY_EXTRA, **(extra or {})}
    return json.dumps(connection)


# ---------------------------------------------------------------------- child processes


def run_child(
    job: str, params: Mapping[str, Any], env: Mapping[str, str], *, timeout: float = 900
) -> dict[str, Any]:
    """Run ``python -m benchmarks.child JOB PARAMS`` and return the result it reports.

    Args:
        job: a job name known to ``benchmarks.child``.
        params: the job's JSON-able parameters.
        env: the child's complete environment (see :meth:`RunOptions.child_env`).
        timeout: seconds before the child is killed.

    Returns:
        The JSON object the child printed after :data:`RESULT_MARKER`.

    Raises:
        BenchmarkError: the child failed, timed out, or printed no result.
    """
    command = [sys.executable, "-m", "benchmarks.child", job, json.dumps(dict(params))]
    try:
        finished = subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=dict(env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise BenchmarkError(
            f"benchmark job {job!r} did not finish within {timeout:.0f} s"
        ) from None
    for line in reversed(finished.stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            result: dict[str, Any] = json.loads(line[len(RESULT_MARKER) :])
            return result
    tail = "\n".join((finished.stderr or finished.stdout).splitlines()[-25:])
    raise BenchmarkError(
        f"benchmark job {job!r} exited with code {finished.returncode} and no result:\n{tail}"
    )


# ---------------------------------------------------------------------- reports


@dataclass(frozen=True)
class Target:
    """A target from the issue and whether this run met it (``None``: not judged, smoke mode)."""

    name: str
    met: bool | None
    detail: str

    @property
    def verdict(self) -> str:
        """``met``, ``NOT MET`` or ``not judged``."""
        if self.met is None:
            return "not judged"
        return "met" if self.met else "NOT MET"


@dataclass
class ScenarioResult:
    """What one scenario found: tables for the README, targets, and correctness problems."""

    name: str
    title: str
    command: str
    headers: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def target(self, name: str, met: bool, detail: str, *, judged: bool) -> None:
        """Record a target; in smoke mode (``judged=False``) it is reported but not judged."""
        self.targets.append(Target(name, met if judged else None, detail))

    def check(self, problem: str | None) -> None:
        """Record a correctness problem (``None`` means the check passed)."""
        if problem:
            self.problems.append(problem)

    def markdown(self) -> str:
        """The scenario as a Markdown section: command, table, targets, notes, problems."""
        lines = [f"### {self.title}", "", f"Command: `{self.command}`", ""]
        if self.headers:
            lines += [markdown_table(self.headers, self.rows), ""]
        for target in self.targets:
            lines.append(f"- Target {target.name}: **{target.verdict}** ({target.detail})")
        lines += [f"- {note}" for note in self.notes]
        lines += [f"- **Correctness problem:** {problem}" for problem in self.problems]
        return "\n".join(lines).rstrip() + "\n"


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured Markdown table."""
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(out)


def ratio(value: float, reference: float) -> str:
    """``value / reference`` as ``"0.42x"`` (``"n/a"`` when the reference is zero)."""
    return f"{value / reference:.2f}x" if reference else "n/a"


# ---------------------------------------------------------------------- the machine


def machine_description() -> str:
    """CPU model, cores, memory, OS, Python and package versions, as a Markdown list."""
    lines = [
        f"- CPU: {_cpu_model()}, {os.cpu_count()} logical cores",
        f"- Memory: {_memory_gib():.0f} GiB",
        f"- OS: {platform.system()} {platform.release()}",
        f"- Python: {platform.python_version()} ({platform.python_implementation()})",
    ]
    for package in (
        "apache-airflow",
        "apache-airflow-task-sdk",
        "apache-airflow-providers-http",
        "requests",
        "urllib3",
    ):
        lines.append(f"- {package}: {_version(package)}")
    return "\n".join(lines)


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return 0.0


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


@contextmanager
def scratch_directory() -> Iterator[Path]:
    """A temporary directory for one benchmark run, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="inventory-bench-") as path:
        yield Path(path)


# ---------------------------------------------------------------------- expected data


def expected_serial_numbers(count: int, seed: int = 0) -> RecordSet:
    """The fingerprint of the serial numbers a sandbox with this seed and size serves."""
    from airflow_provider_inventory.sandbox import Sandbox

    sandbox = Sandbox(seed, serial_numbers=count, packages=0)  # data only, never started
    return RecordSet.of_ids(record["id"] for record in sandbox.serial_numbers())


def expected_packages(count: int, stock_locations: int = 5, seed: int = 0) -> RecordSet:
    """The fingerprint of the Commerce Layer packages a sandbox with this seed and size serves."""
    return RecordSet.of_ids(expected_package_ids(count, stock_locations, seed))


def expected_package_ids(count: int, stock_locations: int = 5, seed: int = 0) -> list[str]:
    """The ids of the packages a sandbox with this seed and size serves, in id order."""
    return sorted(record["id"] for record in sandbox_packages(count, stock_locations, seed))


def sandbox_packages(count: int, stock_locations: int = 5, seed: int = 0) -> list[dict[str, Any]]:
    """The flat package records a sandbox with this seed and size serves."""
    from airflow_provider_inventory.sandbox import Sandbox

    sandbox = Sandbox(seed, serial_numbers=0, packages=count, stock_locations=stock_locations)
    return sandbox.packages()
