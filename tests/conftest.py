"""Shared fixtures: an isolated Airflow home and a running sandbox with connections pointing at it.

Use ``@pytest.mark.sandbox(packages=2000, latency=0.01, ...)`` on a test (or module, via
``pytestmark``) to pass keyword arguments to ``Sandbox``; ``sandbox_env`` additionally exports
``AIRFLOW_CONN_PACK_DEFAULT`` / ``AIRFLOW_CONN_COMMERCELAYER_DEFAULT`` for it.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

# Before anything imports airflow: a throwaway home and metadata DB (forced, so a developer's
# own AIRFLOW_HOME or database is never touched), no examples, quiet unit-test mode.
_HOME = tempfile.mkdtemp(prefix="inventory-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "True"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
# A Fernet key for the whole session (inherited by the processes tests start), so host-shared
# tokens are exercised encrypted, as in a deployment with `[core] fernet_key` set.
os.environ.setdefault("AIRFLOW__CORE__FERNET_KEY", "Zm9yLWlubnZlbnRvcnktdGVzdHMtb25seS0wMDAwMDA=")
# Host-shared state (pacers, tokens) of this test session lives in a directory of its own, never
# in the user's cache: module-scoped fixtures run outside the per-test directory, and a token
# left by an earlier session for a sandbox on the same port would be offered to a new sandbox.
os.environ["INVENTORY_CACHE_DIR"] = tempfile.mkdtemp(prefix="inventory-test-host-cache-")

if TYPE_CHECKING:
    from airflow_provider_inventory.sandbox import Sandbox

# Tests run against a sandbox without limits unless they configure some; pin generous client-side
# limits so the documented production defaults (200 requests/min) do not slow the suite down.
# Pacing tests override these through `set_connections`.
FAST_CLIENT_EXTRA: dict[str, Any] = {
    "backoff_factor": 0.01,
    "backoff_max": 0.05,
    "max_retry_wait": 2,
    "read_timeout": 10,
}
GENEROUS_LIMITS: dict[str, Any] = {"rate_limit_average": 100_000, "rate_limit_burst": 100_000}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "sandbox(**kwargs): keyword arguments for the Sandbox")


@pytest.fixture
def sandbox(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    """A running sandbox configured by the nearest ``sandbox`` marker."""
    from airflow_provider_inventory.sandbox import Sandbox

    marker = request.node.get_closest_marker("sandbox")
    kwargs = dict(marker.kwargs) if marker else {}
    with Sandbox(**kwargs) as sb:
        yield sb


def set_connections(
    sb: Sandbox,
    monkeypatch: pytest.MonkeyPatch,
    *,
    pack_extra: dict[str, Any] | None = None,
    commercelayer_extra: dict[str, Any] | None = None,
    pack_conn_id: str = "pack_default",
    commercelayer_conn_id: str = "commercelayer_default",
) -> None:
    """Export both sandbox connections as ``AIRFLOW_CONN_*`` with extra fields merged in."""
    pack = sb.pack_connection()
    pack["extra"] = {**pack.get("extra", {}), **FAST_CLIENT_EXTRA, **(pack_extra or {})}
    cl = sb.commercelayer_connection()
    cl["extra"] = {
        **cl.get("extra", {}),
        **FAST_CLIENT_EXTRA,
        **GENEROUS_LIMITS,
        **(commercelayer_extra or {}),
    }
    monkeypatch.setenv(f"AIRFLOW_CONN_{pack_conn_id.upper()}", json.dumps(pack))
    monkeypatch.setenv(f"AIRFLOW_CONN_{commercelayer_conn_id.upper()}", json.dumps(cl))


@pytest.fixture
def sandbox_env(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """The sandbox, with ``pack_default`` and ``commercelayer_default`` connections pointing at it."""
    set_connections(sandbox, monkeypatch)
    return sandbox


@pytest.fixture(autouse=True)
def _fresh_process_state(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[None]:
    """Each test starts with a fresh process registry (no shared pacers or cached tokens) and
    an empty host cache directory of its own, so no state crosses from one test to another."""
    from airflow_provider_inventory._http.hoststate import ENV_CACHE_DIR
    from airflow_provider_inventory._http.registry import reset_registry

    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path_factory.mktemp("host-cache")))
    reset_registry()
    yield
    reset_registry()


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh ``memory://`` folder, with Airflow's object storage attached to the scheme."""
    import uuid

    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    from airflow_provider_inventory._compat import storage_path_of

    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    folder = f"records-{uuid.uuid4().hex}"
    # str() renders memory://x or memory:///x, by universal-pathlib release: compare like with like
    yield str(storage_path_of(f"memory://{folder}"))
    if fs.exists(f"/{folder}"):
        fs.rm(f"/{folder}", recursive=True)


@pytest.fixture
def redis_server() -> Iterator[Any]:
    """A real ``redis-server`` (Debian's package) on a free loopback port, stopped afterwards.

    Missing binary: the test fails under ``CI=true`` (CI installs it) and is skipped elsewhere.
    """
    from airflow_provider_inventory.sandbox.redis_server import RedisServer, redis_server_binary

    if redis_server_binary() is None:
        message = "redis-server is not installed (apt-get install redis-server)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    with RedisServer() as server:
        yield server
