"""Everything about records that is neither HTTP nor operator plumbing.

Typical use in an operator's ``execute``::

    selection = RecordSelection.build(where=..., record_filter=..., select=..., known_fields=...)
    watermark = Watermark()
    records = selection.apply(watermark.track(hook_records))
    if output_path is None:
        return collect_for_xcom(records, max_xcom_records)
    return write_records(records, output_path, window=window, watermark=watermark, layout=layout)

and downstream: ``for record in read_records(manifest): ...``. The file name picks the format
(``.jsonl``, ``.jsonl.gz``, ``.parquet``; see :mod:`~airflow_provider_inventory.records.formats`).
Parquet needs the ``[parquet]`` extra; this package imports pyarrow only when it is used.
"""

from airflow_provider_inventory.exceptions import XComLimitExceededError
from airflow_provider_inventory.records.columns import Column, ColumnKind, RecordLayout
from airflow_provider_inventory.records.filtering import (
    Record,
    RecordPredicate,
    RecordProjection,
    RecordSelection,
    build_predicate,
    build_projection,
    field_getter,
    normalize_select,
    normalize_where,
    validate_fields,
)
from airflow_provider_inventory.records.formats import (
    OutputFormat,
    check_output_path,
    open_writer,
    output_format,
    read_records,
    write_records,
)
from airflow_provider_inventory.records.jsonl import JsonlWriter, write_jsonl
from airflow_provider_inventory.records.manifest import (
    DEFAULT_MAX_XCOM_RECORDS,
    Manifest,
    Watermark,
    build_manifest,
    check_max_xcom_records,
    collect_for_xcom,
)
from airflow_provider_inventory.records.storage import PathArgument, RecordFileWriter, storage_path

__all__ = [
    "DEFAULT_MAX_XCOM_RECORDS",
    "Column",
    "ColumnKind",
    "JsonlWriter",
    "Manifest",
    "OutputFormat",
    "PathArgument",
    "Record",
    "RecordFileWriter",
    "RecordLayout",
    "RecordPredicate",
    "RecordProjection",
    "RecordSelection",
    "Watermark",
    "XComLimitExceededError",
    "build_manifest",
    "build_predicate",
    "build_projection",
    "check_max_xcom_records",
    "check_output_path",
    "collect_for_xcom",
    "field_getter",
    "normalize_select",
    "normalize_where",
    "open_writer",
    "output_format",
    "read_records",
    "storage_path",
    "validate_fields",
    "write_jsonl",
    "write_records",
]
