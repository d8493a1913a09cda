"""A fleet of hosts on one Redis budget: OS processes, each with a host cache directory of its
own (as on a host of its own), listing partitions of one resource against sandbox limits.

Windows are scaled down (40 per 4 s, 15 per 1 s: Commerce Layer's shape at 10 requests/s) so
each run takes seconds. The processes are ``tests.http.host_worker`` (see test_host_sharing).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_inventory._http.hoststate import ENV_CACHE_DIR
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.sandbox.redis_server import RedisServer
from tests.conftest import set_connections
from tests.http.test_host_sharing import (
    AVERAGE,
    BURST,
    BURST_INTERVAL,
    CLIENT_LIMITS,
    INTERVAL,
    REPO_ROOT,
    START_TIMEOUT,
    _partitions,
)

PAGE_SIZE = 5
REDIS_CONN_ID = "redis_fleet"
PACKAGES_PATH = "/api/packages"


@dataclass
class FleetRun:
    """What the processes listed, and every request the server answered meanwhile."""

    results: list[dict[str, Any]]
    requests: list[tuple[float, str, int]]  # (arrival, path, status)
    tokens: int
    returncodes: list[int]
    logs: list[str]

    def warnings(self) -> str:
        """The workers' WARNING lines, for assertion messages."""
        return "\n".join(
            line
            for log in self.logs
            for line in log.splitlines()
            if "WARN" in line or "access token" in line or "Traceback" in line
        )

    def ids(self) -> list[str]:
        return sorted(i for result in self.results for i in result["ids"])

    def arrivals(self, status: int | None = None) -> list[float]:
        return sorted(
            at
            for at, path, code in self.requests
            if path == PACKAGES_PATH and (status is None or code == status)
        )


def _fleet_env(
    sb: Sandbox,
    redis: RedisServer,
    monkeypatch: pytest.MonkeyPatch,
    extra: dict[str, Any] | None = None,
) -> dict[str, str]:
    set_connections(
        sb,
        monkeypatch,
        commercelayer_extra={
            **CLIENT_LIMITS,
            "rate_limit_redis_conn_id": REDIS_CONN_ID,
            # Generous for a loaded CI machine: a reply slower than this counts as an outage.
            "rate_limit_redis_timeout": 3,
            **(extra or {}),
        },
    )
    env = dict(os.environ)
    env[f"AIRFLOW_CONN_{REDIS_CONN_ID.upper()}"] = json.dumps(redis.connection())
    env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = str(
        Path(os.environ.get("TMPDIR", "/tmp")) / "inventory-tests-pycache"
    )
    return env


def _run_fleet(
    sb: Sandbox,
    env: dict[str, str],
    cache_root: Path,
    processes: int,
    *,
    clock_shifts: list[float] | None = None,
    during: Callable[[], None] | None = None,
) -> FleetRun:
    """One worker per partition, each with its own cache directory (a host of its own)."""
    workers = []
    logs: list[Any] = []  # stderr to files: a pipe nobody reads would fill and block a worker
    shifts = clock_shifts or [0.0] * processes
    for n, partition in enumerate(_partitions(sb, processes)):
        params = json.dumps(
            {"partition": partition, "page_size": PAGE_SIZE, "clock_shift": shifts[n]}
        )
        worker_env = {**env, ENV_CACHE_DIR: str(cache_root / f"host-{n}")}
        logs.append((cache_root / f"host-{n}.log").open("w+"))
        workers.append(
            subprocess.Popen(
                [sys.executable, "-m", "tests.http.host_worker", params],
                cwd=REPO_ROOT,
                env=worker_env,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=logs[-1],
                text=True,
            )
        )
    try:
        for worker in workers:
            assert worker.stdout is not None
            for line in worker.stdout:
                if line.strip() == "READY":
                    break
        sb.clear_requests()
        tokens_before = sb.tokens_issued
        for worker in workers:
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        side = threading.Thread(target=during) if during is not None else None
        if side is not None:
            side.start()
        outputs = [worker.communicate(timeout=START_TIMEOUT)[0] for worker in workers]
        if side is not None:
            side.join(timeout=START_TIMEOUT)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    results, errs = [], []
    for out, log in zip(outputs, logs, strict=True):
        log.seek(0)
        err = log.read()
        errs.append(err + out)  # Airflow may log to either
        log.close()
        line = next((row for row in out.splitlines() if row.startswith("RESULT ")), None)
        assert line is not None, err[-3000:]
        results.append(json.loads(line[len("RESULT ") :]))
    return FleetRun(
        results=results,
        requests=[(seen.time, seen.path, seen.status) for seen in sb.requests],
        tokens=sb.tokens_issued - tokens_before,
        returncodes=[worker.returncode for worker in workers],
        logs=errs,
    )


def _max_in_window(arrivals: list[float], interval: float) -> int:
    """The most arrivals in any window of ``interval`` seconds."""
    most, start = 0, 0
    for end, at in enumerate(arrivals):
        while arrivals[start] <= at - interval:
            start += 1
        most = max(most, end - start + 1)
    return most


def _all_ids(sb: Sandbox) -> list[str]:
    return sorted(record["id"] for record in sb.packages())


FLEET = 8


@pytest.mark.sandbox(
    packages=FLEET * PAGE_SIZE * 8,
    rate_limits={"uncacheable": (AVERAGE, BURST, INTERVAL, BURST_INTERVAL)},
)
def test_hosts_with_skewed_clocks_share_one_budget_and_one_token(
    sandbox: Sandbox, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """8 hosts, half of them with clocks 30 s off (+30 s and -30 s): Redis's clock decides."""
    env = _fleet_env(sandbox, redis_server, monkeypatch)
    shifts = [0.0, 30.0, 0.0, -30.0] * (FLEET // 4)

    run = _run_fleet(sandbox, env, tmp_path, FLEET, clock_shifts=shifts)

    assert run.returncodes == [0] * FLEET
    assert run.ids() == _all_ids(sandbox)
    assert run.arrivals(429) == [], run.warnings()
    assert run.tokens == 1, run.warnings()
    # Every window of the class held, as the server saw the arrivals (0 x 429 says the same).
    arrivals = run.arrivals()
    assert _max_in_window(arrivals, INTERVAL) <= AVERAGE
    assert _max_in_window(arrivals, BURST_INTERVAL) <= BURST
    # Nothing of the fleet's state is in the hosts' cache directories but their own files,
    # and the token is in Redis encrypted.
    client = redis_server.client()
    token_keys = client.keys("inventory:v1:token:*")
    assert len(token_keys) == 1
    assert sandbox.client_secret.encode() not in client.get(token_keys[0])


@pytest.mark.sandbox(
    packages=4 * PAGE_SIZE * 20,
    rate_limits={"uncacheable": (AVERAGE, BURST, INTERVAL, BURST_INTERVAL)},
)
def test_redis_killed_mid_run_then_back(
    sandbox: Sandbox, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Redis dies a quarter into the listing and comes back a while later: the listings finish
    (on the host budget meanwhile), no task fails, and the fleet shares Redis again."""
    env = _fleet_env(sandbox, redis_server, monkeypatch, {"rate_limit_redis_cooldown": 1})
    pages = len(sandbox.packages()) // PAGE_SIZE
    seen_after_return: list[int] = []

    def outage() -> None:
        _wait_for_requests(sandbox, pages // 4)
        redis_server.kill()
        # Down for a fifth of the pages from now (on a loaded machine this thread may wake
        # late: counting from the kill keeps the outage real).
        _wait_for_requests(sandbox, _requests(sandbox) + pages // 5)
        redis_server.start()
        deadline = time.monotonic() + START_TIMEOUT
        client = redis_server.client()
        while time.monotonic() < deadline:
            sends = sum(client.zcard(key) for key in client.keys("inventory:v1:*:w*"))
            if sends:
                seen_after_return.append(sends)
                return
            time.sleep(0.05)

    run = _run_fleet(sandbox, env, tmp_path, 4, during=outage)

    assert run.returncodes == [0] * 4
    assert run.ids() == _all_ids(sandbox)
    # The outage was seen (one warning per process at most) and survived on the host budget.
    outages = [log.count("pacing on this host's budget") for log in run.logs]
    assert sum(outages) >= 1, "\n".join(log[-1500:] for log in run.logs)
    assert max(outages) == 1
    assert seen_after_return  # sends committed to the restarted Redis: shared again


def _requests(sb: Sandbox) -> int:
    return sum(1 for seen in sb.requests if seen.path == PACKAGES_PATH)


def _wait_for_requests(sb: Sandbox, count: int, idle: float = 10.0) -> None:
    """Until the server has answered ``count`` listing requests, or none for ``idle`` s."""
    seen, since = _requests(sb), time.monotonic()
    while seen < count and time.monotonic() - since < idle:
        time.sleep(0.02)
        now_seen = _requests(sb)
        if now_seen != seen:
            seen, since = now_seen, time.monotonic()


HOLD = 3.0


@pytest.mark.sandbox(
    packages=4 * PAGE_SIZE * 12,
    rate_limits={"uncacheable": (AVERAGE, BURST, INTERVAL, BURST_INTERVAL)},
)
def test_a_429_anywhere_holds_every_host(
    sandbox: Sandbox, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env = _fleet_env(sandbox, redis_server, monkeypatch)
    # After every host has started listing, one request is refused with Retry-After.
    sandbox.inject("rate_limit", after=12, retry_after=HOLD, match=PACKAGES_PATH)

    run = _run_fleet(sandbox, env, tmp_path, 4)

    assert run.returncodes == [0] * 4
    assert run.ids() == _all_ids(sandbox)
    (refused,) = run.arrivals(429)
    # Requests already on their way may still arrive just after it; then nobody sends until
    # the hold is over (a generous margin on both sides for a loaded machine).
    during_hold = [at for at in run.arrivals() if refused + 0.5 < at < refused + HOLD - 0.5]
    assert during_hold == []
    after = [at for at in run.arrivals() if at > refused]
    assert after  # and then they all carry on
