"""Scenario 9: mapped Commerce Layer partitions on separate hosts, with and without a fleet budget.

Eight processes each list one partition of the packages at the same moment, each with a host
cache directory of its own (as on a host of its own: Celery workers on several machines, a pod
per task), against the sandbox's limits (120/min average, 30/10 s burst, Commerce Layer's
shape). Two variants, each against a fresh sandbox:

- **Redis fleet budget** (``rate_limit_redis_conn_id``): every process draws from one budget and
  one access token in a real ``redis-server`` (Debian's package) on a loopback port;
- **no store**: each host paces on its own and converges through ``X-Ratelimit-Remaining`` and
  429s (each 429 costs its host the server's interval).

Measured: the aggregate rate of answered requests vs the advertised average, the 429s and the
token requests, all counted by the server.
"""

from __future__ import annotations

import json

from benchmarks.cl_host_sharing import (
    Sizes,
    partitions,
    tally_run,
)
from benchmarks.cl_host_sharing import run_processes as run_partitions
from benchmarks.harness import (
    RunOptions,
    SandboxProcess,
    ScenarioResult,
    expected_package_ids,
)

NAME = "cl-fleet-budget"
REDIS_CONN_ID = "redis_fleet"
MIN_SHARE_WITH_REDIS = 0.95


FULL = Sizes(8, 2_000, average_per_minute=120, burst_per_10s=30, latency=0.02, start_delay=40)
#: ``--long``: 480 pages, 4 minutes at the full average (about 5 at 80 % of it), so the start-up
#: (convergence, any 429's hold of the server's interval) weighs as in a real 5-minute run.
LONG = Sizes(8, 12_000, average_per_minute=120, burst_per_10s=30, latency=0.02, start_delay=40)
SMOKE = Sizes(2, 100, average_per_minute=600, burst_per_10s=150, latency=0.0, start_delay=6)


def run(options: RunOptions) -> ScenarioResult:
    """Run both variants and judge rate, 429s and token requests."""
    from cryptography.fernet import Fernet

    from airflow_provider_inventory.sandbox.redis_server import RedisServer, redis_server_binary

    sizes = SMOKE if options.smoke else LONG if options.long else FULL
    advertised = sizes.average_per_minute / 60
    result = ScenarioResult(
        name=NAME,
        title=(
            f"12. Mapped partitions on separate hosts: {sizes.processes} processes, each with a "
            f"host cache of its own, {sizes.packages:,} packages, {sizes.average_per_minute}/min "
            f"average, {sizes.burst_per_10s}/10 s burst"
        ),
        command=options.command(NAME),
        headers=[
            "Shared store",
            "Wall (s)",
            "Requests answered 200",
            "Aggregate requests/s",
            "vs advertised average",
            "429 responses",
            "Token requests",
            "Processes late to the start",
        ],
    )
    variants = [
        ("Redis fleet budget (one budget, one token)", True),
        ("no store (each host on its own)", False),
    ]
    if options.no_store_only:
        variants = variants[1:]
    elif redis_server_binary() is None:
        result.check("redis-server is not installed (Debian: apt-get install redis-server)")
        return result
    all_ids = expected_package_ids(sizes.packages)
    specs = partitions(all_ids, sizes.processes)
    fernet_key = Fernet.generate_key().decode()
    with RedisServer() as redis:
        for label, fleet in variants:
            extra = {"rate_limit_redis_conn_id": REDIS_CONN_ID} if fleet else {}
            with SandboxProcess(
                packages=sizes.packages,
                latency=sizes.latency,
                rate_limit=(sizes.average_per_minute, sizes.burst_per_10s),
                log_requests=True,
            ) as sandbox:
                env = options.child_env(sandbox.connection_env(commercelayer_extra=extra))
                env["AIRFLOW__CORE__FERNET_KEY"] = fernet_key
                env[f"AIRFLOW_CONN_{REDIS_CONN_ID.upper()}"] = json.dumps(redis.connection())
                caches = options.workdir / f"host-caches-{NAME}-{int(fleet)}"

                def host_of_its_own(n: int) -> dict[str, str]:
                    return {"INVENTORY_CACHE_DIR": str(caches / f"host-{n}")}  # noqa: B023

                results = run_partitions(specs, env, sizes.start_delay, host_of_its_own)
            rate, refused, tokens = tally_run(
                result, label, sandbox, specs, results, all_ids, advertised
            )
            if fleet:
                outages = [w for r in results for w in r["warnings"] if "Redis connection" in w]
                result.notes.append(
                    f"Redis outages seen by the processes (one WARNING each): {len(outages)}"
                    + "".join(f"; {w.split('WARNING', 1)[-1][:200]}" for w in outages[:3])
                )
            judged = not options.smoke
            if fleet:
                result.target(
                    f"Redis: >= {MIN_SHARE_WITH_REDIS:.0%} of the advertised average",
                    rate >= MIN_SHARE_WITH_REDIS * advertised,
                    f"{rate:.3f} requests/s vs {advertised:.3f} advertised = {rate / advertised:.1%}",
                    judged=judged,
                )
                result.target(
                    "Redis: zero 429 responses", refused == 0, f"{refused}", judged=judged
                )
                result.target("Redis: one token request", tokens == 1, f"{tokens}", judged=judged)
            else:
                result.target(
                    "no store: >= 70% of the advertised average, <= one 429 per host",
                    rate >= 0.7 * advertised and refused <= sizes.processes,
                    f"{rate / advertised:.1%}, {refused} x 429 for {sizes.processes} hosts",
                    judged=judged,
                )
    result.notes += [
        f"{sizes.processes} fresh interpreters (`python -m benchmarks.child cl-partition`), each "
        "`CommerceLayerHook().iter_resources('packages', partition=...)` over one id range with "
        "`INVENTORY_CACHE_DIR` of its own (a host of its own); they import and build the hook, "
        f"then start together ({sizes.start_delay:g} s after launch). Requests, 429s and token "
        "requests are counted from the sandbox's access log; wall is from the first start to "
        "the last end.",
        "Connection limits are not pinned: each process starts from the documented live "
        "defaults and adopts the advertised limit. A Fernet key is set, as in a deployment.",
        "Redis: Debian's `redis-server` on a loopback port, no persistence, started by the "
        "benchmark (`airflow_provider_inventory.sandbox.redis_server`).",
    ]
    return result
