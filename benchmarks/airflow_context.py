"""A minimal task context for calling ``operator.execute(context)`` outside the task runner.

The benchmarks measure an operator's listing, not Airflow's task runner or metadata database, so
they call ``execute`` directly (with ``AIRFLOW__CORE__UNIT_TEST_MODE=True``, which silences the
"called outside the task runner" warning) and hand it this context: a run's dates and ids, and a
task instance that keeps XCom pushes in memory.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from airflow.sdk import BaseOperator, Context

LOGICAL_DATE = datetime(2025, 1, 1, tzinfo=timezone.utc)


class InMemoryTaskInstance:
    """Just enough of a task instance: identity, try number, and XComs kept in a dict."""

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.dag_id = "benchmarks"
        self.run_id = "benchmark_run"
        self.try_number = 1
        self.map_index = -1
        self.xcoms: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        """Keep ``value`` under ``key``."""
        self.xcoms[key] = value

    def xcom_pull(self, task_ids: Any = None, key: str = "return_value", **kwargs: Any) -> Any:
        """The value pushed under ``key`` by this task instance, or ``None``."""
        return self.xcoms.get(key)


def task_context(operator: BaseOperator) -> Context:
    """A context for one ``execute`` call of ``operator`` with a one-day data interval."""
    task_instance = InMemoryTaskInstance(operator.task_id)
    context = {
        "ti": task_instance,
        "task_instance": task_instance,
        "task": operator,
        "run_id": task_instance.run_id,
        "logical_date": LOGICAL_DATE,
        "data_interval_start": LOGICAL_DATE,
        "data_interval_end": LOGICAL_DATE + timedelta(days=1),
        "params": {},
    }
    return cast("Context", context)
