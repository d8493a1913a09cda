"""Scenario 9: change sets (``changes=True``) of 100,000 and 1,000,000 records, flat memory.

Two listings of ``size`` records, 1% created, 1% updated and 1% deleted between them. A first
child process writes the first run's snapshot (setup, timed but not judged); a second, fresh
child lists the second run and publishes its change set to gzip JSON Lines exactly as
``InventoryListOperator`` does with ``changes=True`` (``ChangeSetBuilder``: sorted runs spilled
to disk, ``heapq.merge``, a merge join with the previous snapshot, the new snapshot written and
committed), minus the HTTP: records come from a generator shaped like Pack serial numbers (about
230 bytes of JSON each), in an order unrelated to their ids, as an API lists them. Side by side,
the obvious implementation a user would write: the previous snapshot loaded into a dict.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from benchmarks.harness import RunOptions, ScenarioResult, run_child
from benchmarks.measure import current_rss_mib, peak_rss_mib, stopwatch

NAME = "change-sets"
FULL_SIZES = (100_000, 1_000_000)
SMOKE_SIZES = (2_000, 20_000)
GROWTH_LIMIT_MIB = 50.0
IMPLEMENTATIONS = ("sorted runs (provider)", "dict in memory (baseline)")


def run(options: RunOptions) -> ScenarioResult:
    """Compare at both sizes with both implementations; judge the provider's RSS growth."""
    sizes = SMOKE_SIZES if options.smoke else FULL_SIZES
    result = ScenarioResult(
        name=NAME,
        title=(
            f"9. Change sets: {sizes[0]:,} vs {sizes[1]:,} records, 1% created / updated / deleted"
        ),
        command=options.command(NAME),
        headers=[
            "Implementation",
            "Records",
            "First run (s)",
            "Compare (s)",
            "Records/s",
            "RSS after imports (MiB)",
            "Peak RSS (MiB)",
            "Compare memory (MiB)",
            "Snapshot (MiB)",
        ],
    )
    env = options.child_env({})
    peaks: dict[str, list[float]] = {name: [] for name in IMPLEMENTATIONS}
    for size in sizes:
        folder = options.workdir / f"changes-{size}"
        params = {"size": size, "folder": str(folder)}
        first = run_child("changes-first", params, env, timeout=1800)
        for implementation in IMPLEMENTATIONS:
            measured = run_child(
                "changes-compare", {**params, "implementation": implementation}, env, timeout=1800
            )
            expected = {"created": size // 100, "updated": size // 100, "deleted": size // 100}
            got = {kind: measured["counts"][kind] for kind in expected}
            if got != expected:
                result.check(f"{implementation}, {size:,} records: {got} instead of {expected}")
            peaks[implementation].append(measured["peak_rss_mib"])
            result.rows.append(
                [
                    implementation,
                    f"{size:,}",
                    f"{first['wall_s']:.1f}",
                    f"{measured['wall_s']:.1f}",
                    f"{size / measured['wall_s']:,.0f}",
                    f"{measured['rss_after_imports_mib']:.1f}",
                    f"{measured['peak_rss_mib']:.1f}",
                    f"{measured['peak_rss_mib'] - measured['rss_after_imports_mib']:.1f}",
                    f"{first['snapshot_bytes'] / 2**20:.1f}",
                ]
            )
    for implementation in IMPLEMENTATIONS:
        growth = peaks[implementation][1] - peaks[implementation][0]
        result.rows.append([implementation, "growth", "", "", "", "", f"{growth:+.1f}", "", ""])
    growth = peaks[IMPLEMENTATIONS[0]][1] - peaks[IMPLEMENTATIONS[0]][0]
    result.target(
        f"provider's peak RSS growth under {GROWTH_LIMIT_MIB:g} MiB",
        growth < GROWTH_LIMIT_MIB,
        f"{growth:+.1f} MiB from {sizes[0]:,} to {sizes[1]:,} records",
        judged=not options.smoke,
    )
    result.notes.append(
        "Each row is a fresh interpreter: *Compare* lists the second run, compares it with the "
        "first run's snapshot and writes the change set (gzip JSON Lines) and the new snapshot "
        "(both local files); *First run* wrote the first snapshot and a change set of every "
        "record as created. Counts checked: exactly 1% of each kind."
    )
    return result


# ---------------------------------------------------------------------- the children


def record_id(number: int) -> str:
    """An id unrelated to listing order, like the APIs' (``sn_`` + 16 hex digits)."""
    return "sn_" + hashlib.blake2b(number.to_bytes(8, "little"), digest_size=8).hexdigest()


def listing(size: int, second: bool) -> Iterator[dict[str, Any]]:
    """The records of the first or the second run, in listing (creation) order.

    The second run lacks every record ``n % 100 == 0``, changes every ``n % 100 == 1``, and
    ends with ``size // 100`` new records.
    """
    numbers: Iterator[int] = iter(range(size))
    for number in numbers:
        if second and number % 100 == 0:
            continue
        yield _record(number, 1 if second and number % 100 == 1 else 0)
    if second:
        for number in range(size, size + size // 100):
            yield _record(number, 0)


def _record(number: int, version: int) -> dict[str, Any]:
    minute = number % 60
    return {
        "id": record_id(number),
        "product_id": f"prod_{number % 997:04d}",
        "stock_id": None if number % 3 else f"stock_{number % 89:03d}",
        "fulfillment_line_id": None if version == 0 else f"fl_{number:08d}",
        "code": f"SN{number:010d}-A{number % 7}",
        "created_at": f"2025-01-01T00:{minute:02d}:00.000Z",
        "updated_at": f"2025-0{1 + version}-01T00:{minute:02d}:00.000Z",
    }


def _scope() -> Any:
    from airflow_provider_inventory.records.changes import ChangeScope

    return ChangeScope("bench", {"connection": "pack_default", "listing": "bench"})


def child_first_run(params: dict[str, Any]) -> dict[str, Any]:
    """Write the first run's snapshot (and its all-created change set)."""
    from airflow_provider_inventory.records import write_records
    from airflow_provider_inventory.records.changes import ChangeSetBuilder, change_set_layout
    from airflow_provider_inventory.records.columns import RecordLayout
    from airflow_provider_inventory.records.storage import storage_path

    folder = Path(params["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    snapshot = folder / _scope().file_name
    snapshot.unlink(missing_ok=True)
    storage_path(str(snapshot))  # imports Airflow's object storage before the clock starts
    with stopwatch() as watch, ChangeSetBuilder(_scope(), storage_path(str(snapshot))) as builder:
        builder.add_all(listing(params["size"], second=False))
        write_records(
            builder.changes(),
            str(folder / "first.jsonl.gz"),
            layout=change_set_layout(RecordLayout()),
        )
        builder.commit()
    return {"wall_s": watch.wall, "snapshot_bytes": snapshot.stat().st_size}


def child_compare(params: dict[str, Any]) -> dict[str, Any]:
    """List the second run and publish its change set with the chosen implementation."""
    from airflow_provider_inventory.records import write_records
    from airflow_provider_inventory.records.changes import (
        ChangeSetBuilder,
        change_set_layout,
        read_snapshot,
    )
    from airflow_provider_inventory.records.columns import RecordLayout
    from airflow_provider_inventory.records.storage import storage_path

    folder = Path(params["folder"])
    snapshot = folder / _scope().file_name
    output = folder / "second.jsonl.gz"
    layout = change_set_layout(RecordLayout())
    storage_path(str(output))  # imports Airflow's object storage, as an operator has by then
    working = folder / "provider.snapshot.gz"
    shutil.copyfile(snapshot, working)  # each implementation compares with the same snapshot
    after_imports = current_rss_mib()
    counts: dict[str, int]
    if params["implementation"] == IMPLEMENTATIONS[0]:
        with (
            stopwatch() as watch,
            ChangeSetBuilder(
                _scope(), storage_path(str(working)), max_deleted_fraction=0.05
            ) as builder,
        ):
            builder.add_all(listing(params["size"], second=True))
            write_records(builder.changes(), str(output), layout=layout)
            builder.commit()
        counts = json.loads(json.dumps(builder.counts))
    else:
        with stopwatch() as watch:
            previous = {
                key: digest
                for key, _, digest in read_snapshot(storage_path(str(snapshot)), _scope())
            }
            counts = {"created": 0, "updated": 0, "deleted": 0, "unchanged": 0}

            def changes() -> Iterator[dict[str, Any]]:
                for record in listing(params["size"], second=True):
                    key = json.dumps(record["id"])
                    text = json.dumps(record, sort_keys=True, separators=(",", ":"))
                    digest = hashlib.blake2b(text.encode(), digest_size=16).hexdigest()
                    old = previous.pop(key, None)
                    if old == digest:
                        counts["unchanged"] += 1
                        continue
                    kind = "created" if old is None else "updated"
                    counts[kind] += 1
                    yield {**record, "_change": kind, "_seen_at": "2026-01-01T00:00:00.000Z"}
                for key in sorted(previous):
                    counts["deleted"] += 1
                    yield {"id": json.loads(key), "_change": "deleted", "_seen_at": "x"}

            write_records(changes(), str(output), layout=layout)
    return {
        "wall_s": watch.wall,
        "cpu_s": watch.cpu,
        "rss_after_imports_mib": after_imports,
        "peak_rss_mib": peak_rss_mib(),
        "counts": counts,
    }
