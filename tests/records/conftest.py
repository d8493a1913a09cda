"""Record files on a ``memory://`` store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest


@pytest.fixture
def memory_root() -> Iterator[str]:
    """A fresh ``memory://`` folder, with Airflow's store for the scheme attached."""
    from airflow.sdk.io import attach
    from fsspec.implementations.memory import MemoryFileSystem

    fs = MemoryFileSystem()
    attach("memory", fs=fs)
    folder = f"records-{uuid.uuid4().hex}"
    yield f"memory://{folder}"
    if fs.exists(f"/{folder}"):
        fs.rm(f"/{folder}", recursive=True)
