"""The shared operator plumbing: rendered-argument parsing, progress logging, cheap imports."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from airflow_provider_inventory._http.client import ClientStats
from airflow_provider_inventory._http.paginators import Page
from airflow_provider_inventory._http.stream import RecordStream
from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.operators.base import (
    ListingProgress,
    integer_argument,
    mapping_argument,
    names_argument,
)
from airflow_provider_inventory.operators.commercelayer import (
    CommerceLayerListOperator,
    CommerceLayerPartitionPlanOperator,
)
from airflow_provider_inventory.operators.pack import PackSerialNumbersOperator


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ({"a": None}, {"a": None}),
        (
            '{"fulfillment_line_id": null, "stock_id": ["s1", "s2"]}',
            {
                "fulfillment_line_id": None,
                "stock_id": ["s1", "s2"],
            },
        ),
        ("{'fulfillment_line_id': None, 'n': 5}", {"fulfillment_line_id": None, "n": 5}),
    ],
)
def test_mapping_argument(value: Any, expected: Any) -> None:
    assert mapping_argument(value, "where", "{}") == expected


@pytest.mark.parametrize("value", ["a = 1", "[1, 2]", "{'a': ", 5, ["a"]])
def test_mapping_argument_rejects_non_dicts(value: Any) -> None:
    with pytest.raises(InventoryConfigError, match=r"where.*dict"):
        mapping_argument(value, "where", "{'a': None}")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("prod_1", "prod_1"),
        (" id, code ", "id, code"),
        ("['prod_1', 'prod_2']", ["prod_1", "prod_2"]),
        ('["prod_1"]', ["prod_1"]),
        ("('a', 'b')", ["a", "b"]),
        (("a", "b"), ["a", "b"]),
    ],
)
def test_names_argument(value: Any, expected: Any) -> None:
    assert names_argument(value, "product_id") == expected


@pytest.mark.parametrize("value", [42, {"a": 1}, "[unclosed"])
def test_names_argument_rejects_other_values(value: Any) -> None:
    with pytest.raises(InventoryConfigError, match="product_id"):
        names_argument(value, "product_id")


@pytest.mark.parametrize(("value", "expected"), [(None, None), (5, 5), ("25", 25), (" 7 ", 7)])
def test_integer_argument(value: Any, expected: Any) -> None:
    assert integer_argument(value, "page_size") == expected


@pytest.mark.parametrize("value", [0, "0", -3, "2.5", 2.5, True, "ten"])
def test_integer_argument_rejects_other_values(value: Any) -> None:
    with pytest.raises(InventoryConfigError, match="page_size must be a whole number >= 1"):
        integer_argument(value, "page_size")


class FakeClock:
    """Each reading is ``step`` seconds after the previous one."""

    def __init__(self, step: float) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class RecordingLog:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.logged = threading.Event()

    def info(self, msg: Any, /, *args: Any) -> None:
        self.lines.append(msg % args)
        self.logged.set()


def stream_of(
    records: list[dict[str, Any]], stats: Callable[[], ClientStats], pages: int = 7
) -> RecordStream:
    """A record stream over ``records`` cut into ``pages`` pages, reporting ``stats``."""
    size = -(-len(records) // pages) or 1
    chunks = [records[number * size : (number + 1) * size] for number in range(pages)]
    return RecordStream(
        iter([Page(chunk, "http://api.test/things") for chunk in chunks]),
        what="Things",
        stats=stats,
    )


def test_progress_counts_and_describes() -> None:
    stats = ClientStats(requests=12, retries=3, paced_seconds=1.5)
    started = ClientStats()
    reads = iter([started, *[stats] * 100])
    stream = stream_of([{"id": str(n)} for n in range(100)], lambda: next(reads))
    observed: list[dict[str, Any]] = []
    progress = ListingProgress("Things", stream, RecordingLog(), clock=FakeClock(10.0))

    kept = list(
        progress.count_kept(
            r for r in progress.count_fetched(stream, observed.append) if int(r["id"]) % 2
        )
    )

    assert len(observed) == progress.fetched == 100
    assert len(kept) == progress.kept == 50
    assert progress.describe() == (
        "Things: 100 fetched, 50 kept, 7 pages, 12 requests, 10 records/s, 3 retries, "
        "1.5 s paced, 10.0 s elapsed"
    )


def test_progress_reports_while_no_record_comes_through() -> None:
    """A listing that reads pages but passes nothing on (Pack's window) still logs progress."""
    log = RecordingLog()

    def pages_then_a_record_after_a_progress_line() -> Iterator[Page]:
        for _ in range(7):
            yield Page([], "http://api.test/things")
        deadline = time.monotonic() + 30
        while not any("7 pages" in line for line in log.lines):
            assert time.monotonic() < deadline
            time.sleep(0.005)
        yield Page([{"id": "1"}], "http://api.test/things")

    stream = RecordStream(pages_then_a_record_after_a_progress_line(), what="Things")
    progress = ListingProgress("Things", stream, log, interval=0.01)

    with progress.reporting():
        records = list(progress.count_fetched(stream, lambda record: None))

    lines_when_done = len(log.lines)
    assert records == [{"id": "1"}]
    assert any(line.startswith("Things: 0 fetched, 0 kept, 7 pages") for line in log.lines)
    assert len(log.lines) == lines_when_done  # the reporter stopped with the block


def test_progress_is_quiet_within_an_interval_and_survives_a_failing_read() -> None:
    calls: list[int] = []
    retried = threading.Event()

    def flaky_stats() -> ClientStats:
        calls.append(1)
        if len(calls) == 1:
            return ClientStats()  # the stream's start
        if len(calls) >= 4:
            retried.set()
        raise RuntimeError("dictionary changed size during iteration")

    log = RecordingLog()
    quiet_stream = stream_of([], ClientStats)
    quiet = ListingProgress("Things", quiet_stream, log, interval=3600)
    with quiet.reporting():
        assert list(quiet.count_fetched(quiet_stream, lambda record: None)) == []
    assert log.lines == []

    failing = ListingProgress("Things", stream_of([], flaky_stats).start(), log, interval=0.001)
    with failing.reporting():
        assert retried.wait(timeout=30)
    assert log.lines == []


def test_template_fields_cover_every_user_argument() -> None:
    pack = set(PackSerialNumbersOperator.template_fields)
    assert pack == {
        "pack_conn_id",
        "product_id",
        "stock_id",
        "code",
        "warehouse_id",
        "per_page",
        "max_workers",
        "expand",
        "where",
        "select",
        "updated_since",
        "updated_before",
        "output_path",
        "snapshot_path",
        "max_deleted_fraction",
    }
    assert set(CommerceLayerListOperator.template_fields) == {
        "commercelayer_conn_id",
        "resource",
        "filters",
        "sort",
        "fields",
        "include",
        "page_size",
        "max_workers",
        "partition",
        "where",
        "select",
        "updated_since",
        "updated_before",
        "output_path",
        "snapshot_path",
        "max_deleted_fraction",
    }
    assert set(CommerceLayerPartitionPlanOperator.template_fields) == {
        "commercelayer_conn_id",
        "resource",
        "partitions",
        "filters",
        "updated_since",
        "updated_before",
    }


def test_operator_modules_import_no_http_stack() -> None:
    """DAG files import operators on every parse: hooks, requests and records load at execute."""
    code = (
        "import sys;"
        "import airflow_provider_inventory.operators.pack;"
        "import airflow_provider_inventory.operators.commercelayer;"
        "heavy = ['requests', 'urllib3', 'airflow_provider_inventory.hooks.pack',"
        " 'airflow_provider_inventory.hooks.commercelayer', 'airflow_provider_inventory.records'];"
        "print('loaded:', *[m for m in heavy if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "loaded:\n" in out.stdout
