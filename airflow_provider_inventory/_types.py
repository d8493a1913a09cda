"""Types shared across the provider (kept import-free so any module can use them)."""

from __future__ import annotations

from typing import Any

Record = dict[str, Any]
"""One API record: a Pack serial number, or a (flattened) Commerce Layer resource."""
