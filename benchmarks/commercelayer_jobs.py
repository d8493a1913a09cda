"""Child-process jobs shared by the Commerce Layer scenarios (3, 4 and 5).

Each function runs inside ``python -m benchmarks.child``, imports what it measures, and returns
a JSON-able dict. Connections come from the ``AIRFLOW_CONN_*`` variables the parent set.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from benchmarks.measure import RecordSet, current_rss_mib, peak_rss_mib, stopwatch


def child_listing(params: dict[str, Any]) -> dict[str, Any]:
    """List packages with ``CommerceLayerPackagesOperator`` into a JSONL file.

    Params:
        output: the JSONL file to write.
        max_workers: parallel id ranges (1: one keyset listing).
        include, where: optional operator arguments.

    Returns:
        Wall and CPU seconds of ``execute``, memory figures, client counters and the record set
        found in the file.
    """
    from airflow_provider_inventory.operators.commercelayer import CommerceLayerPackagesOperator
    from benchmarks.airflow_context import task_context

    output = Path(params["output"])
    operator = CommerceLayerPackagesOperator(
        task_id="bench_packages",
        max_workers=params.get("max_workers", 1),
        include=params.get("include"),
        where=params.get("where"),
        output_path=str(output),
    )
    context = task_context(operator)
    after_imports = current_rss_mib()
    with stopwatch() as watch:
        manifest = operator.execute(context)
    peak = peak_rss_mib()
    return {
        "wall_s": watch.wall,
        "cpu_s": watch.cpu,
        "rss_after_imports_mib": after_imports,
        "peak_rss_mib": peak,
        "manifest_records": manifest["records"] if isinstance(manifest, dict) else None,
        "records": RecordSet.of_jsonl(output).to_dict(),
    }


def child_timed_listing(params: dict[str, Any]) -> dict[str, Any]:
    """Consume a packages listing for ``seconds``, then stop it; report the request rate.

    Uses ``CommerceLayerHook.iter_resources`` directly: an operator cannot be stopped at a
    deadline and still report what it did. The clock starts just before the first record is
    asked for (token fetch included) and the client's request counter is read at the deadline.

    Params:
        seconds: how long to list.

    Returns:
        Elapsed seconds, API requests sent by then, retries, seconds spent pacing, and the
        record set consumed.
    """
    from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook

    ids: list[str] = []
    hook = CommerceLayerHook()
    stream = hook.iter_resources("packages")
    started = time.perf_counter()
    deadline = started + float(params["seconds"])
    try:
        for record in stream:
            ids.append(record["id"])
            if time.perf_counter() >= deadline:
                break
        elapsed = time.perf_counter() - started
        stats = hook.stats
    finally:
        stream.close()
        hook.close()
    return {
        "elapsed_s": elapsed,
        "requests": stats.requests,
        "retries": stats.retries,
        "paced_s": stats.paced_seconds,
        "exhausted": elapsed < float(params["seconds"]),
        "records": RecordSet.of_ids(ids).to_dict(),
        "last_id": ids[-1] if ids else None,
    }


def child_partition(params: dict[str, Any]) -> dict[str, Any]:
    """List one partition of packages with ``CommerceLayerHook``, starting at a given time.

    Several of these run at once as separate processes (mapped tasks on one worker host). Each
    imports and builds its hook, then sleeps until ``start_at`` (wall clock) so that all of them
    start listing together.

    Params:
        partition: ``{"id_gteq": ..., "id_lt": ...}``.
        start_at: ``time.time()`` at which to start listing.

    Returns:
        Wall-clock start and end, whether the process was ready before ``start_at``, the
        client counters and the record set listed.
    """
    from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook

    hook = CommerceLayerHook()
    hook.pacer("uncacheable")  # connection and host settings read before the start
    ready = time.time()
    time.sleep(max(0.0, float(params["start_at"]) - ready))
    started = time.time()
    with hook:
        ids = [
            record["id"]
            for record in hook.iter_resources("packages", partition=params["partition"])
        ]
        stats = hook.stats
    return {
        "started": started,
        "ended": time.time(),
        "late": ready > float(params["start_at"]),
        "requests": stats.requests,
        "retries": stats.retries,
        "paced_s": stats.paced_seconds,
        "records": RecordSet.of_ids(ids).to_dict(),
    }
