"""Stream records to and from Parquet files on any Airflow object storage (extra ``[parquet]``).

A :class:`ParquetWriter` buffers at most ``row_group_records`` records, turns them into typed Arrow
columns and writes them as one row group, so memory does not grow with the number of records.
Columns follow the task's :class:`~airflow_provider_inventory.records.columns.RecordLayout`:
the fields written (after ``select``) with the types the API documents (ids and codes as
strings, dimensions as float64, timestamps as UTC timestamps, ``metadata`` and other nested
values as JSON text); fields without a documented type are inferred from the first row group.
Writes are atomic like JSON Lines: a hidden temporary sibling is moved into place on commit.

pyarrow is imported only when a Parquet file is written or read.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator, Sequence
from contextlib import suppress
from datetime import datetime
from types import ModuleType
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import BadResponseError, InventoryConfigError
from airflow_provider_inventory.records.columns import Column, ColumnKind, RecordLayout
from airflow_provider_inventory.records.manifest import Watermark
from airflow_provider_inventory.records.storage import (
    PathArgument,
    RecordFileWriter,
    record_lineage,
    storage_path,
)
from airflow_provider_inventory.window import Window, format_instant, parse_api_timestamp

if TYPE_CHECKING:
    import pyarrow as pa
    from airflow.sdk import ObjectStoragePath
    from fsspec import AbstractFileSystem

#: Records per row group: the writer's buffer, so its memory does not depend on the set's size.
ROW_GROUP_RECORDS = 10_000
PARQUET_INSTALL = "pip install 'airflow-provider-inventory[parquet]'"
#: Arrow field metadata key marking a column of JSON text (decoded again by the reader).
KIND_KEY = b"inventory.kind"
_TIMESTAMP_UNIT = "us"
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode


def require_pyarrow(argument_name: str = "output_path", uri: str = "") -> ModuleType:
    """Import ``pyarrow`` (with ``pyarrow.parquet``), or explain how to install it.

    Raises:
        InventoryConfigError: pyarrow is not installed; names the extra to install.
    """
    try:
        importlib.import_module("pyarrow.parquet")
        return importlib.import_module("pyarrow")
    except ImportError:
        where = f"{argument_name}={redact_url(uri)!r}" if uri else argument_name
        raise InventoryConfigError(
            f"{where} names a Parquet file, which needs pyarrow: install the provider's parquet "
            f"extra ({PARQUET_INSTALL}), or write JSON Lines (a name ending in .jsonl or "
            f".jsonl.gz)."
        ) from None


def arrow_type(kind: ColumnKind) -> pa.DataType:
    """The Arrow type a column kind is stored as."""
    import pyarrow as pa

    if kind == "timestamp":
        return pa.timestamp(_TIMESTAMP_UNIT, tz="UTC")
    return {
        "string": pa.string(),
        "json": pa.string(),
        "float64": pa.float64(),
        "int64": pa.int64(),
        "bool": pa.bool_(),
    }[kind]


def arrow_schema(columns: Sequence[Column]) -> pa.Schema:
    """The Arrow schema of ``columns``; JSON-text columns carry ``inventory.kind: json``."""
    import pyarrow as pa

    return pa.schema(
        [
            pa.field(
                column.name,
                arrow_type(column.kind),
                nullable=column.nullable,
                metadata={KIND_KEY: column.kind.encode()},
            )
            for column in columns
        ]
    )


def infer_column(name: str, values: Sequence[Any]) -> Column:
    """A column for a field without a documented type, from the values of one row group.

    Strings stay strings (timestamps when the name ends in ``_at`` and every value parses),
    booleans are ``bool``, whole numbers ``int64``, other numbers ``float64``; objects, arrays
    and mixed types are JSON text; a field that is always null is a nullable string.
    """
    present = [value for value in values if value is not None]
    types = {type(value) for value in present}
    if not types or types == {str}:
        if name.endswith("_at") and present and _all_timestamps(present):
            return Column(name, "timestamp")
        return Column(name, "string")
    if types == {bool}:
        return Column(name, "bool")
    if types == {int}:
        return Column(name, "int64")
    if types <= {int, float}:
        return Column(name, "float64")
    return Column(name, "json")


def _all_timestamps(values: Sequence[str]) -> bool:
    import pyarrow as pa

    try:
        pa.array(values, pa.string()).cast(arrow_type("timestamp"))
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        return False
    return True


class ParquetWriter(RecordFileWriter):
    """Atomically write records to a Parquet file, one row group per ``row_group_records``.

    Used like :class:`~airflow_provider_inventory.records.jsonl.JsonlWriter` (see
    :class:`~airflow_provider_inventory.records.storage.RecordFileWriter`)::

        with ParquetWriter(output_path, layout=layout, watermark=watermark) as writer:
            writer.write_many(records)
            manifest = writer.commit()

    Args:
        output_path: the file to write (its name should end in ``.parquet``).
        window: the listing's ``[since, before)`` window, for the manifest.
        watermark: a tracker whose value at commit time goes into the manifest.
        layout: the fields and documented types; without one, columns are inferred.
        row_group_records: records buffered per row group.

    Raises:
        InventoryConfigError: pyarrow is missing, or ``output_path`` is invalid.

    Attributes:
        columns: the file's columns, fixed when the first row group is written.
    """

    def __init__(
        self,
        output_path: PathArgument,
        *,
        window: Window | None = None,
        watermark: Watermark | None = None,
        layout: RecordLayout | None = None,
        row_group_records: int = ROW_GROUP_RECORDS,
    ) -> None:
        require_pyarrow("output_path", str(storage_path(output_path)))
        super().__init__(output_path, window=window, watermark=watermark)
        self.layout = layout or RecordLayout()
        self.row_group_records = max(1, row_group_records)
        self.columns: tuple[Column, ...] | None = None
        self._buffer: list[Record] = []
        self._writer: Any = None  # pyarrow.parquet.ParquetWriter once the schema is known

    def write(self, record: Record) -> None:
        """Append one record (written with the next full row group).

        Raises:
            RuntimeError: the writer is not open.
            ValueError: a value does not fit its column (names the field and record).
            BadResponseError: a timestamp field holds something that is not a timestamp.
        """
        if not self._open:
            self._file.check_open()
        self._buffer.append(record)
        self.records += 1
        if len(self._buffer) >= self.row_group_records:
            self._flush()

    def _finish(self) -> None:
        self._flush()
        if self._writer is None:  # no records: an empty file with the known columns
            self._start_row_groups(self._fix_columns([]))
        self._writer.close()

    def _discard(self) -> None:
        self._buffer.clear()
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()

    # ------------------------------------------------------------------ row groups

    def _flush(self) -> None:
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        first_record = self.records - len(batch) + 1
        if self._writer is None:
            self._start_row_groups(self._fix_columns(batch))
        assert self.columns is not None
        if not self.layout.exact:
            _check_no_new_fields(batch, self.columns, first_record)
        import pyarrow as pa

        arrays = [
            _column_array(
                [record.get(column.name) for record in batch], column, batch, first_record
            )
            for column in self.columns
        ]
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._writer.schema))

    def _fix_columns(self, batch: Sequence[Record]) -> tuple[Column, ...]:
        names = self.layout.fields or ()
        if not self.layout.exact:  # undocumented keys the API sends are kept, not dropped
            names = tuple(dict.fromkeys([*names, *(key for record in batch for key in record)]))
        fixed = []
        for name in names:
            declared = self.layout.column(name)
            fixed.append(declared or infer_column(name, [r.get(name) for r in batch]))
        return tuple(fixed)

    def _start_row_groups(self, columns: tuple[Column, ...]) -> None:
        import pyarrow.parquet as pq

        self.columns = columns
        assert self._file.sink is not None
        self._writer = pq.ParquetWriter(
            self._file.sink, arrow_schema(columns), compression="zstd", write_statistics=True
        )


def _check_no_new_fields(
    batch: Sequence[Record], columns: Sequence[Column], first_record: int
) -> None:
    names = {column.name for column in columns}
    for offset, record in enumerate(batch):
        if not names.issuperset(record):
            extra = sorted(set(record) - names)[0]
            raise ValueError(
                f"Record {first_record + offset} has a field {extra!r} that the first row group "
                f"did not have; a Parquet file's columns are fixed when it starts. Name the "
                f"fields to write with select=[...], or write JSON Lines."
            )


def _column_array(
    values: list[Any], column: Column, batch: Sequence[Record], first_record: int
) -> pa.Array:
    """Arrow array of one column of one row group; errors name the field and the record."""
    import pyarrow as pa

    kind = column.kind
    if kind == "json":
        array = pa.array([None if v is None else _encode(v) for v in values], pa.string())
    elif kind == "string":
        try:
            array = pa.array(values, pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            text = [v if v is None or isinstance(v, str) else _encode(v) for v in values]
            array = pa.array(text, pa.string())
    elif kind == "timestamp":
        array = _timestamp_array(values, column)
    else:
        _check_scalars(values, column, first_record)
        array = pa.array(values, arrow_type(kind))
    if not column.nullable and array.null_count:
        index = next(i for i, value in enumerate(values) if value is None)
        record = batch[index]
        raise BadResponseError(
            f"Record {first_record + index} (id {record.get('id')!r}) has no {column.name}, "
            f"which the API documents as always set."
        )
    return array


_SCALAR_TYPES: dict[str, tuple[type, ...]] = {
    "float64": (int, float),
    "int64": (int,),
    "bool": (bool,),
}


def _check_scalars(values: Sequence[Any], column: Column, first_record: int) -> None:
    """Refuse values pyarrow would convert silently or lossily (``2.5`` into int64, ``True`` into
    float64, strings anywhere)."""
    allowed = _SCALAR_TYPES[column.kind]
    for offset, value in enumerate(values):
        if value is None:
            continue
        fits = isinstance(value, allowed) and (column.kind == "bool" or type(value) is not bool)
        if column.kind == "int64" and isinstance(value, float) and value.is_integer():
            fits = True
        if not fits:
            raise ValueError(
                f"Record {first_record + offset}: {column.name}={value!r} does not fit the "
                f"{column.kind} column (fixed by the API's documented type or the first row "
                f"group). Leave the field out with select=[...], or write JSON Lines."
            )


def _timestamp_array(values: list[Any], column: Column) -> pa.Array:
    import pyarrow as pa

    target = arrow_type("timestamp")
    if all(value is None or isinstance(value, str) for value in values):
        with suppress(pa.ArrowInvalid, pa.ArrowNotImplementedError):
            return pa.array(values, pa.string()).cast(target)
    # Naive text (read as UTC), datetimes, or garbage: parse each value to name the bad one.
    moments: list[datetime | None] = [
        None if value is None else parse_api_timestamp(value, column.name) for value in values
    ]
    return pa.array(moments, target)


# ---------------------------------------------------------------------- reading


def iter_parquet(
    path: ObjectStoragePath, fs: AbstractFileSystem, batch_records: int = ROW_GROUP_RECORDS
) -> Iterator[Record]:
    """Stream the records of a Parquet file written by :class:`ParquetWriter`, batch by batch.

    Records come back as the JSON Lines path gives them: timestamps as the APIs' UTC text
    (``2025-05-01T10:00:00.000Z``), JSON-text columns decoded, every column present (``None``
    for a missing value).

    Raises:
        InventoryConfigError: pyarrow is not installed.
    """
    require_pyarrow("read_records source", str(path))
    import pyarrow.parquet as pq

    record_lineage(path, "input")
    with fs.open(path.path, "rb") as raw:
        parquet = pq.ParquetFile(raw)
        schema = parquet.schema_arrow
        for batch in parquet.iter_batches(batch_size=batch_records):
            columns = [_python_values(batch.column(i), schema.field(i)) for i in range(len(schema))]
            names = schema.names
            for row in zip(*columns, strict=True):
                yield dict(zip(names, row, strict=True))


def _python_values(array: pa.Array, field: pa.Field) -> list[Any]:
    import pyarrow as pa

    if pa.types.is_timestamp(field.type):
        return _timestamp_text(array)
    values = array.to_pylist()
    if (field.metadata or {}).get(KIND_KEY) == b"json":
        return [None if value is None else json.loads(value) for value in values]
    return values


def _timestamp_text(array: pa.Array) -> list[str | None]:
    """UTC ISO text with milliseconds (as both APIs write), microseconds only where present."""
    import pyarrow as pa
    import pyarrow.compute as pc

    utc = array.cast(pa.timestamp(array.type.unit, tz="UTC"))
    try:
        exact = utc.cast(pa.timestamp("ms", tz="UTC"))  # refuses to drop sub-millisecond parts
    except pa.ArrowInvalid:
        return [None if moment is None else _instant_text(moment) for moment in utc.to_pylist()]
    text: list[str | None] = pc.strftime(exact, format="%Y-%m-%dT%H:%M:%SZ").to_pylist()
    return text


def _instant_text(moment: datetime) -> str:
    """``format_instant``'s milliseconds, extended to microseconds when there are any."""
    text = format_instant(moment)
    if moment.microsecond % 1000 == 0:
        return text
    return f"{text[:-1]}{moment.microsecond % 1000:03d}Z"
