"""Watermark, the XCom size guard and manifest assembly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest

from airflow_provider_inventory.exceptions import BadResponseError, InventoryConfigError
from airflow_provider_inventory.records import (
    DEFAULT_MAX_XCOM_RECORDS,
    Watermark,
    XComLimitExceededError,
    build_manifest,
    collect_for_xcom,
    output_format,
)
from airflow_provider_inventory.sandbox import Sandbox
from airflow_provider_inventory.window import Window, parse_instant

# ---------------------------------------------------------------------- watermark


def watermark_of(*timestamps: Any) -> str | None:
    watermark = Watermark()
    for timestamp in timestamps:
        watermark.observe({"updated_at": timestamp})
    return watermark.value


def test_watermark_of_nothing_is_none() -> None:
    assert watermark_of() is None
    assert watermark_of(None, "") is None


def test_watermark_same_format_keeps_the_largest_text() -> None:
    assert (
        watermark_of(
            "2025-05-01T10:00:00.000Z", "2025-05-03T08:00:00.250Z", "2025-05-02T23:59:59.999Z"
        )
        == "2025-05-03T08:00:00.250Z"
    )


@pytest.mark.parametrize(
    ("timestamps", "expected"),
    [
        # an offset that lexically looks smaller but is later as an instant
        (["2025-05-01T10:00:00.000Z", "2025-05-01T11:30:00+02:00"], "2025-05-01T10:00:00.000Z"),
        (["2025-05-01T10:00:00.000Z", "2025-05-01T08:30:00-02:00"], "2025-05-01T08:30:00-02:00"),
        # different precisions of Z timestamps: lexical order would be wrong ('.' < 'Z')
        (["2025-05-01T10:00:00Z", "2025-05-01T10:00:00.500Z"], "2025-05-01T10:00:00.500Z"),
        (["2025-05-01T10:00:00.500Z", "2025-05-01T10:00:01Z"], "2025-05-01T10:00:01Z"),
        (["2025-05-01T10:00:00.123456Z", "2025-05-01T10:00:00.124Z"], "2025-05-01T10:00:00.124Z"),
        # a naive timestamp is UTC
        (["2025-05-01T10:00:00.000Z", "2025-05-01T10:00:00.001"], "2025-05-01T10:00:00.001"),
        # equal instants: the first text stays
        (["2025-05-01T12:00:00+02:00", "2025-05-01T10:00:00.000Z"], "2025-05-01T12:00:00+02:00"),
    ],
)
def test_watermark_compares_mixed_formats_as_instants(timestamps: list[str], expected: str) -> None:
    assert watermark_of(*timestamps) == expected
    # in the other order the winner names the same instant (its text may differ when tied)
    assert parse_instant(watermark_of(*reversed(timestamps)), "t") == parse_instant(expected, "t")


def test_watermark_accepts_datetimes_and_formats_them() -> None:
    moment = datetime(2025, 6, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert watermark_of("2025-06-01T11:00:00.000Z", moment) == "2025-06-01T12:00:00.123Z"
    assert (
        watermark_of(pendulum.datetime(2025, 6, 1, 14, tz="Europe/Paris"), "2025-06-01T11:59:59Z")
        == "2025-06-01T12:00:00.000Z"
    )


def test_watermark_rejects_a_timestamp_that_is_not_one() -> None:
    with pytest.raises(BadResponseError, match=r"updated_at is 'yesterday', not an ISO-8601"):
        watermark_of("2025-05-01T10:00:00.000Z", "yesterday")


def test_watermark_tracks_a_dotted_field_and_counts_records() -> None:
    watermark = Watermark("meta.updated")
    records: list[dict[str, Any]] = [
        {"meta": {"updated": "2025-01-02T00:00:00Z"}},
        {"meta": {}},
        {},
    ]

    assert list(watermark.track(records)) == records
    assert watermark.seen == 3
    assert watermark.value == "2025-01-02T00:00:00Z"


def test_watermark_over_sandbox_records_matches_the_parsed_maximum() -> None:
    with Sandbox(seed=5, serial_numbers=250, packages=0, stock_locations=0) as sb:
        records = sb.serial_numbers()
    watermark = Watermark()

    passed = list(watermark.track(iter(records)))

    assert passed == records
    latest = max(datetime.fromisoformat(r["updated_at"].replace("Z", "+00:00")) for r in records)
    assert parse_instant(watermark.value, "watermark") == latest
    assert watermark.value in {r["updated_at"] for r in records}
    assert watermark.seen == 250


# ---------------------------------------------------------------------- XCom guard


class CountingSource:
    """A generator of records that counts what was pulled and whether it was closed."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0
        self.closed = False

    def __iter__(self) -> Iterator[dict[str, Any]]:
        try:
            for number in range(self.total):
                self.pulled += 1
                yield {"id": f"r{number}"}
        finally:
            self.closed = True


def test_collect_for_xcom_returns_everything_up_to_the_limit() -> None:
    source = CountingSource(5)

    assert collect_for_xcom(iter(source), max_xcom_records=5) == [{"id": f"r{n}"} for n in range(5)]
    assert source.pulled == 5


def test_collect_for_xcom_stops_at_limit_plus_one_and_closes_the_source() -> None:
    source = CountingSource(1_000_000)

    with pytest.raises(XComLimitExceededError) as raised:
        collect_for_xcom(iter(source), max_xcom_records=100)

    assert source.pulled == 101  # never drained
    assert source.closed
    message = str(raised.value)
    assert "More than 100 records" in message
    assert "Set output_path" in message
    assert "max_xcom_records=100" in message
    assert isinstance(raised.value, InventoryConfigError)


def test_collect_for_xcom_default_limit_is_ten_thousand() -> None:
    assert DEFAULT_MAX_XCOM_RECORDS == 10_000
    source = CountingSource(20_000)
    with pytest.raises(XComLimitExceededError, match="More than 10,000 records"):
        collect_for_xcom(iter(source))
    assert source.pulled == 10_001


def test_collect_for_xcom_with_zero_allows_only_an_empty_result() -> None:
    assert collect_for_xcom([], max_xcom_records=0) == []
    with pytest.raises(XComLimitExceededError):
        collect_for_xcom([{"id": "1"}], max_xcom_records=0)


@pytest.mark.parametrize("value", [-1, 1.5, "10", True, None])
def test_collect_for_xcom_rejects_a_bad_limit(value: Any) -> None:
    source = CountingSource(3)
    with pytest.raises(InventoryConfigError, match="max_xcom_records must be a whole number >= 0"):
        collect_for_xcom(iter(source), max_xcom_records=value)
    assert source.pulled == 0


# ---------------------------------------------------------------------- manifest


def test_build_manifest_fields() -> None:
    window = Window.of("2025-05-01T00:00:00Z", datetime(2025, 5, 2, tzinfo=timezone.utc))
    fetched = datetime(2025, 5, 2, 0, 5, 1, 500000, tzinfo=timezone.utc)

    manifest = build_manifest(
        "s3://aws_default@bucket/inventory/2025-05-01.jsonl.gz",
        records=12,
        size=345,
        window=window,
        watermark="2025-05-01T23:59:00.000Z",
        fetched_at=fetched,
    )

    assert manifest == {
        "path": "s3://aws_default@bucket/inventory/2025-05-01.jsonl.gz",
        "records": 12,
        "bytes": 345,
        "format": "jsonl.gz",
        "watermark": "2025-05-01T23:59:00.000Z",
        "window": ["2025-05-01T00:00:00.000Z", "2025-05-02T00:00:00.000Z"],
        "fetched_at": "2025-05-02T00:05:01.500Z",
    }


def test_build_manifest_defaults_open_window_and_now() -> None:
    before = datetime.now(timezone.utc) - timedelta(seconds=1)
    manifest = build_manifest("file:///tmp/x.jsonl", records=0, size=0)

    assert manifest["window"] == [None, None]
    assert manifest["watermark"] is None
    assert manifest["format"] == "jsonl"
    fetched_at = parse_instant(manifest["fetched_at"], "fetched_at")
    assert fetched_at is not None
    assert fetched_at >= before
    assert manifest["fetched_at"].endswith("Z")


@pytest.mark.parametrize(
    ("name", "expected"),
    [("a.jsonl", "jsonl"), ("a.jsonl.gz", "jsonl.gz"), ("a.json", "jsonl"), ("a.gz", "jsonl.gz")],
)
def test_output_format_by_suffix(name: str, expected: str) -> None:
    assert output_format(name) == expected
