"""Scenario 3: Commerce Layer throughput under the API's rate limits.

The sandbox limits package reads to an average per minute and a burst per 10 s, as Commerce
Layer does, and answers 429 beyond them. A keyset listing runs for a fixed time, then stops;
the rate it sustained is compared with the advertised average, and the server's own access log
says how many requests it refused. Two variants, each against a fresh sandbox (fresh limiter):
limits pinned on the connection, and no limits configured (the client starts from the documented
live defaults and adopts the server's ``X-Ratelimit-*`` headers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmarks.harness import (
    RunOptions,
    SandboxProcess,
    ScenarioResult,
    expected_package_ids,
    run_child,
)
from benchmarks.measure import RecordSet

NAME = "cl-rate-limit"
PACKAGES_PATH = "/api/packages"
MIN_SHARE_OF_LIMIT = 0.90


@dataclass(frozen=True)
class Sizes:
    """The limits, how long to list, and how many packages the sandbox holds."""

    average_per_minute: int
    burst_per_10s: int
    seconds: float
    packages: int
    latency: float


FULL = Sizes(average_per_minute=600, burst_per_10s=150, seconds=60, packages=20_000, latency=0.02)
SMOKE = Sizes(average_per_minute=120, burst_per_10s=20, seconds=2, packages=1_000, latency=0.002)


def variants(sizes: Sizes) -> dict[str, dict[str, Any]]:
    """Connection extras per variant: limits pinned on the connection, or left to the headers."""
    return {
        "pinned on the connection": {
            "rate_limit_average": sizes.average_per_minute,
            "rate_limit_interval": 60,
            "rate_limit_burst": sizes.burst_per_10s,
            "rate_limit_burst_interval": 10,
        },
        "adopted from X-Ratelimit-* headers": {},
    }


def run(options: RunOptions) -> ScenarioResult:
    """Run each variant for ``seconds`` and judge the rate and the 429 count."""
    sizes = SMOKE if options.smoke else FULL
    advertised = sizes.average_per_minute / 60
    result = ScenarioResult(
        name=NAME,
        title=(
            f"3. Commerce Layer under rate limits: {sizes.seconds:g} s listing, "
            f"{sizes.average_per_minute}/min average, {sizes.burst_per_10s}/10 s burst"
        ),
        command=options.command(NAME),
        headers=[
            "Client limits",
            "Seconds",
            "Requests answered 200",
            "Requests/s",
            "vs advertised average",
            "429 responses",
            "Client retries",
            "Seconds paced",
        ],
    )
    all_ids = expected_package_ids(sizes.packages)
    for label, extra in variants(sizes).items():
        with SandboxProcess(
            packages=sizes.packages,
            latency=sizes.latency,
            rate_limit=(sizes.average_per_minute, sizes.burst_per_10s),
            log_requests=True,
        ) as sandbox:
            env = options.child_env(sandbox.connection_env(commercelayer_extra=extra))
            measured = run_child("cl-timed", {"seconds": sizes.seconds}, env)
        statuses = sandbox.statuses(PACKAGES_PATH)
        answered, refused = statuses.get(200, 0), statuses.get(429, 0)
        rate = answered / measured["elapsed_s"]
        result.rows.append(
            [
                label,
                f"{measured['elapsed_s']:.1f}",
                f"{answered}",
                f"{rate:.2f}",
                f"{rate / advertised:.2f}x",
                f"{refused}",
                f"{measured['retries']}",
                f"{measured['paced_s']:.1f}",
            ]
        )
        got = RecordSet.from_dict(measured["records"])
        # Keyset paging by id: what was consumed must be exactly the lowest ids, each once.
        result.check(got.mismatch(RecordSet.of_ids(all_ids[: got.count]), f"{label}: records"))
        if measured["exhausted"]:
            result.check(f"{label}: the sandbox ran out of packages before the deadline")
        judged = not options.smoke
        result.target(
            f"{label}: >= {MIN_SHARE_OF_LIMIT:.0%} of the advertised average",
            rate >= MIN_SHARE_OF_LIMIT * advertised,
            f"{rate:.2f} requests/s vs {advertised:.2f} advertised = {rate / advertised:.1%}",
            judged=judged,
        )
        result.target(
            f"{label}: zero 429 responses", refused == 0, f"{refused} refused", judged=judged
        )
    result.notes += [
        "`CommerceLayerHook().iter_resources('packages')` consumed until the deadline, then "
        "closed (the hook, not the operator: an operator cannot be stopped at a deadline). "
        f"Sandbox latency {sizes.latency * 1000:g} ms; one sandbox (fresh limiter) per variant.",
        "Requests and 429s are counted from the sandbox's access log; the clock runs from the "
        "first record asked for (token fetch included) to the deadline, so a request still in "
        "flight at the deadline (at most one, the page fetched ahead) counts without its time.",
        "Within any 60 s the server admits at most the average, so over a 60 s run 100% is the "
        "ceiling; the burst allowance only lets the first seconds run ahead of the average.",
    ]
    return result
