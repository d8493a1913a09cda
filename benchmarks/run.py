"""Run the benchmarks and print each table as Markdown.

Usage::

    python -m benchmarks.run                 # full sizes, targets judged (make bench)
    python -m benchmarks.run --smoke         # small sizes, correctness only (make bench-smoke)
    python -m benchmarks.run --only cl-parallelism --only parse-cost
    python -m benchmarks.run --long --no-store-only --only cl-fleet-budget  # 5 minutes, no Redis

Exits 1 when a scenario crashes or returns a wrong record set; a missed performance target is
reported as NOT MET in the output but does not fail the run (numbers on a shared machine are
noisy; the README records them with their reasons).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import shutil
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path

from benchmarks.harness import (
    BenchmarkError,
    RunOptions,
    ScenarioResult,
    machine_description,
    scratch_directory,
)

#: scenario name -> module; each module has ``run(options) -> ScenarioResult``.
SCENARIOS = {
    "pack-throughput": "benchmarks.pack_throughput",
    "memory-growth": "benchmarks.memory_growth",
    "cl-rate-limit": "benchmarks.cl_rate_limit",
    "cl-parallelism": "benchmarks.cl_parallelism",
    "cpu-cost": "benchmarks.cpu_cost",
    "parse-cost": "benchmarks.parse_cost",
    "file-formats": "benchmarks.file_formats",
    "cl-host-sharing": "benchmarks.cl_host_sharing",
    "change-sets": "benchmarks.change_sets",
    "pack-parallel": "benchmarks.pack_parallel",
    "cl-exports": "benchmarks.cl_exports",
    "cl-fleet-budget": "benchmarks.cl_fleet_budget",
}
#: Scenarios that compare against apache-airflow-providers-http.
NEEDS_BASELINE = frozenset({"pack-throughput"})
BASELINE_DISTRIBUTION = "apache-airflow-providers-http"


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    """The command line (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__)
    parser.add_argument(
        "--smoke", action="store_true", help="small sizes, correctness checks only (CI)"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument(
        "--long",
        action="store_true",
        help="the long variant where a scenario has one (cl-fleet-budget: a 5-minute run)",
    )
    parser.add_argument(
        "--no-store-only",
        action="store_true",
        help="skip the variants that need a shared store (cl-fleet-budget: the Redis budget)",
    )
    return parser.parse_args(argv)


def ensure_baseline_installed() -> None:
    """Install apache-airflow-providers-http for the baseline if it is missing.

    It is a benchmark-only dependency, so it is not in the project's requirements. Uses the
    virtualenv's ``uv`` when present, else ``pip``.

    Raises:
        BenchmarkError: the installation failed.
    """
    if importlib.util.find_spec("airflow.providers.http") is not None:
        return
    uv = Path(sys.executable).parent / "uv"
    uv_path = str(uv) if uv.exists() else shutil.which("uv")
    commands = [[sys.executable, "-m", "pip", "install", "--quiet", BASELINE_DISTRIBUTION]]
    if uv_path:
        commands.insert(
            0,
            [
                uv_path,
                "pip",
                "install",
                "--quiet",
                "--python",
                sys.executable,
                BASELINE_DISTRIBUTION,
            ],
        )
    for command in commands:
        print(f"Installing the baseline for the benchmarks: {' '.join(command)}", flush=True)
        if subprocess.run(command, check=False).returncode == 0:
            importlib.invalidate_caches()
            return
    raise BenchmarkError(
        f"Could not install {BASELINE_DISTRIBUTION}; install it into this interpreter by hand "
        f"({sys.executable} -m pip install {BASELINE_DISTRIBUTION}) and run again."
    )


def run_scenario(name: str, options: RunOptions) -> ScenarioResult:
    """Run one scenario; a crash becomes a correctness problem of its result."""
    module = importlib.import_module(SCENARIOS[name])
    run: Callable[[RunOptions], ScenarioResult] = module.run
    try:
        return run(options)
    except Exception as error:
        failed = ScenarioResult(name=name, title=f"{name} (failed)", command=options.command(name))
        detail = str(error) if isinstance(error, BenchmarkError) else traceback.format_exc()
        failed.problems.append(f"the scenario crashed: {detail}")
        return failed


def print_summary(results: Sequence[ScenarioResult], elapsed: float) -> None:
    """Every target's verdict and every problem, after the tables."""
    print("## Summary\n")
    for result in results:
        for target in result.targets:
            print(f"- {result.name}: {target.name}: {target.verdict}")
        for problem in result.problems:
            print(f"- {result.name}: CORRECTNESS PROBLEM: {problem.splitlines()[0]}")
    print(f"\nTotal time: {elapsed:.0f} s")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected scenarios; return 1 if any crashed or returned wrong records."""
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = list(dict.fromkeys(args.only or SCENARIOS))
    started = time.perf_counter()
    mode = "smoke (small sizes, correctness only)" if args.smoke else "full"
    print(f"# Inventory provider benchmarks: {mode}\n")
    if NEEDS_BASELINE.intersection(names):
        try:
            ensure_baseline_installed()
        except BenchmarkError as error:
            print(f"ERROR: {error}", file=sys.stderr)
            return 1
    print(machine_description() + "\n", flush=True)
    results = []
    with scratch_directory() as workdir:
        options = RunOptions(
            smoke=args.smoke,
            workdir=workdir,
            long=args.long,
            no_store_only=args.no_store_only,
        )
        for name in names:
            print(f"<!-- running {name} ... -->", flush=True)
            result = run_scenario(name, options)
            results.append(result)
            print(result.markdown(), flush=True)
    print_summary(results, time.perf_counter() - started)
    return 1 if any(result.problems for result in results) else 0


if __name__ == "__main__":
    sys.exit(main())
