"""Running an operator's ``execute`` directly: a minimal task context, a memory:// store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def context() -> dict[str, Any]:
    """A minimal task context: just the outlet event accessors the task runner provides."""
    from airflow.sdk.execution_time.context import OutletEventAccessors

    return {"outlet_events": OutletEventAccessors()}


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh ``memory://`` folder; Airflow's object storage gets the scheme attached."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    from airflow_provider_inventory._compat import storage_path_of

    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    folder = f"operators-{uuid.uuid4().hex}"
    # str() renders memory://x or memory:///x, by universal-pathlib release: compare like with like
    yield str(storage_path_of(f"memory://{folder}"))
    if fs.exists(f"/{folder}"):
        fs.rm(f"/{folder}", recursive=True)
