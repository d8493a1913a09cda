"""Scenario 3: Commerce Layer throughput under the API's rate limits.

The sandbox limits package reads to an average per minute and a burst per 10 s, as Commerce
Layer does, and answers 429 beyond them. A keyset listing runs for a fixed time, then stops;
the rate it sustained is compared with the advertised average, and the server's own access log
says how many requests it refused. Each variant runs against a fresh sandbox (fresh limiter):

- limits pinned on the connection, and no limits configured (the client starts from the
  documented live defaults and adopts the server's ``X-Ratelimit-*`` headers);
- a burst tighter than the documented average/burst ratio (90/min with 16 per 10 s, where the
  documented ratio would allow 22): the client does not know the burst and must not trip it;
- very low limits (30/min, 5 per 10 s): a whole 12-page listing, judged on its duration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
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
class Case:
    """One variant: the sandbox's limits, the connection's extras and how long to list.

    ``seconds`` lists for a fixed time; ``pages`` (with ``seconds=None``) lists a whole
    resource of that many pages and is judged on its duration.
    """

    label: str
    average_per_minute: int
    burst_per_10s: int
    extra: dict[str, Any] = field(default_factory=dict)
    seconds: float | None = None
    pages: int | None = None
    min_share: float = MIN_SHARE_OF_LIMIT
    packages: int = 20_000


PAGE_SIZE = 25
LATENCY = {"full": 0.02, "smoke": 0.002}


def cases(smoke: bool) -> list[Case]:
    """The variants, side by side (smaller and shorter for the smoke run)."""
    average, burst = (120, 20) if smoke else (600, 150)
    seconds = 2.0 if smoke else 60.0
    pinned = {
        "rate_limit_average": average,
        "rate_limit_interval": 60,
        "rate_limit_burst": burst,
        "rate_limit_burst_interval": 10,
    }
    pages = 2 if smoke else 12
    return [
        Case("pinned on the connection", average, burst, pinned, seconds=seconds),
        Case("adopted from X-Ratelimit-* headers", average, burst, seconds=seconds),
        Case(
            "burst tighter than the documented ratio (90/min, 16/10 s)",
            90,
            16,
            seconds=seconds,
            min_share=0.95,
        ),
        Case(
            f"very low limits (30/min, 5/10 s), {pages} pages",
            30,
            5,
            pages=pages,
            # The last page short, so the listing ends on it.
            packages=pages * PAGE_SIZE - PAGE_SIZE // 2,
        ),
    ]


def run(options: RunOptions) -> ScenarioResult:
    """Run each variant and judge the rate (or the duration) and the 429 count."""
    latency = LATENCY["smoke" if options.smoke else "full"]
    result = ScenarioResult(
        name=NAME,
        title="3. Commerce Layer under rate limits: documented, tighter-burst and very low limits",
        command=options.command(NAME),
        headers=[
            "Sandbox limits / client limits",
            "Seconds",
            "Requests answered 200",
            "Requests/s",
            "vs advertised average",
            "429 responses",
            "Client retries",
            "Seconds paced",
        ],
    )
    judged = not options.smoke
    for case in cases(options.smoke):
        advertised = case.average_per_minute / 60
        with SandboxProcess(
            packages=case.packages,
            latency=latency,
            rate_limit=(case.average_per_minute, case.burst_per_10s),
            log_requests=True,
        ) as sandbox:
            env = options.child_env(sandbox.connection_env(commercelayer_extra=case.extra))
            seconds = case.seconds if case.seconds is not None else 600.0
            measured = run_child("cl-timed", {"seconds": seconds}, env)
        statuses = sandbox.statuses(PACKAGES_PATH)
        answered, refused = statuses.get(200, 0), statuses.get(429, 0)
        rate = answered / measured["elapsed_s"]
        result.rows.append(
            [
                case.label,
                f"{measured['elapsed_s']:.1f}",
                f"{answered}",
                f"{rate:.2f}",
                f"{rate / advertised:.2f}x",
                f"{refused}",
                f"{measured['retries']}",
                f"{measured['paced_s']:.1f}",
            ]
        )
        all_ids = expected_package_ids(case.packages)
        got = RecordSet.from_dict(measured["records"])
        if case.seconds is not None:
            # Keyset paging by id: what was consumed must be exactly the lowest ids, each once.
            result.check(got.mismatch(RecordSet.of_ids(all_ids[: got.count]), case.label))
            if measured["exhausted"]:
                result.check(f"{case.label}: the sandbox ran out of packages before the deadline")
            result.target(
                f"{case.label}: >= {case.min_share:.0%} of the advertised average",
                rate >= case.min_share * advertised,
                f"{rate:.2f} requests/s vs {advertised:.2f} advertised = {rate / advertised:.1%}",
                judged=judged,
            )
            result.target(
                f"{case.label}: zero 429 responses",
                refused == 0,
                f"{refused} refused",
                judged=judged,
            )
        else:
            result.check(got.mismatch(RecordSet.of_ids(all_ids), case.label))
            pages = case.pages or 0
            budget = pages / advertised + 10
            result.target(
                f"{case.label}: done within pages / rate + 10 s = {budget:.0f} s",
                measured["elapsed_s"] <= budget,
                f"{measured['elapsed_s']:.1f} s for {answered} pages",
                judged=judged,
            )
            result.target(
                f"{case.label}: no 429 after the first",
                refused <= 1,
                f"{refused} refused",
                judged=judged,
            )
    result.notes += [
        "`CommerceLayerHook().iter_resources('packages')` consumed until the deadline, then "
        "closed (the hook, not the operator: an operator cannot be stopped at a deadline); "
        "the very-low-limits variant lists the whole resource. "
        f"Sandbox latency {latency * 1000:g} ms; one sandbox (fresh limiter) per variant.",
        "Requests and 429s are counted from the sandbox's access log; the clock runs from the "
        "first record asked for (token fetch included) to the deadline, so a request still in "
        "flight at the deadline (at most one, the page fetched ahead) counts without its time.",
        "The pacer spaces requests evenly at 98% of the average (no initial burst), so 98% is "
        "the ceiling of a run that starts with an empty window.",
    ]
    return result
