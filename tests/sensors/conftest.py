"""What the sensor tests share: a task context good enough for ``execute`` in every mode."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:
    from airflow.sdk import Context


class FakeTaskInstance:
    """The one thing reschedule mode asks the task instance: when the first try started."""

    def __init__(self, first_reschedule_date: datetime | None) -> None:
        self.first_reschedule_date = first_reschedule_date

    def get_first_reschedule_date(self, context: Any) -> datetime | None:
        return self.first_reschedule_date


@pytest.fixture
def context() -> Context:
    """A context for a first try (reschedule mode starts its clock now)."""
    return cast("Context", {"ti": FakeTaskInstance(None)})


@pytest.fixture
def late_context() -> Context:
    """A context for a rescheduled try whose first try was an hour ago."""
    return cast(
        "Context", {"ti": FakeTaskInstance(datetime.now(timezone.utc) - timedelta(hours=1))}
    )
