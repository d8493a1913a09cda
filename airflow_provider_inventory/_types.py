"""Types shared across the provider (kept import-free so any module can use them)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Record = dict[str, Any]
"""One API record: a Pack serial number, or a (flattened) Commerce Layer resource."""

RecordPredicate = Callable[[Record], Any]
"""Decides whether a record is kept (its result is used for its truth value): ``where`` compiled,
a ``record_filter``, a client-side window."""
