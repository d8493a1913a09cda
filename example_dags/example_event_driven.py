"""Event-driven: run when Commerce Layer packages change, and fetch exactly the changed ones.

An asset watcher polls Commerce Layer once a minute (``CommerceLayerChangesTrigger``, one small
request per poll) and fires an asset event for each batch of packages created or updated since
its last event; packages that merely exist never fire. Each event starts a run of this DAG, whose
first task lists the batch's window and keeps exactly the batch's packages (``select_changed``:
the window's boundary milliseconds are decided by id, so no package is fetched by two runs). When
several events queue up before a run starts, the run fetches all of their batches.

The watermark survives triggerer restarts in Airflow's asset state store: changes made while the
triggerer is down fire when it is back; changes made before the watcher's first poll never fire.

A manual run (or ``dag.test()``, which cannot attach asset events) reads the event payloads from
its configuration instead: ``{"change_events": [<event payload>, ...]}``, e.g. to re-process a
batch from the asset event list.

Connection: ``commercelayer_default``. The changed packages travel by XCom, which suits batches
of a few hundred; for larger ones write them to a file (``CommerceLayerPackagesOperator`` with
``output_path``) and pass the manifest.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

from airflow.sdk import Asset, AssetWatcher, dag, task

from airflow_provider_inventory.triggers.changes import ChangeBatch
from airflow_provider_inventory.triggers.commercelayer import CommerceLayerChangesTrigger

log = logging.getLogger(__name__)

PACKAGES = Asset(
    name="commercelayer_packages",
    # commercelayer://{organization slug}/{resource}: the same name OpenLineage gives the API side.
    uri="commercelayer://yourdomain/packages",
    watchers=[
        AssetWatcher(
            name="commercelayer_package_changes",
            trigger=CommerceLayerChangesTrigger(resource="packages", poll_interval=60),
        )
    ],
)


def change_batches(
    triggering_asset_events: Mapping[Any, Sequence[Any]] | None, conf: Mapping[str, Any] | None
) -> list[ChangeBatch]:
    """The change batches a run is for: its triggering asset events, else ``conf``.

    Args:
        triggering_asset_events: the run's ``triggering_asset_events`` (empty for manual runs).
        conf: the run's ``dag_run.conf``; ``change_events`` lists event payloads.

    Returns:
        The batches, oldest first.

    Raises:
        ValueError: the run has neither asset events nor ``change_events`` in its conf.
    """
    events = triggering_asset_events.get(PACKAGES, []) if triggering_asset_events else []
    payloads = [event.extra for event in events] or list((conf or {}).get("change_events", []))
    if not payloads:
        raise ValueError(
            "This run has no package change to fetch: it was not started by an asset event, and "
            "its conf has no 'change_events' (a list of CommerceLayerChangesTrigger payloads)."
        )
    return sorted(map(ChangeBatch.from_payload, payloads), key=lambda batch: batch.updated_before)


@dag(
    dag_id="example_event_driven",
    schedule=[PACKAGES],
    start_date=datetime(2025, 3, 1, tzinfo=timezone.utc),
    catchup=False,
    tags=["example", "inventory", "commercelayer", "event-driven"],
    doc_md=__doc__,
)
def example_event_driven() -> None:
    """Fetch the packages of the triggering change batches, then summarise them."""

    @task
    def changed_packages(
        triggering_asset_events: Mapping[Any, Sequence[Any]] | None = None,
        dag_run: Any = None,
    ) -> list[dict[str, Any]]:
        """Exactly the packages of this run's change batches.

        Returns:
            The flat package records, as the hook lists them.
        """
        from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
        from airflow_provider_inventory.triggers.changes import fetch_window, select_changed

        batches = change_batches(triggering_asset_events, dag_run.conf if dag_run else None)
        since, before = fetch_window(batches)
        log.info("Fetching %d change batch(es): [%s, %s).", len(batches), since, before)
        with CommerceLayerHook() as hook:
            listing = hook.iter_resources(
                batches[0].resource,
                filters=batches[0].filters,
                updated_since=since,
                updated_before=before,
            )
            with listing:
                return [dict(record) for record in select_changed(batches, listing)]

    @task
    def summarise(packages: list[dict[str, Any]]) -> dict[str, Any]:
        """How many packages changed, per unit of length, and their codes."""
        summary = {
            "packages": len(packages),
            "per_unit_of_length": dict(Counter(p.get("unit_of_length") for p in packages)),
            "codes": sorted(str(p.get("code")) for p in packages),
        }
        log.info("Changed packages: %s", summary)
        return summary

    summarise(changed_packages())  # type: ignore[arg-type]


event_driven_dag = example_event_driven()
