"""Scenario 4: parallel id ranges when latency, not the rate limit, is the bound.

``CommerceLayerPackagesOperator`` lists every package into a JSONL file with ``max_workers=1``
and with ``max_workers=4`` against a sandbox with high latency and no rate limit (and generous
limits pinned on the connection, so client pacing does not bind either). Both runs must return
exactly the sandbox's packages.
"""

from __future__ import annotations

from dataclasses import dataclass

from benchmarks.harness import (
    GENEROUS_LIMITS,
    RunOptions,
    SandboxProcess,
    ScenarioResult,
    expected_packages,
    run_child,
)
from benchmarks.measure import RecordSet

NAME = "cl-parallelism"
WORKERS = (1, 4)
MIN_SPEEDUP = 3.0


@dataclass(frozen=True)
class Sizes:
    """How many packages and how slow each request is."""

    packages: int
    latency: float


FULL = Sizes(packages=5_000, latency=0.100)
SMOKE = Sizes(packages=500, latency=0.010)


def run(options: RunOptions) -> ScenarioResult:
    """List with one and with four workers; judge the speed-up and compare the record sets."""
    sizes = SMOKE if options.smoke else FULL
    result = ScenarioResult(
        name=NAME,
        title=(
            f"4. Commerce Layer parallel ranges: {sizes.packages:,} packages, "
            f"{sizes.latency * 1000:g} ms latency, no rate limit"
        ),
        command=options.command(NAME),
        headers=[
            "max_workers",
            "Wall (s)",
            "Speed-up",
            "Records",
            "Records/s",
            "Peak RSS (MiB)",
            "Same records as the sandbox",
        ],
    )
    expected = expected_packages(sizes.packages)
    walls: dict[int, float] = {}
    with SandboxProcess(packages=sizes.packages, latency=sizes.latency) as sandbox:
        env = options.child_env(sandbox.connection_env(commercelayer_extra=GENEROUS_LIMITS))
        for workers in WORKERS:
            output = options.output_file(f"packages-{workers}.jsonl")
            measured = run_child("cl-listing", {"max_workers": workers, "output": str(output)}, env)
            got = RecordSet.from_dict(measured["records"])
            problem = got.mismatch(expected, f"max_workers={workers}")
            result.check(problem)
            walls[workers] = measured["wall_s"]
            result.rows.append(
                [
                    str(workers),
                    f"{measured['wall_s']:.2f}",
                    f"{walls[WORKERS[0]] / measured['wall_s']:.2f}x",
                    f"{got.count:,}",
                    f"{got.count / measured['wall_s']:,.0f}",
                    f"{measured['peak_rss_mib']:.1f}",
                    "yes" if problem is None else "NO",
                ]
            )
    speedup = walls[WORKERS[0]] / walls[WORKERS[-1]]
    result.target(
        f"max_workers={WORKERS[-1]} at least {MIN_SPEEDUP:g}x faster than max_workers=1",
        speedup >= MIN_SPEEDUP,
        f"{speedup:.2f}x",
        judged=not options.smoke,
    )
    pages = -(-sizes.packages // 25)
    result.notes.append(
        f"`CommerceLayerPackagesOperator(max_workers=N, output_path=...).execute(context)`, "
        f"each in a fresh interpreter; {pages} pages of 25. With N > 1 the hook first plans N "
        "id ranges (one count request and N - 1 one-record probes, sequential), then keyset-pages "
        f"the ranges in parallel: the floor is about (N + {pages} / N) x latency."
    )
    return result
