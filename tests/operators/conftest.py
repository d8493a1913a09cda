"""Running an operator's ``execute`` directly: a minimal task context."""

from __future__ import annotations

from typing import Any

import pytest


@pytest.fixture
def context() -> dict[str, Any]:
    """A minimal task context: just the outlet event accessors the task runner provides."""
    from airflow.sdk.execution_time.context import OutletEventAccessors

    return {"outlet_events": OutletEventAccessors()}
