"""Scenario 9: Pack serial numbers of several products listed in parallel (``max_workers``).

A cursor chain cannot be split, but the listings of several filter values can run side by side.
The serial numbers of 8 products (about 5,000 each) at 20 ms latency are listed three ways by
``PackSerialNumbersOperator`` writing JSON Lines, each in a fresh interpreter:

- the longest single chain alone (the product with most serial numbers): the floor;
- all 8 products with ``max_workers=8``;
- all 8 products one after another (``max_workers=1``, the behaviour before issue 20).

Then memory: the same parallel listing of 10,000 and of 100,000 serial numbers (no latency).
"""

from __future__ import annotations

import statistics
from collections import Counter
from typing import Any

from benchmarks.harness import RunOptions, SandboxProcess, ScenarioResult, ratio, run_child
from benchmarks.measure import RecordSet, current_rss_mib, stopwatch
from benchmarks.pack_throughput import listing_result

NAME = "pack-parallel"
PRODUCTS = 8


class Sizes:
    """How much to list, how slow the server is, how often to repeat."""

    def __init__(
        self, records: int, latency: float, per_page: int, repeats: int, memory: tuple[int, int]
    ) -> None:
        self.records = records
        self.latency = latency
        self.per_page = per_page
        self.repeats = repeats
        self.memory = memory


FULL = Sizes(records=40_000, latency=0.020, per_page=100, repeats=3, memory=(10_000, 100_000))
SMOKE = Sizes(records=2_000, latency=0.002, per_page=50, repeats=1, memory=(1_000, 4_000))


def sandbox_serials(records: int) -> list[dict[str, Any]]:
    """The serial numbers a sandbox of this size with 8 products serves (seed 0)."""
    from airflow_provider_inventory.sandbox import Sandbox

    return Sandbox(0, serial_numbers=records, products=PRODUCTS, packages=0).serial_numbers()


def run(options: RunOptions) -> ScenarioResult:
    """Longest chain, parallel and sequential wall times; peak RSS at two sizes."""
    sizes = SMOKE if options.smoke else FULL
    serials = sandbox_serials(sizes.records)
    per_product = Counter(s["product_id"] for s in serials)
    products = sorted(per_product)
    longest = max(products, key=lambda p: per_product[p])
    result = ScenarioResult(
        name=NAME,
        title=(
            f"10. Pack parallel listings: {PRODUCTS} products x ~{sizes.records // PRODUCTS:,} "
            f"serial numbers, {sizes.latency * 1000:g} ms latency, per_page={sizes.per_page}"
        ),
        command=options.command(NAME),
        headers=["Listing", "Records", "Pages", "Wall (s)", "vs longest chain", "Peak RSS (MiB)"],
    )
    runs: dict[str, list[dict[str, Any]]] = {"longest": [], "parallel": [], "sequential": []}
    plans = {
        "longest": ([longest], 1),
        "parallel": (products, PRODUCTS),
        "sequential": (products, 1),
    }
    with SandboxProcess(
        serial_numbers=sizes.records, products=PRODUCTS, latency=sizes.latency
    ) as sandbox:
        env = options.child_env(sandbox.connection_env())
        if not options.smoke:
            # A first child compiles what execute() imports lazily (bytecode cache); not counted.
            warm_up = {"products": [longest], "max_workers": 1, "per_page": sizes.per_page}
            run_child(
                "pack-parallel", {**warm_up, "output": str(options.output_file("w.jsonl"))}, env
            )
        for attempt in range(sizes.repeats):
            for label, (chosen, workers) in plans.items():
                params = {
                    "products": chosen,
                    "max_workers": workers,
                    "per_page": sizes.per_page,
                    "output": str(options.output_file(f"parallel-{label}.jsonl")),
                }
                measured = run_child("pack-parallel", params, env)
                runs[label].append(measured)
                expected = RecordSet.of_ids(s["id"] for s in serials if s["product_id"] in chosen)
                got = RecordSet.from_dict(measured["records"])
                result.check(got.mismatch(expected, f"{label}, run {attempt + 1}"))
    wall = {label: statistics.median(r["wall_s"] for r in found) for label, found in runs.items()}
    peak = {
        label: statistics.median(r["peak_rss_mib"] for r in found) for label, found in runs.items()
    }
    counts = {"longest": per_product[longest], "parallel": len(serials), "sequential": len(serials)}
    for label, title in (
        ("longest", f"longest single chain ({longest}), max_workers=1"),
        ("parallel", f"all {PRODUCTS} products, max_workers={PRODUCTS}"),
        ("sequential", f"all {PRODUCTS} products, max_workers=1 (before)"),
    ):
        pages = (
            -(-counts[label] // sizes.per_page)
            if label == "longest"
            else sum(-(-per_product[p] // sizes.per_page) for p in products)
        )
        result.rows.append(
            [
                title,
                f"{counts[label]:,}",
                f"{pages:,}",
                f"{wall[label]:.2f}",
                ratio(wall[label], wall["longest"]),
                f"{peak[label]:.1f}",
            ]
        )
    judged = not options.smoke
    result.target(
        "max_workers=8 within 1.3x of the longest single chain",
        wall["parallel"] <= 1.3 * wall["longest"],
        f"{wall['parallel']:.2f} s vs {wall['longest']:.2f} s = "
        f"{wall['parallel'] / wall['longest']:.2f}x; sequential "
        f"{wall['sequential'] / wall['parallel']:.1f}x slower than parallel",
        judged=judged,
    )
    memory_rows, peaks = measure_memory(options, sizes, result)
    result.rows += memory_rows
    growth = peaks[1] - peaks[0]
    result.target(
        "peak RSS flat (growth < 10%) from the small to the large parallel listing",
        growth < 0.10 * peaks[0],
        f"{peaks[0]:.1f} MiB -> {peaks[1]:.1f} MiB ({growth:+.1f} MiB)",
        judged=judged,
    )
    result.notes += [
        f"Median of {sizes.repeats} run(s) each, every run in a fresh interpreter; the sandbox "
        f"(seed 0, {PRODUCTS} products) runs in its own process and adds "
        f"{sizes.latency * 1000:g} ms to every request. Each run is "
        "`PackSerialNumbersOperator(product_id=[...], max_workers=..., per_page=..., "
        "output_path=...jsonl).execute(context)`; record sets are checked against the sandbox.",
        "The products' counts are what the seeded sandbox draws (about equal, not exactly): "
        + ", ".join(f"{per_product[p]:,}" for p in products)
        + ".",
        "Memory rows: the same parallel listing without latency at two sizes; peak RSS is VmHWM "
        "of the child. Pages are bounded (2 per worker wait in the merge queue); what grows is "
        "the merge's 8-byte digest per record (to drop a serial number that moves from one "
        "product's listing to another while they run): 0.8 MB per 100,000 records.",
    ]
    return result


def measure_memory(
    options: RunOptions, sizes: Sizes, result: ScenarioResult
) -> tuple[list[list[str]], list[float]]:
    """Peak RSS of the parallel listing at the two memory sizes."""
    rows, peaks = [], []
    for records in sizes.memory:
        serials = sandbox_serials(records)
        products = sorted({s["product_id"] for s in serials})
        with SandboxProcess(serial_numbers=records, products=PRODUCTS) as sandbox:
            env = options.child_env(sandbox.connection_env())
            params = {
                "products": products,
                "max_workers": PRODUCTS,
                "per_page": 100,
                "output": str(options.output_file("parallel-memory.jsonl")),
            }
            measured = run_child("pack-parallel", params, env)
        expected = RecordSet.of_ids(s["id"] for s in serials)
        got = RecordSet.from_dict(measured["records"])
        result.check(got.mismatch(expected, f"memory {records:,}"))
        peaks.append(measured["peak_rss_mib"])
        rows.append(
            [
                f"memory: {records:,} serial numbers, max_workers={PRODUCTS}, no latency",
                f"{records:,}",
                f"{-(-records // 100):,}+",
                f"{measured['wall_s']:.2f}",
                "",
                f"{measured['peak_rss_mib']:.1f}",
            ]
        )
    return rows, peaks


# ---------------------------------------------------------------------- child


def child_parallel(params: dict[str, Any]) -> dict[str, Any]:
    """List the serial numbers of ``products`` with ``max_workers`` into a JSONL file."""
    from pathlib import Path

    from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator
    from benchmarks.airflow_context import task_context

    output = Path(params["output"])
    operator = PackSerialNumbersOperator(
        task_id="bench_parallel",
        product_id=params["products"],
        max_workers=params["max_workers"],
        per_page=params["per_page"],
        output_path=str(output),
    )
    context = task_context(operator)
    after_imports = current_rss_mib()
    with stopwatch() as watch:
        operator.execute(context)
    return listing_result(watch.wall, after_imports, output)
