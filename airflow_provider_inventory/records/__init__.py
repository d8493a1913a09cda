"""Everything about records that is neither HTTP nor operator plumbing.

Typical use in an operator's ``execute``::

    selection = RecordSelection.build(where=..., record_filter=..., select=..., known_fields=...)
    watermark = Watermark()
    records = selection.apply(watermark.track(hook_records))
    if output_path is None:
        return collect_for_xcom(records, max_xcom_records)
    return write_jsonl(records, output_path, window=window, watermark=watermark)

and downstream: ``for record in read_records(manifest): ...``.
"""

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
from airflow_provider_inventory.records.jsonl import (
    JsonlWriter,
    PathArgument,
    read_records,
    storage_path,
    write_jsonl,
)
from airflow_provider_inventory.records.manifest import (
    DEFAULT_MAX_XCOM_RECORDS,
    Manifest,
    OutputFormat,
    Watermark,
    XComLimitExceededError,
    build_manifest,
    check_max_xcom_records,
    collect_for_xcom,
    output_format,
)

__all__ = [
    "DEFAULT_MAX_XCOM_RECORDS",
    "JsonlWriter",
    "Manifest",
    "OutputFormat",
    "PathArgument",
    "Record",
    "RecordPredicate",
    "RecordProjection",
    "RecordSelection",
    "Watermark",
    "XComLimitExceededError",
    "build_manifest",
    "build_predicate",
    "build_projection",
    "check_max_xcom_records",
    "collect_for_xcom",
    "field_getter",
    "normalize_select",
    "normalize_where",
    "output_format",
    "read_records",
    "storage_path",
    "validate_fields",
    "write_jsonl",
]
