"""One "task process" for the host-sharing tests: ``python -m tests.http.host_worker PARAMS``.

It builds a ``CommerceLayerHook`` from the ``AIRFLOW_CONN_COMMERCELAYER_DEFAULT`` it inherited,
prints ``READY``, waits for a line on stdin (so that every process starts listing at once, after
their imports), lists one partition of packages and prints ``RESULT {json}``.
"""

from __future__ import annotations

import json
import sys
import time


def main(argv: list[str]) -> int:
    """List the partition in ``argv[1]`` (JSON: partition, page_size, optional clock_shift in
    seconds) and report the ids."""
    params = json.loads(argv[1])
    real_time = time.time
    _shift_clocks(params.get("clock_shift", 0.0))
    from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook

    hook = CommerceLayerHook()
    hook.pacer("uncacheable")  # reads the connection and the host settings before the start
    print("READY", flush=True)
    sys.stdin.readline()
    started = real_time()
    with hook:
        stream = hook.iter_resources(
            "packages", page_size=params["page_size"], partition=params["partition"]
        )
        ids = [record["id"] for record in stream]
        stats = hook.stats
    result = {
        "ids": ids,
        "started": started,
        "ended": real_time(),
        "requests": stats.requests,
        "paced_s": stats.paced_seconds,
    }
    print("RESULT " + json.dumps(result), flush=True)
    return 0


def _shift_clocks(seconds: float) -> None:
    """Move this process's clocks (``time.monotonic`` and ``time.time``, what the provider
    reads) by ``seconds``, as on a host whose clock is off; before the provider is imported,
    so that its default clock arguments are the shifted ones."""
    if not seconds:
        return
    monotonic, wall = time.monotonic, time.time
    time.monotonic = lambda: monotonic() + seconds
    time.time = lambda: wall() + seconds


if __name__ == "__main__":
    sys.exit(main(sys.argv))
