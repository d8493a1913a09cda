"""What a task publishes: the watermark, the XCom record list, and the manifest of a written file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from typing import Any, TypedDict

from airflow_provider_inventory._arguments import whole_number
from airflow_provider_inventory._http.background import close_iterator
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import XComLimitExceededError
from airflow_provider_inventory.records.filtering import check_field_name, field_getter
from airflow_provider_inventory.records.format_names import OutputFormat, output_format
from airflow_provider_inventory.window import Window, format_instant, parse_api_timestamp

DEFAULT_MAX_XCOM_RECORDS = 10_000


class Manifest(TypedDict):
    """Describes a record file written by a task; small and JSON-serialisable for XCom.

    Keys:
        path: URI of the file that :class:`~airflow.sdk.ObjectStoragePath` reopens
            (``file:///...``, ``s3://conn_id@bucket/key``...).
        records: number of records in the file.
        bytes: size of the file as stored (compressed size for ``.gz``).
        format: ``"jsonl"``, ``"jsonl.gz"`` or ``"parquet"``.
        watermark: largest ``updated_at`` among the records fetched, or ``None``.
        window: ``[since, before]`` as ISO strings (``None`` for an open end).
        fetched_at: when the file was committed, ISO-8601 UTC.
    """

    path: str
    records: int
    bytes: int
    format: OutputFormat
    watermark: str | None
    window: list[str | None]
    fetched_at: str


def build_manifest(
    path: str,
    *,
    records: int,
    size: int,
    window: Window | None = None,
    watermark: str | None = None,
    fetched_at: datetime | None = None,
) -> Manifest:
    """Assemble a :class:`Manifest`.

    Args:
        path: URI of the committed file.
        records: number of records written.
        size: bytes of the file as stored.
        window: the ``[since, before)`` window the records were listed for, if any.
        watermark: largest ``updated_at`` seen, if any.
        fetched_at: defaults to now.
    """
    return {
        "path": path,
        "records": records,
        "bytes": size,
        "format": output_format(path),
        "watermark": watermark,
        "window": (window or Window()).as_strings(),
        "fetched_at": format_instant(fetched_at or datetime.now(timezone.utc)),
    }


class Watermark:
    """Tracks the largest timestamp (default ``updated_at``) among the records it sees.

    Timestamps are compared as instants. When both strings are UTC (``Z``) timestamps of the same
    layout they are compared as text, which orders them the same way without parsing each one.
    :attr:`value` keeps the API's own text of the largest timestamp, so nothing is rounded.

    Feed it every record fetched, before ``where``/``select``: it marks how far the listing got,
    not what was kept.

    Args:
        field: the (possibly dotted) timestamp field to track.

    Attributes:
        seen: number of records observed.
    """

    def __init__(self, field: str = "updated_at") -> None:
        self.field = check_field_name(field, "Watermark")
        self.seen = 0
        self._get = field_getter(field)
        self._value: str | None = None
        self._instant: datetime | None = None
        self._text_comparable_length = -1

    @property
    def value(self) -> str | None:
        """The largest timestamp seen, as an ISO-8601 string, or ``None`` if there was none."""
        return self._value

    def track(self, records: Iterable[Record]) -> Iterator[Record]:
        """Yield ``records`` unchanged while observing each one."""
        observe = self.observe
        for record in records:
            observe(record)
            yield record

    def observe(self, record: Record) -> None:
        """Take ``record``'s timestamp into account.

        Raises:
            BadResponseError: the timestamp is not a date/time, naming the record's ``id``.
        """
        self.seen += 1
        self.observe_timestamp(self._get(record), record.get("id"))

    def observe_timestamp(self, timestamp: Any, record_id: Any = None) -> None:
        """Take one timestamp (ISO string or datetime) into account; ``None``/``""`` are ignored.

        Raises:
            BadResponseError: the value is not a date/time (naming ``record_id`` when given).
        """
        if timestamp is None or timestamp == "":
            return
        current = self._value
        if (
            current is not None
            and isinstance(timestamp, str)
            and len(timestamp) == self._text_comparable_length
            and timestamp[-1] == "Z"
            and timestamp[10] == "T"
        ):
            if timestamp > current:
                self._set(timestamp, None)
            return
        moment = parse_api_timestamp(timestamp, self.field, record_id)
        if current is None or moment > self._current_instant():
            self._set(timestamp if isinstance(timestamp, str) else format_instant(moment), moment)

    def _set(self, text: str, moment: datetime | None) -> None:
        self._value, self._instant = text, moment
        # Same-length UTC 'YYYY-MM-DDTHH:MM:SS[.fff]Z' strings sort like the instants they name.
        comparable = len(text) > 10 and text[-1] == "Z" and text[10] == "T"
        self._text_comparable_length = len(text) if comparable else -1

    def _current_instant(self) -> datetime:
        if self._instant is None:
            self._instant = parse_api_timestamp(self._value, self.field)
        return self._instant


def collect_for_xcom(
    records: Iterable[Record], max_xcom_records: int = DEFAULT_MAX_XCOM_RECORDS
) -> list[Record]:
    """Collect records into a list small enough for XCom.

    Reads at most ``max_xcom_records + 1`` records: the extra one proves the limit is exceeded, and
    the source is closed (if it is a generator) instead of being drained.

    Args:
        records: the records to return.
        max_xcom_records: the most records allowed.

    Raises:
        InventoryConfigError: ``max_xcom_records`` is not a non-negative integer.
        XComLimitExceededError: there are more records than allowed; the message says to set
            ``output_path``.
    """
    check_max_xcom_records(max_xcom_records)
    collected: list[Record] = []
    iterator = iter(records)
    try:
        for record in iterator:
            if len(collected) >= max_xcom_records:
                raise XComLimitExceededError(
                    f"More than {max_xcom_records:,} records to return through XCom "
                    f"(max_xcom_records={max_xcom_records}); XCom is for small values. Set "
                    f"output_path (e.g. 's3://aws_default@bucket/inventory/{{{{ ds }}}}.jsonl.gz') "
                    f"to stream the records to a file and return its manifest, or raise "
                    f"max_xcom_records."
                )
            collected.append(record)
    except XComLimitExceededError:
        close_iterator(iterator)
        raise
    return collected


def check_max_xcom_records(value: Any) -> int:
    """Return ``value`` if it is a valid ``max_xcom_records``.

    Raises:
        InventoryConfigError: it is not a whole number >= 0.
    """
    return whole_number("max_xcom_records", value, minimum=0)
