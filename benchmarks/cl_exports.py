"""Scenario 9: Commerce Layer exports vs the paged listing of one uncacheable resource.

The same shipments (an uncacheable resource: 200 requests a minute per client IP live) are read
twice into a JSONL file: by ``CommerceLayerListOperator`` (keyset pages of 25) and by
``CommerceLayerExportOperator(deferrable=False)`` (exports of 5,000 records, 4 at once, polled on
the worker). The sandbox runs in its own process with 20 ms latency on every API request and
exports at a stated speed (records per second per export). Reported: API requests of each path
(the budget they draw on), their wall time as measured (the sandbox does not rate-limit here)
and at the documented live budget (requests / 200 per minute), and the export path's peak RSS at
two sizes ten times apart (the file is parsed incrementally, so it should stay flat).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import RunOptions, SandboxProcess, ScenarioResult, run_child
from benchmarks.measure import RecordSet, current_rss_mib, peak_rss_mib, stopwatch

NAME = "cl-exports"
LATENCY = 0.02
EXPORT_SPEED = 2_000.0
LIVE_BUDGET_PER_MINUTE = 200
REQUEST_RATIO_TARGET = 20
GROWTH_LIMIT_MIB = 20.0


@dataclass(frozen=True)
class Sizes:
    """Shipments compared, shipments of the two memory runs, records per export."""

    compare: int
    memory: tuple[int, int]
    chunk_size: int


FULL = Sizes(compare=50_000, memory=(10_000, 100_000), chunk_size=5_000)
SMOKE = Sizes(compare=1_000, memory=(500, 2_500), chunk_size=250)
#: Pinned client limits far above what the sandbox serves, so the paths are not paced here.
UNPACED = {"rate_limit_average": 1_000_000, "rate_limit_burst": 1_000_000}


def expected_shipments(count: int, seed: int = 0) -> RecordSet:
    """The ids of the shipments a sandbox with ``count`` of them (and no packages) serves."""
    from airflow_provider_inventory.sandbox.catalog import Catalog
    from airflow_provider_inventory.sandbox.data import DataStore

    store = DataStore(seed=seed, serial_numbers=0, packages=0, stock_locations=5)
    catalog = Catalog(seed, store, shipments=count, stock_items=0)
    return RecordSet.of_ids(catalog.records["shipments"])


def run(options: RunOptions) -> ScenarioResult:
    """Compare the two paths at one size; measure the export path's memory at two."""
    sizes = SMOKE if options.smoke else FULL
    chunk_size, compare = sizes.chunk_size, sizes.compare
    result = ScenarioResult(
        name=NAME,
        title=(
            f"11. Commerce Layer exports vs paged listing: {compare:,} shipments, "
            f"{EXPORT_SPEED:,.0f} records/s per export, {LATENCY * 1000:.0f} ms latency"
        ),
        command=options.command(NAME),
        headers=[
            "Path",
            "Records",
            "API requests",
            "Wall (s)",
            f"Wall at {LIVE_BUDGET_PER_MINUTE}/min (s)",
            "RSS after imports (MiB)",
            "Peak RSS (MiB)",
        ],
    )
    measured: dict[str, dict[str, Any]] = {}
    with SandboxProcess(
        shipments=compare, latency=LATENCY, export_speed=EXPORT_SPEED, packages=0
    ) as sandbox:
        env = options.child_env(sandbox.connection_env(commercelayer_extra=UNPACED))
        expected = expected_shipments(compare)
        for path in ("listing", "export"):
            params = {
                "path": path,
                "chunk_size": chunk_size,
                "output": str(options.output_file(f"shipments-{path}.jsonl")),
            }
            measured[path] = run_child("cl-export", params, env)
            got = RecordSet.from_dict(measured[path]["records"])
            result.check(got.mismatch(expected, f"{path} of {compare:,} shipments"))
    for path in ("listing", "export"):
        figures = measured[path]
        at_budget = max(figures["wall_s"], figures["requests"] * 60 / LIVE_BUDGET_PER_MINUTE)
        result.rows.append(
            [
                "paged listing (25 per page)" if path == "listing" else "exports",
                f"{compare:,}",
                f"{figures['requests']:,}",
                f"{figures['wall_s']:.1f}",
                f"{at_budget:,.0f}",
                f"{figures['rss_after_imports_mib']:.1f}",
                f"{figures['peak_rss_mib']:.1f}",
            ]
        )
    ratio = measured["listing"]["requests"] / max(1, measured["export"]["requests"])
    result.target(
        f"export requests at most 1/{REQUEST_RATIO_TARGET} of the listing's",
        ratio >= REQUEST_RATIO_TARGET,
        f"{measured['export']['requests']:,} vs {measured['listing']['requests']:,} requests "
        f"(1/{ratio:.0f})",
        judged=not options.smoke,
    )
    peaks = []
    small, large = sizes.memory
    for size in (small, large):
        with SandboxProcess(shipments=size, export_speed=EXPORT_SPEED * 5, packages=0) as sandbox:
            env = options.child_env(sandbox.connection_env(commercelayer_extra=UNPACED))
            params = {
                "path": "export",
                "chunk_size": chunk_size,
                "output": str(options.output_file("shipments-memory.jsonl")),
            }
            figures = run_child("cl-export", params, env)
        got = RecordSet.from_dict(figures["records"])
        result.check(got.mismatch(expected_shipments(size), f"export of {size:,} shipments"))
        peaks.append(figures["peak_rss_mib"])
        result.rows.append(
            [
                "exports (memory)",
                f"{size:,}",
                f"{figures['requests']:,}",
                f"{figures['wall_s']:.1f}",
                "",
                f"{figures['rss_after_imports_mib']:.1f}",
                f"{figures['peak_rss_mib']:.1f}",
            ]
        )
    growth = peaks[1] - peaks[0]
    result.target(
        f"export peak RSS growth under {GROWTH_LIMIT_MIB:g} MiB",
        growth < GROWTH_LIMIT_MIB,
        f"{growth:+.1f} MiB from {small:,} to {large:,} records",
        judged=not options.smoke,
    )
    result.notes.append(
        f"`CommerceLayerListOperator(resource='shipments')` vs `CommerceLayerExportOperator("
        f"resource='shipments', deferrable=False, chunk_size={chunk_size}, max_concurrent=4, "
        f"poll_interval=1)`, both `output_path=...jsonl`, each in a fresh interpreter; API "
        f"requests are the hook's own count (token, count, boundary probes, creations, polls, "
        f"fresh URLs, downloads, deletions; retries included). The wall at the live budget is "
        f"the larger of the measured wall and requests / {LIVE_BUDGET_PER_MINUTE} per minute "
        f"(the export's own processing time at Commerce Layer is unknown: the sandbox's "
        f"{EXPORT_SPEED:,.0f} records/s is an assumption). The memory rows use a sandbox "
        f"exporting 5x faster, no latency."
    )
    return result


def child_export(params: dict[str, Any]) -> dict[str, Any]:
    """Read shipments into a JSONL file by listing or by exports; count the hook's requests.

    Params:
        path: ``"listing"`` or ``"export"``.
        chunk_size: records per export.
        output: the JSONL file to write.
    """
    from airflow_provider_inventory.operators.commercelayer import (
        CommerceLayerExportOperator,
        CommerceLayerListOperator,
    )
    from benchmarks.airflow_context import task_context

    output = Path(params["output"])
    operator: CommerceLayerExportOperator | CommerceLayerListOperator
    if params["path"] == "export":
        operator = CommerceLayerExportOperator(
            task_id="bench_export",
            resource="shipments",
            deferrable=False,
            chunk_size=params["chunk_size"],
            max_concurrent=4,
            poll_interval=1.0,
            output_path=str(output),
        )
    else:
        operator = CommerceLayerListOperator(
            task_id="bench_listing", resource="shipments", output_path=str(output)
        )
    requests: list[int] = []
    make_hook = operator.get_hook

    def counted_hook() -> Any:
        hook = make_hook()
        close = hook.close

        def close_and_count() -> None:
            requests.append(hook.stats.requests)
            close()

        hook.close = close_and_count  # type: ignore[method-assign]
        return hook

    operator.get_hook = counted_hook  # type: ignore[method-assign]
    context = task_context(operator)
    after_imports = current_rss_mib()
    with stopwatch() as watch:
        operator.execute(context)
    return {
        "wall_s": watch.wall,
        "cpu_s": watch.cpu,
        "rss_after_imports_mib": after_imports,
        "peak_rss_mib": peak_rss_mib(),
        "requests": sum(requests),
        "records": RecordSet.of_jsonl(output).to_dict(),
    }
