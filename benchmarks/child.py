"""Entry point of a measured child process: ``python -m benchmarks.child JOB PARAMS_JSON``.

The job runs in a fresh interpreter so that its memory figures cover only its own imports and
work. It prints one line, :data:`benchmarks.harness.RESULT_MARKER` followed by a JSON object;
anything else it prints is ignored by the parent.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from typing import Any

RESULT_MARKER = "BENCH-RESULT "

#: job name -> "module:function"; the function takes the params dict and returns a JSON-able dict.
JOBS = {
    "pack-operator": "benchmarks.pack_throughput:child_pack_operator",
    "pack-baseline": "benchmarks.pack_throughput:child_http_operator",
    "pack-rtt": "benchmarks.pack_throughput:child_round_trip",
    "pack-parallel": "benchmarks.pack_parallel:child_parallel",
    "cl-listing": "benchmarks.commercelayer_jobs:child_listing",
    "cl-timed": "benchmarks.commercelayer_jobs:child_timed_listing",
    "cl-partition": "benchmarks.commercelayer_jobs:child_partition",
    "cl-export": "benchmarks.cl_exports:child_export",
    "cpu-path": "benchmarks.cpu_cost:child_cpu_path",
    "format-path": "benchmarks.file_formats:child_format_path",
    "format-operator": "benchmarks.file_formats:child_format_operator",
    "changes-first": "benchmarks.change_sets:child_first_run",
    "changes-compare": "benchmarks.change_sets:child_compare",
}


def resolve(job: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """The function that runs ``job``.

    Raises:
        SystemExit: ``job`` is not a known job name.
    """
    if job not in JOBS:
        raise SystemExit(f"unknown benchmark job {job!r}; known: {', '.join(sorted(JOBS))}")
    module_name, _, function_name = JOBS[job].partition(":")
    function: Callable[[dict[str, Any]], dict[str, Any]] = getattr(
        importlib.import_module(module_name), function_name
    )
    return function


def main(argv: list[str]) -> int:
    """Run the job named in ``argv[1]`` with the JSON parameters in ``argv[2]``."""
    if len(argv) != 3:
        raise SystemExit("usage: python -m benchmarks.child JOB PARAMS_JSON")
    result = resolve(argv[1])(json.loads(argv[2]))
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
