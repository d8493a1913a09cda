"""``Window``: half-open ``[since, before)`` time windows, their parsing and validation."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from typing import Any

import pendulum
import pytest

from airflow_provider_inventory.exceptions import BadResponseError, InventoryConfigError
from airflow_provider_inventory.window import Window, format_instant, parse_instant

SINCE = "2025-06-01T00:00:00.000Z"
BEFORE = "2025-06-02T00:00:00.000Z"
UTC = timezone.utc


@pytest.mark.parametrize(
    ("timestamp", "inside"),
    [
        ("2025-05-31T23:59:59.999Z", False),
        ("2025-06-01T00:00:00.000Z", True),  # since is inclusive
        ("2025-06-01T02:00:00.000+02:00", True),  # the same instant in another offset
        ("2025-06-01T12:00:00Z", True),
        ("2025-06-01T23:59:59.999Z", True),
        ("2025-06-02T00:00:00.000Z", False),  # before is exclusive
        ("2025-06-02T01:00:00.000+01:00", False),
        (None, False),
        ("", False),
    ],
)
def test_a_window_contains_since_but_not_before(timestamp: str | None, inside: bool) -> None:
    assert Window.of(SINCE, BEFORE).contains(timestamp) is inside


def test_consecutive_windows_cover_each_instant_exactly_once() -> None:
    first, second = Window.of(SINCE, BEFORE), Window.of(BEFORE, "2025-06-03T00:00:00Z")

    for timestamp in ("2025-06-01T23:59:59.999Z", BEFORE, "2025-06-02T00:00:00.001Z"):
        assert [first.contains(timestamp), second.contains(timestamp)].count(True) == 1


def test_a_window_may_be_open_at_either_end() -> None:
    from_since = Window.of(SINCE, None)
    until_before = Window.of(None, BEFORE)

    assert from_since.contains("2999-01-01T00:00:00Z")
    assert not from_since.contains("2025-05-31T23:59:59Z")
    assert until_before.contains("1999-01-01T00:00:00Z")
    assert not until_before.contains(BEFORE)
    assert not from_since.is_open
    assert not until_before.is_open


def test_an_open_window_contains_everything() -> None:
    window = Window.of(None, "")

    assert window.is_open
    assert window.contains("2025-06-01T00:00:00Z")
    assert window.contains(None)
    assert window.as_strings() == [None, None]


@pytest.mark.parametrize("before", [SINCE, "2025-05-31T00:00:00Z"], ids=["empty", "reversed"])
def test_since_must_be_earlier_than_before(before: str) -> None:
    with pytest.raises(InventoryConfigError) as caught:
        Window.of(SINCE, before)

    message = str(caught.value)
    assert "updated_since (2025-06-01T00:00:00.000Z) must be earlier than updated_before" in message
    assert "[since, before)" in message


def test_an_unreadable_bound_names_its_field_and_an_example() -> None:
    with pytest.raises(InventoryConfigError) as caught:
        Window.of(SINCE, "tomorrow")

    message = str(caught.value)
    assert message.startswith("updated_before='tomorrow' is not an ISO-8601 date/time")
    assert "'2025-06-01T00:00:00Z'" in message
    assert "{{ data_interval_start }}" in message


def test_a_bound_of_another_type_is_refused_by_name() -> None:
    with pytest.raises(InventoryConfigError, match=r"^updated_since must be a datetime .*got int"):
        Window.of(1717200000, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "value",
    [
        "2025-06-01T00:00:00Z",
        "2025-06-01T00:00:00.000z",
        "2025-06-01T02:00:00+02:00",
        "2025-06-01",
        "  2025-06-01T00:00:00Z ",
        datetime(2025, 6, 1),  # naive is taken as UTC
        datetime(2025, 5, 31, 20, tzinfo=timezone(timedelta(hours=-4))),
        date(2025, 6, 1),
        pendulum.datetime(2025, 6, 1, tz="UTC"),
        pendulum.datetime(2025, 6, 1, 9, tz="Asia/Tokyo"),
    ],
)
def test_every_accepted_form_means_the_same_instant(value: Any) -> None:
    parsed = parse_instant(value, "updated_since")

    assert parsed == datetime(2025, 6, 1, tzinfo=UTC)
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize("value", [None, ""])
def test_no_value_is_no_bound(value: Any) -> None:
    assert parse_instant(value, "updated_since") is None


def test_bounds_are_written_as_utc_milliseconds_with_z() -> None:
    window = Window.of(datetime(2025, 6, 1, 12, 30, 5, 123456, tzinfo=UTC), None)

    assert window.as_strings() == ["2025-06-01T12:30:05.123Z", None]
    assert format_instant(pendulum.datetime(2025, 6, 1, 9, tz="Asia/Tokyo")) == SINCE


def test_an_unreadable_record_timestamp_is_the_servers_error_not_a_silent_skip() -> None:
    with pytest.raises(BadResponseError, match=r"updated_at is 'last week', not an ISO-8601"):
        Window.of(SINCE, BEFORE).contains("last week")


def test_an_unreadable_record_timestamp_names_the_record_and_the_field() -> None:
    record = {"id": "sn_42", "updated_at": "last week"}
    with pytest.raises(BadResponseError, match=r"Record 'sn_42': updated_at is 'last week'"):
        Window.of(SINCE, BEFORE).admits(record)


def test_a_naive_datetime_is_formatted_as_utc_whatever_the_host_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import time

    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert format_instant(datetime(2025, 6, 1, 12, 0)) == "2025-06-01T12:00:00.000Z"
        assert Window.of(datetime(2025, 6, 1, 12, 0), None).as_strings()[0] == (
            "2025-06-01T12:00:00.000Z"
        )
    finally:
        monkeypatch.undo()
        time.tzset()
