"""Scenario 7: Parquet vs JSON Lines: CPU per record, peak memory and file size, side by side.

Two kinds of child process per format (``.jsonl``, ``.jsonl.gz``, ``.parquet``):

- the path alone: the serial numbers are fetched once and kept in memory, then
  ``records.write_records`` (with the operator's column layout) writes them, best of a few
  repetitions of ``time.process_time``; then ``read_records`` reads the file back (CPU timed the
  same way). The files' sizes come from here (same records for every format);
- the operator: ``PackSerialNumbersOperator(output_path=...).execute(context)`` at a small and a
  large size, each in a fresh interpreter, for peak RSS and its growth with the record count.

Every file is read back with ``read_records`` and checked against the sandbox's record set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.harness import (
    RunOptions,
    SandboxProcess,
    ScenarioResult,
    expected_serial_numbers,
    run_child,
)
from benchmarks.measure import RecordSet, current_rss_mib, peak_rss_mib, stopwatch

NAME = "file-formats"
PER_PAGE = 100
FORMATS = ("jsonl", "jsonl.gz", "parquet")
GROWTH_LIMIT_MIB = 20.0
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Sizes:
    """Records for the path and the large operator run; the small run; path repetitions."""

    large: int
    small: int
    repeats: int


FULL = Sizes(large=200_000, small=20_000, repeats=3)
SMOKE = Sizes(large=3_000, small=0, repeats=1)  # small=0: no second operator run (not judged)


def run(options: RunOptions) -> ScenarioResult:
    """Measure each format's path and operator runs; judge Parquet's memory growth and size."""
    sizes = SMOKE if options.smoke else FULL
    result = ScenarioResult(
        name=NAME,
        title=(
            f"7. Parquet vs JSON Lines: {sizes.large:,} Pack serial numbers, CPU per record, "
            f"peak memory, file size"
        ),
        command=options.command(NAME),
        headers=[
            "Format",
            "File (MiB)",
            "Size vs JSONL gzip",
            "Write CPU per record (us)",
            "Read CPU per record (us)",
            "Operator wall (s)",
            "RSS after imports (MiB)",
            "Peak RSS (MiB)",
            f"Listing memory at {sizes.small:,} (MiB)" if sizes.small else "-",
            f"Listing memory at {sizes.large:,} (MiB)",
        ],
    )
    operator_sizes = [size for size in (sizes.small, sizes.large) if size]
    expected = {size: expected_serial_numbers(size) for size in operator_sizes}
    operator_runs: dict[tuple[str, int], dict[str, Any]] = {}
    with SandboxProcess(serial_numbers=sizes.large) as sandbox:
        env = options.child_env(sandbox.connection_env())
        path = run_child(
            "format-path",
            {
                "formats": list(FORMATS),
                "repeats": sizes.repeats,
                "directory": str(options.workdir / "formats"),
            },
            env,
        )
        for fmt in FORMATS:
            operator_runs[fmt, sizes.large] = _operator_run(options, env, fmt, sizes.large)
    if sizes.small:
        with SandboxProcess(serial_numbers=sizes.small) as sandbox:
            env = options.child_env(sandbox.connection_env())
            for fmt in FORMATS:
                operator_runs[fmt, sizes.small] = _operator_run(options, env, fmt, sizes.small)

    for fmt in FORMATS:
        measured = path["formats"][fmt]
        result.check(
            RecordSet.from_dict(measured["records"]).mismatch(
                expected[sizes.large], f"{fmt} path file"
            )
        )
        for size in operator_sizes:
            got = RecordSet.from_dict(operator_runs[fmt, size]["records"])
            result.check(got.mismatch(expected[size], f"{fmt} operator, {size:,} records"))
    gzip_bytes = path["formats"]["jsonl.gz"]["bytes"]
    for fmt in FORMATS:
        measured, large = path["formats"][fmt], operator_runs[fmt, sizes.large]
        result.rows.append(
            [
                fmt,
                f"{measured['bytes'] / _MIB:.2f}",
                f"{measured['bytes'] / gzip_bytes:.2f}x",
                f"{measured['write_cpu_s'] / path['records'] * 1e6:.2f}",
                f"{measured['read_cpu_s'] / path['records'] * 1e6:.2f}",
                f"{large['wall_s']:.2f}",
                f"{large['rss_after_imports_mib']:.1f}",
                f"{large['peak_rss_mib']:.1f}",
                _listing_mib(operator_runs.get((fmt, sizes.small))),
                f"{large['listing_mib']:.1f}",
            ]
        )
    if sizes.small:
        growth = (
            operator_runs["parquet", sizes.large]["peak_rss_mib"]
            - operator_runs["parquet", sizes.small]["peak_rss_mib"]
        )
        result.target(
            f"Parquet peak RSS growth under {GROWTH_LIMIT_MIB:g} MiB",
            growth < GROWTH_LIMIT_MIB,
            f"{growth:+.1f} MiB from {sizes.small:,} to {sizes.large:,} records",
            judged=not options.smoke,
        )
    parquet_bytes = path["formats"]["parquet"]["bytes"]
    result.target(
        "Parquet file no larger than gzip JSONL",
        parquet_bytes <= gzip_bytes,
        f"{parquet_bytes / _MIB:.2f} MiB vs {gzip_bytes / _MIB:.2f} MiB",
        judged=not options.smoke,
    )
    result.notes += [
        f"Path: {path['records']:,} records fetched once into memory, then "
        f"`write_records(records, path, layout=<the operator's layout>)` per format, best of "
        f"{sizes.repeats} (CPU of the writing thread, `time.process_time`); read CPU: "
        f"`sum(1 for _ in read_records(path))`, best of {sizes.repeats}.",
        f"Operator: `PackSerialNumbersOperator(per_page={PER_PAGE}, output_path=...)"
        f".execute(context)`, no latency, one fresh interpreter per format and size. RSS after "
        f"imports is taken after `check_output_path(output_path)` (what execute does first), "
        f"which imports pyarrow for Parquet; listing memory = peak RSS minus that.",
        "Parquet: zstd, one row group per 10,000 records, typed columns (strings, UTC "
        "timestamps). JSONL gzip: level 6.",
    ]
    return result


def _listing_mib(measured: dict[str, Any] | None) -> str:
    return "" if measured is None else f"{measured['listing_mib']:.1f}"


def _operator_run(options: RunOptions, env: dict[str, str], fmt: str, size: int) -> dict[str, Any]:
    output = options.output_file(f"formats-operator-{size}.{fmt}")
    return run_child("format-operator", {"per_page": PER_PAGE, "output": str(output)}, env)


def child_format_path(params: dict[str, Any]) -> dict[str, Any]:
    """Fetch every serial number once, then time writing and reading each format.

    Params:
        formats: the file extensions to measure.
        repeats: repetitions per format; the lowest CPU time is reported.
        directory: where to write the files.
    """
    from airflow_provider_inventory.hooks.pack import PackHook
    from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator
    from airflow_provider_inventory.records import (
        RecordLayout,
        check_output_path,
        read_records,
        write_records,
    )

    with PackHook() as hook:
        records = list(hook.iter_serial_numbers(per_page=PER_PAGE))
    operator = PackSerialNumbersOperator(task_id="layout")
    arguments = operator.listing_arguments()
    layout = RecordLayout.of(
        operator.declared_columns(arguments), known=operator.known_fields(arguments)
    )
    directory = Path(params["directory"])
    directory.mkdir(parents=True, exist_ok=True)
    measured: dict[str, Any] = {}
    for fmt in params["formats"]:
        target = directory / f"serial_numbers.{fmt}"
        check_output_path(target)  # imports pyarrow for Parquet, outside the timed writes
        writes, reads = [], []
        for _ in range(int(params["repeats"])):
            started = time.process_time()
            manifest = write_records(records, target, layout=layout)
            writes.append(time.process_time() - started)
            started = time.process_time()
            sum(1 for _ in read_records(target))
            reads.append(time.process_time() - started)
        measured[fmt] = {
            "bytes": manifest["bytes"],
            "write_cpu_s": min(writes),
            "read_cpu_s": min(reads),
            "records": RecordSet.of_ids(r["id"] for r in read_records(target)).to_dict(),
        }
    return {"records": len(records), "formats": measured}


def child_format_operator(params: dict[str, Any]) -> dict[str, Any]:
    """List every serial number with ``PackSerialNumbersOperator`` into ``params['output']``."""
    from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator
    from benchmarks.airflow_context import task_context

    output = Path(params["output"])
    operator = PackSerialNumbersOperator(
        task_id="bench_formats", per_page=params["per_page"], output_path=str(output)
    )
    from airflow_provider_inventory.records import check_output_path, read_records

    context = task_context(operator)
    check_output_path(output)  # what execute does first; imports pyarrow for Parquet
    after_imports = current_rss_mib()
    with stopwatch() as watch:
        operator.execute(context)
    peak = peak_rss_mib()  # before the check below reads the file back

    return {
        "wall_s": watch.wall,
        "cpu_s": watch.cpu,
        "rss_after_imports_mib": after_imports,
        "peak_rss_mib": peak,
        "listing_mib": peak - after_imports,
        "records": RecordSet.of_ids(r["id"] for r in read_records(output)).to_dict(),
    }
