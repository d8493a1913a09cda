"""The one place that maps a file name to its format, and a format to its writer and reader.

- ``*.parquet`` -> Parquet (needs the ``[parquet]`` extra, pyarrow);
- ``*.gz`` -> gzip-compressed JSON Lines;
- anything else -> JSON Lines.

(The name rule itself lives in :mod:`~airflow_provider_inventory.records.format_names`.)

Typical use::

    target = check_output_path(output_path)  # at task start: bad scheme or missing extra fail here
    with open_writer(target, window=window, watermark=watermark, layout=layout) as writer:
        writer.write_many(records)
        manifest = writer.commit()

and downstream ``for record in read_records(manifest): ...`` whatever the format.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import InventoryConfigError
from airflow_provider_inventory.records.format_names import OutputFormat, output_format

__all__ = [
    "OutputFormat",
    "check_output_path",
    "open_writer",
    "output_format",
    "read_records",
    "write_records",
]

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

    from airflow_provider_inventory.records.columns import RecordLayout
    from airflow_provider_inventory.records.manifest import Manifest, Watermark
    from airflow_provider_inventory.records.storage import PathArgument, RecordFileWriter
    from airflow_provider_inventory.window import Window


def check_output_path(
    output_path: PathArgument, argument_name: str = "output_path"
) -> ObjectStoragePath:
    """Resolve ``output_path`` and prove it can be written in its format, without writing.

    Call it before any request: it fails on an empty or directory path, a scheme no installed
    package supports (naming the package that adds it) and a ``.parquet`` name without pyarrow
    (naming the extra).

    Returns:
        The resolved path.

    Raises:
        InventoryConfigError: as described.
    """
    from airflow_provider_inventory.records.storage import filesystem, storage_path

    path = storage_path(output_path, argument_name)
    filesystem(path, argument_name)
    if output_format(path.name) == "parquet":
        from airflow_provider_inventory.records.parquet import require_pyarrow

        require_pyarrow(argument_name, str(path))
    return path


def open_writer(
    output_path: PathArgument,
    *,
    window: Window | None = None,
    watermark: Watermark | None = None,
    layout: RecordLayout | None = None,
) -> RecordFileWriter:
    """The writer for ``output_path``'s format (not yet opened; use it as a context manager).

    Args:
        output_path: the file; its name picks the format (see :func:`output_format`).
        window: the listing's window, for the manifest.
        watermark: a tracker fed by the same listing, for the manifest.
        layout: the fields written and their documented types (Parquet uses it for its columns;
            JSON Lines writes records as they are).

    Raises:
        InventoryConfigError: ``output_path`` is invalid, or Parquet without pyarrow.
    """
    from airflow_provider_inventory.records.storage import storage_path

    path = storage_path(output_path)
    if output_format(path.name) == "parquet":
        from airflow_provider_inventory.records.parquet import ParquetWriter

        return ParquetWriter(path, window=window, watermark=watermark, layout=layout)
    from airflow_provider_inventory.records.jsonl import JsonlWriter

    return JsonlWriter(path, window=window, watermark=watermark)


def write_records(
    records: Iterable[Record],
    output_path: PathArgument,
    *,
    window: Window | None = None,
    watermark: Watermark | None = None,
    layout: RecordLayout | None = None,
) -> Manifest:
    """Stream ``records`` atomically into ``output_path`` in its format; return the manifest.

    Raises:
        InventoryConfigError: ``output_path`` is invalid, or Parquet without pyarrow.
    """
    with open_writer(output_path, window=window, watermark=watermark, layout=layout) as writer:
        writer.write_many(records)
        return writer.commit()


def read_records(source: Manifest | Mapping[str, Any] | PathArgument) -> Iterator[Record]:
    """Stream the records of a file an operator wrote (JSON Lines, gzip or Parquet).

    Change sets (``changes=True``) read back the same from every format: records marked with
    ``_change`` and ``_seen_at``, tombstones as ``{"id", "_change": "deleted", "_seen_at"}``.

    Args:
        source: a manifest (as returned by an operator through XCom), a path string or URI, a
            ``pathlib`` path, or an ``ObjectStoragePath``. The file name picks the format.

    Returns:
        An iterator of records; the file is opened on the first ``next()`` and closed when the
        iterator is exhausted or closed.

    Raises:
        InventoryConfigError: ``source`` is not a manifest or a path, its scheme has no
            filesystem, or it is Parquet and pyarrow is missing (at call time).
        ValueError: a JSON Lines line is not a JSON object (while iterating).
    """
    from airflow_provider_inventory.records.storage import filesystem, storage_path

    if isinstance(source, Mapping):
        if not isinstance(source.get("path"), str):
            raise InventoryConfigError(
                "read_records got a mapping without a 'path' string; pass the manifest an "
                "operator returned, or the file's path."
            )
        source = source["path"]
    path = storage_path(source, "read_records source")
    fs = filesystem(path, "read_records source")
    if output_format(path.name) == "parquet":
        from airflow_provider_inventory.records.changes import tidy_change_records
        from airflow_provider_inventory.records.parquet import iter_parquet, require_pyarrow

        require_pyarrow("read_records source", str(path))
        return tidy_change_records(iter_parquet(path, fs))
    from airflow_provider_inventory.records.jsonl import iter_jsonl

    return iter_jsonl(path, fs)
