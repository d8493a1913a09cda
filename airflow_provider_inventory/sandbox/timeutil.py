"""Timestamp helpers shared by the sandbox modules.

All timestamps the sandbox produces are ISO-8601 UTC strings with exactly three fraction
digits and a ``Z`` suffix (``2025-03-01T12:00:00.000Z``). Because the format is fixed, such
strings sort lexically in chronological order, which the data store relies on.
"""

from __future__ import annotations

import functools
import re
import threading
import time
from datetime import datetime, timezone

#: The fixed instant generated data is spread before (the 90 days up to it).
ANCHOR = "2025-06-01T00:00:00Z"
ANCHOR_MS = 1_748_736_000_000  # ANCHOR as milliseconds since the Unix epoch

_ISO_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})"
    r"(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$"
)


@functools.lru_cache(maxsize=4096)
def _day_prefix(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))


def format_ms(epoch_ms: int) -> str:
    """Format milliseconds since the epoch as ``YYYY-MM-DDTHH:MM:SS.mmmZ``."""
    day, ms = divmod(epoch_ms, 86_400_000)
    seconds, ms = divmod(ms, 1000)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{_day_prefix(day)}{hours:02d}:{minutes:02d}:{seconds:02d}.{ms:03d}Z"


def parse_instant_us(value: str) -> int:
    """Parse an ISO-8601 date or date-time into microseconds since the epoch (UTC).

    Accepts ``Z`` or ``+HH:MM`` offsets, any number of fraction digits and a bare date
    (midnight UTC). A value without an offset is taken as UTC. Raises ``ValueError``.
    """
    match = _ISO_RE.match(value.strip())
    if not match:
        raise ValueError(f"not an ISO-8601 timestamp: {value!r}")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    dt = datetime(
        int(year),
        int(month),
        int(day),
        int(hour or 0),
        int(minute or 0),
        int(second or 0),
        tzinfo=timezone.utc,
    )
    micros = int((fraction or "0")[:6].ljust(6, "0"))
    offset_seconds = 0
    if offset and offset not in ("Z", "z"):
        sign = -1 if offset[0] == "-" else 1
        digits = offset[1:].replace(":", "")
        offset_seconds = sign * (int(digits[:2]) * 3600 + int(digits[2:4] or 0) * 60)
    epoch_seconds = int(dt.timestamp()) - offset_seconds
    return epoch_seconds * 1_000_000 + micros


def normalize(value: str | datetime) -> str:
    """Return ``value`` (ISO-8601 string or datetime) in the sandbox's canonical format."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return format_ms(int(value.timestamp() * 1000))
    return format_ms(parse_instant_us(value) // 1000)


class Clock:
    """Wall-clock "now" that never repeats: each call is at least 1 ms after the previous.

    Mutations stamp records with it, so every change gets a distinct, increasing
    ``updated_at`` even when several happen within the same millisecond.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._last_ms = 0

    def now_ms(self) -> int:
        """Milliseconds since the epoch, strictly increasing across calls."""
        with self._lock:
            now = max(int(time.time() * 1000), self._last_ms + 1)
            self._last_ms = now
            return now

    def now(self) -> str:
        """The current instant in canonical format (strictly increasing across calls)."""
        return format_ms(self.now_ms())
