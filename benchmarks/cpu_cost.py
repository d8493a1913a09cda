"""Scenario 5: CPU cost per record of flattening, filtering and writing JSONL.

Two figures from a sandbox without latency or limits:

- the path alone: Commerce Layer package resources (with their included stock locations) are
  fetched once and kept in memory, then ``jsonapi.flatten`` -> ``RecordSelection`` (a ``where``)
  -> ``records.write_jsonl`` runs over them on one thread; best of a few repetitions, CPU time
  from ``time.process_time``;
- the whole listing: ``CommerceLayerPackagesOperator.execute`` with the same ``include`` and
  ``where``, CPU time of the process over all its threads (HTTP client and JSON decoding too).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    GENEROUS_LIMITS,
    RunOptions,
    SandboxProcess,
    ScenarioResult,
    run_child,
    sandbox_packages,
)
from benchmarks.measure import RecordSet

NAME = "cpu-cost"
INCLUDE = ["stock_location"]
WHERE = {"unit_of_length": "cm"}
TARGET_RECORDS_PER_CPU_S = 50_000


@dataclass(frozen=True)
class Sizes:
    """How many packages, and how often the in-memory path is repeated."""

    packages: int
    repeats: int


FULL = Sizes(packages=20_000, repeats=5)
SMOKE = Sizes(packages=1_000, repeats=1)


def run(options: RunOptions) -> ScenarioResult:
    """Measure the in-memory path and the whole listing; judge records per CPU-second."""
    sizes = SMOKE if options.smoke else FULL
    result = ScenarioResult(
        name=NAME,
        title=(
            f"5. CPU cost per record: {sizes.packages:,} packages with their stock location, "
            f"where={WHERE}, JSONL, no latency"
        ),
        command=options.command(NAME),
        headers=["Measured", "Records in", "Records out", "CPU s", "Records per CPU-second"],
    )
    kept = RecordSet.of_ids(
        record["id"]
        for record in sandbox_packages(sizes.packages)
        if all(record.get(key) == value for key, value in WHERE.items())
    )
    with SandboxProcess(packages=sizes.packages) as sandbox:
        env = options.child_env(sandbox.connection_env(commercelayer_extra=GENEROUS_LIMITS))
        path = run_child(
            "cpu-path",
            {
                "include": INCLUDE,
                "where": WHERE,
                "repeats": sizes.repeats,
                "output": str(options.output_file("cpu-path.jsonl")),
            },
            env,
        )
        listing = run_child(
            "cl-listing",
            {
                "include": INCLUDE,
                "where": WHERE,
                "output": str(options.output_file("cpu-listing.jsonl")),
            },
            env,
        )
    result.check(RecordSet.from_dict(path["records"]).mismatch(kept, "in-memory path"))
    result.check(RecordSet.from_dict(listing["records"]).mismatch(kept, "operator listing"))
    path_rate = sizes.packages / path["cpu_s"]
    listing_rate = sizes.packages / listing["cpu_s"]
    result.rows = [
        [
            f"flatten + where + JSONL write (one thread, best of {sizes.repeats})",
            f"{sizes.packages:,}",
            f"{kept.count:,}",
            f"{path['cpu_s']:.3f}",
            f"{path_rate:,.0f}",
        ],
        [
            "whole operator listing (HTTP, JSON decode, the path, logging; all threads)",
            f"{sizes.packages:,}",
            f"{kept.count:,}",
            f"{listing['cpu_s']:.3f}",
            f"{listing_rate:,.0f}",
        ],
    ]
    result.target(
        f"> {TARGET_RECORDS_PER_CPU_S:,} records per CPU-second on the path",
        path_rate > TARGET_RECORDS_PER_CPU_S,
        f"{path_rate:,.0f} records/s",
        judged=not options.smoke,
    )
    result.notes.append(
        "The whole-listing figure is for context: the client process's CPU over all threads, "
        "the sandbox (another process) excluded."
    )
    return result


def child_cpu_path(params: dict[str, Any]) -> dict[str, Any]:
    """Fetch the raw resources once, then time flatten + filter + JSONL write over them.

    Params:
        include, where: as for the operator.
        repeats: how often to run the path; the lowest CPU time is reported.
        output: the JSONL file to write.
    """
    from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
    from airflow_provider_inventory.jsonapi import flatten
    from airflow_provider_inventory.records import RecordSelection, write_jsonl

    with (
        CommerceLayerHook() as hook,
        hook.iter_resources("packages", include=params["include"], flatten=False) as stream,
    ):
        resources = list(stream)
        included = dict(stream.included)
    selection = RecordSelection.build(where=params["where"])
    output = Path(params["output"])
    timings = []
    for _ in range(int(params["repeats"])):
        started = time.process_time()
        write_jsonl(selection.apply(flatten(r, included) for r in resources), output)
        timings.append(time.process_time() - started)
    return {
        "cpu_s": min(timings),
        "all_cpu_s": timings,
        "records_in": len(resources),
        "records": RecordSet.of_jsonl(output).to_dict(),
    }
