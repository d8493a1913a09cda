"""Scenario 2: memory does not grow with the number of records listed.

The same JSONL listing through ``PackSerialNumbersOperator`` at two sizes, ten times apart,
each in a fresh interpreter against a sandbox (own process, no latency) holding exactly that
many serial numbers. Streaming one page at a time should make the peaks nearly equal.
"""

from __future__ import annotations

from benchmarks.harness import (
    RunOptions,
    SandboxProcess,
    ScenarioResult,
    expected_serial_numbers,
    run_child,
)
from benchmarks.measure import RecordSet

NAME = "memory-growth"
PER_PAGE = 100
FULL_SIZES = (20_000, 200_000)
SMOKE_SIZES = (2_000, 10_000)
GROWTH_LIMIT_MIB = 20.0


def run(options: RunOptions) -> ScenarioResult:
    """List at the small and the large size; judge the growth of peak RSS."""
    small, large = SMOKE_SIZES if options.smoke else FULL_SIZES
    result = ScenarioResult(
        name=NAME,
        title=f"2. Memory growth: JSONL listing of {small:,} vs {large:,} serial numbers",
        command=options.command(NAME),
        headers=[
            "Records",
            "Wall (s)",
            "Records/s",
            "RSS after imports (MiB)",
            "Peak RSS (MiB)",
            "Listing memory (MiB)",
        ],
    )
    peaks = []
    for size in (small, large):
        with SandboxProcess(serial_numbers=size) as sandbox:
            env = options.child_env(sandbox.connection_env())
            params = {"per_page": PER_PAGE, "output": str(options.output_file("growth.jsonl"))}
            measured = run_child("pack-operator", params, env)
        got = RecordSet.from_dict(measured["records"])
        result.check(got.mismatch(expected_serial_numbers(size), f"{size:,} records"))
        peaks.append(measured["peak_rss_mib"])
        result.rows.append(
            [
                f"{size:,}",
                f"{measured['wall_s']:.2f}",
                f"{size / measured['wall_s']:,.0f}",
                f"{measured['rss_after_imports_mib']:.1f}",
                f"{measured['peak_rss_mib']:.1f}",
                f"{measured['listing_mib']:.1f}",
            ]
        )
    growth = peaks[1] - peaks[0]
    result.rows.append(["growth", "", "", "", f"{growth:+.1f}", ""])
    result.target(
        f"peak RSS growth under {GROWTH_LIMIT_MIB:g} MiB",
        growth < GROWTH_LIMIT_MIB,
        f"{growth:+.1f} MiB from {small:,} to {large:,} records",
        judged=not options.smoke,
    )
    result.notes.append(
        f"`PackSerialNumbersOperator(per_page={PER_PAGE}, output_path=...).execute(context)`, "
        "no latency, one fresh interpreter per size; record sets checked against the sandbox."
    )
    return result
