"""The benchmark harness's own logic: parsing, fingerprints, reports, and one real sandbox run.

The scenarios themselves run in ``make bench-smoke`` (CI) and ``make bench``; these tests keep
the pieces they rely on honest without timing anything.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.harness import (
    BenchmarkError,
    RunOptions,
    SandboxProcess,
    ScenarioResult,
    expected_serial_numbers,
    markdown_table,
    ratio,
    run_child,
)
from benchmarks.measure import RecordSet, current_rss_mib, peak_rss_mib
from benchmarks.parse_cost import heaviest_new_modules, parse_importtime

IMPORTTIME_SAMPLE = """\
import time: self [us] | cumulative | imported package
import time:      2000 |       2000 |   airflow.sdk.bases
import time:     10000 |      12000 | airflow.sdk
import time:       500 |        500 |     requests.models
import time:      3000 |       3500 |   requests
import time:       300 |        300 |   airflow_provider_inventory.operators.base
import time:       200 |       4000 | airflow_provider_inventory.operators.pack
"""


def test_parse_importtime_sums_top_level_lines_and_ours_separately() -> None:
    profile = parse_importtime(IMPORTTIME_SAMPLE)

    assert profile.total_ms == pytest.approx(16.0)
    assert profile.provider_ms == pytest.approx(4.0)
    assert profile.self_ms["requests.models"] == pytest.approx(0.5)


def test_parse_importtime_without_output_is_an_error() -> None:
    with pytest.raises(BenchmarkError, match="no -X importtime output"):
        parse_importtime("Traceback (most recent call last): ...")


def test_heaviest_new_modules_names_only_modules_the_base_lacks() -> None:
    ours = parse_importtime(IMPORTTIME_SAMPLE)
    base = parse_importtime(IMPORTTIME_SAMPLE.partition("import time:       500")[0])

    # requests (3 ms) is new and heavy; requests.models (0.5 ms) and ours are under 2 ms.
    assert heaviest_new_modules(ours, base) == "requests 3 ms"
    assert heaviest_new_modules(ours, ours) == "none"


def test_record_set_ignores_order_but_not_duplicates_or_missing_ids() -> None:
    expected = RecordSet.of_ids(["a", "b", "c"])

    assert RecordSet.of_ids(["c", "a", "b"]).mismatch(expected, "x") is None
    duplicated = RecordSet.of_ids(["a", "b", "b"])
    assert duplicated.distinct == 2
    assert "3 records (2 distinct ids)" in str(duplicated.mismatch(expected, "x"))
    assert "same count but different ids" in str(
        RecordSet.of_ids(["a", "b", "d"]).mismatch(expected, "x")
    )


def test_record_set_reads_jsonl_and_round_trips_through_json(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_text('{"id": "b", "x": 1}\n{"id": "a"}\n\n')

    found = RecordSet.of_jsonl(path)

    assert found == RecordSet.of_ids(["a", "b"])
    assert RecordSet.from_dict(json.loads(json.dumps(found.to_dict()))) == found


def test_memory_probes_report_plausible_figures() -> None:
    assert 1 < current_rss_mib() <= peak_rss_mib()


def test_report_marks_targets_and_problems() -> None:
    result = ScenarioResult(name="n", title="T", command="cmd", headers=["a", "b"])
    result.rows.append(["1", "2"])
    result.target("fast", False, "3 s", judged=True)
    result.target("small", False, "4 MiB", judged=False)
    result.check(None)
    result.check("wrong records")

    text = result.markdown()

    assert "| a | b |\n|---|---|\n| 1 | 2 |" in text
    assert "Target fast: **NOT MET** (3 s)" in text
    assert "Target small: **not judged** (4 MiB)" in text
    assert result.problems == ["wrong records"]


def test_markdown_table_and_ratio() -> None:
    assert markdown_table(["x"], [["1"]]) == "| x |\n|---|\n| 1 |"
    assert ratio(1, 4) == "0.25x"
    assert ratio(1, 0) == "n/a"


def test_sandbox_statuses_count_the_access_log() -> None:
    sandbox = SandboxProcess()
    sandbox.output = [
        '127.0.0.1 - - [22/Nov/2026 23:00:00] "GET /api/packages?page%5Bsize%5D=25 HTTP/1.1" 200 -',
        '127.0.0.1 - - [22/Nov/2026 23:00:01] "GET /api/packages?x=1 HTTP/1.1" 429 -',
        '127.0.0.1 - - [22/Nov/2026 23:00:01] "POST /oauth/token HTTP/1.1" 200 -',
    ]

    assert sandbox.statuses("/api/packages") == {200: 1, 429: 1}


def test_unknown_child_job_fails_with_the_childs_message(tmp_path: Path) -> None:
    options = RunOptions(smoke=True, workdir=tmp_path)

    with pytest.raises(BenchmarkError, match="unknown benchmark job 'nope'"):
        run_child("nope", {}, options.child_env({}), timeout=60)


def test_round_trip_probe_against_a_real_sandbox_process(tmp_path: Path) -> None:
    from benchmarks.pack_throughput import FULL, rtt_params

    options = RunOptions(smoke=True, workdir=tmp_path)
    with SandboxProcess(serial_numbers=300, log_requests=True) as sandbox:
        measured = run_child(
            "pack-rtt", {**rtt_params(sandbox, FULL), "samples": 2}, options.child_env({})
        )
        assert sandbox.url.startswith("http://127.0.0.1:")
    assert measured["samples"] == 2
    assert 0 < measured["min_s"] <= measured["median_s"] <= measured["max_s"]
    # One warm-up request plus the two timed ones, all answered 200 (per_page=100 of 300).
    assert sandbox.statuses("/v1/organizations/") == {200: 3}
    assert expected_serial_numbers(300).count == 300


def test_change_sets_listings_differ_by_one_percent_of_each_kind() -> None:
    from benchmarks.change_sets import listing

    first = {record["id"]: record for record in listing(1000, second=False)}
    second = {record["id"]: record for record in listing(1000, second=True)}

    assert len(first) == 1000
    assert len(first.keys() - second.keys()) == 10
    assert len(second.keys() - first.keys()) == 10
    assert sum(first[i] != second[i] for i in first.keys() & second.keys()) == 10
    assert list(first) != sorted(first)  # listed in an order unrelated to the ids
