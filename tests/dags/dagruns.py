"""Run a DAG with ``dag.test()`` and read what it produced (needs the ``airflow_db`` fixture)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from airflow.models.dagrun import DagRun
    from airflow.sdk import DAG

REPO = Path(__file__).resolve().parents[2]
#: The shipped example DAGs (one DAG bundle).
EXAMPLE_DAGS = REPO / "example_dags"
#: The documentation's example DAGs (another DAG bundle; ``tests/dags/test_docs_examples.py``).
DOCS_EXAMPLES = REPO / "docs" / "examples"
#: DAG files that exist only for tests (another DAG bundle).
TEST_DAGS = Path(__file__).resolve().parent / "dag_files"


def run_dag(
    dag: DAG, logical_date: datetime, conf: dict[str, Any] | None = None, *, succeed: bool = True
) -> DagRun:
    """Run ``dag`` once for ``logical_date`` with ``dag.test()``.

    Args:
        dag: the DAG object (its file must be in one of the bundles).
        logical_date: the run's logical date (timezone-aware).
        conf: the run's ``dag_run.conf`` (params).
        succeed: assert that the run succeeded.

    Returns:
        The finished DAG run.
    """
    register_for_airflow_3_0(dag)
    dag_run = dag.test(logical_date=logical_date, run_conf=conf)
    if succeed:
        states = {ti.task_id: ti.state for ti in dag_run.get_task_instances()}
        assert dag_run.state == "success", f"{dag.dag_id} ended {dag_run.state}: {states}"
    return dag_run


def xcom_value(dag_run: DagRun, task_id: str, map_index: int = -1) -> Any:
    """The return value of ``task_id`` (one mapped instance with ``map_index``) in ``dag_run``."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        query = XComModel.get_many(
            run_id=dag_run.run_id,
            key="return_value",
            dag_ids=dag_run.dag_id,
            task_ids=task_id,
            map_indexes=map_index,
        )
        rows = session.scalars(query).all()
        assert len(rows) == 1, f"expected one return value of {task_id}[{map_index}], got {rows}"
        return XComModel.deserialize_value(rows[0])


def asset_events(dag_run: DagRun) -> list[dict[str, Any]]:
    """The asset events emitted by ``dag_run``'s tasks: ``{"name", "uri", "extra"}`` each."""
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(
            select(AssetEvent).where(
                AssetEvent.source_dag_id == dag_run.dag_id,
                AssetEvent.source_run_id == dag_run.run_id,
            )
        ).all()
        return [
            {"name": event.asset.name, "uri": event.asset.uri, "extra": dict(event.extra)}
            for event in events
        ]


def register_for_airflow_3_0(dag: DAG) -> None:
    """Store ``dag`` and activate its assets, as the DAG processor would, on Airflow 3.0 only.

    ``dag.test()`` does this itself from Airflow 3.1; on 3.0 a task with an asset outlet fails
    with "inactive assets" unless the DAG was parsed first.
    """
    from airflow_provider_inventory._compat import airflow_at_least

    if airflow_at_least((3, 1, 0)):
        return
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.models.dag import DAG as SchedulerDAG
    from airflow.serialization.serialized_objects import SerializedDAG

    DagBundlesManager().sync_bundles_to_db()
    fileloc = Path(dag.fileloc).resolve()
    if fileloc.is_relative_to(EXAMPLE_DAGS):
        bundle = "inventory_examples"
    elif fileloc.is_relative_to(DOCS_EXAMPLES):
        bundle = "inventory_docs_examples"
    else:
        bundle = "inventory_test_dags"
    scheduler_dag = SerializedDAG.deserialize_dag(SerializedDAG.serialize_dag(dag))
    SchedulerDAG.bulk_write_to_db(bundle, None, [scheduler_dag])
