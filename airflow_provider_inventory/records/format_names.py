"""What a record file's name says about its format: the one rule, with no imports of its own.

Kept apart from :mod:`~airflow_provider_inventory.records.formats` (which picks writers and
readers, and so imports them) so that the manifest and the writers can name a file's format
without importing ``formats`` back.
"""

from __future__ import annotations

from typing import Literal

OutputFormat = Literal["jsonl", "jsonl.gz", "parquet"]


def output_format(name: str) -> OutputFormat:
    """The format a file name means: ``parquet`` for ``.parquet``, ``jsonl.gz`` for ``.gz``,
    else ``jsonl``."""
    lowered = name.lower()
    if lowered.endswith(".parquet"):
        return "parquet"
    return "jsonl.gz" if name.endswith(".gz") else "jsonl"
