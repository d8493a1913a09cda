"""Half-open time windows ``[since, before)`` for incremental listings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any

from airflow_provider_inventory.exceptions import BadResponseError, InventoryConfigError

Instant = datetime | date | str
"""What callers may pass: an aware or naive (taken as UTC) datetime, pendulum, date or ISO string."""


def parse_instant(value: Instant | None, field: str) -> datetime | None:
    """Parse ``value`` into an aware UTC datetime (``None`` and ``""`` stay ``None``).

    Raises:
        InventoryConfigError: naming ``field`` when the value is not a date/time.
    """
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, date):
        moment = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = value.strip()
        try:
            moment = _parse_iso(text)
        except ValueError:
            raise InventoryConfigError(
                f"{field}={value!r} is not an ISO-8601 date/time; pass a datetime or a string "
                f"like '2025-06-01T00:00:00Z' (in a template: '{{{{ data_interval_start }}}}')."
            ) from None
    else:
        raise InventoryConfigError(
            f"{field} must be a datetime or an ISO-8601 string, got {type(value).__name__}."
        )
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_api_timestamp(value: Any, field: str, record_id: Any = None) -> datetime:
    """A timestamp read from an API record (ISO-8601 text or a datetime), as aware UTC.

    Unlike :func:`parse_instant`, which checks what a user passed, a bad value here is the
    server's fault, so it raises :class:`BadResponseError`.

    Args:
        value: the timestamp as the server sent it.
        field: the record's field it came from, for the message.
        record_id: the record's ``id``, for the message (when known).

    Raises:
        BadResponseError: ``value`` is missing or not an ISO-8601 date/time, naming the field
            and the record.
    """
    try:
        moment = parse_instant(value, field) if isinstance(value, str | datetime) else None
    except InventoryConfigError:
        moment = None
    if moment is None:
        record = "A record's" if record_id is None else f"Record {str(record_id)[:100]!r}:"
        raise BadResponseError(
            f"{record} {field} is {_shown(value)}, not an ISO-8601 timestamp, as the server "
            f"sent it; records cannot be placed in time without it. Nothing in the DAG can fix "
            f"this: report the record to the API's provider."
        )
    return moment


def _shown(value: Any) -> str:
    """``repr`` of a server value, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= 100 else f"{text[:100]}..."


def _parse_iso(text: str) -> datetime:
    """ISO-8601 text to a datetime; pendulum covers what 3.10's ``fromisoformat`` does not."""
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        import pendulum

        parsed = pendulum.parse(text, strict=True)
        if not isinstance(parsed, datetime):
            raise ValueError(text) from None
        return parsed


def _is_canonical(text: str) -> bool:
    """Whether ``text`` has ``format_instant``'s shape, so text order equals time order."""
    return len(text) == 24 and text[10] == "T" and text[-1] == "Z"


def format_instant(moment: datetime) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as both APIs write timestamps."""
    if moment.tzinfo is None:  # naive means UTC, as in parse_instant, not the host's zone
        moment = moment.replace(tzinfo=timezone.utc)
    utc = moment.astimezone(timezone.utc)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


@dataclass(frozen=True)
class Window:
    """``[since, before)``: ``since`` inclusive, ``before`` exclusive; either end may be open."""

    since: datetime | None = None
    before: datetime | None = None
    _since_text: str | None = field(init=False, repr=False, compare=False)
    _before_text: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Both APIs write "2025-03-01T12:00:00.000Z"; comparing such text needs no parsing.
        object.__setattr__(self, "_since_text", format_instant(self.since) if self.since else None)
        object.__setattr__(
            self, "_before_text", format_instant(self.before) if self.before else None
        )

    @classmethod
    def of(cls, since: Instant | None, before: Instant | None) -> Window:
        """Build and validate a window.

        Raises:
            InventoryConfigError: a bound is not a date/time, or ``since`` is not before ``before``.
        """
        window = cls(parse_instant(since, "updated_since"), parse_instant(before, "updated_before"))
        if window.since and window.before and window.since >= window.before:
            raise InventoryConfigError(
                f"updated_since ({format_instant(window.since)}) must be earlier than "
                f"updated_before ({format_instant(window.before)}); the window is half-open "
                f"[since, before)."
            )
        return window

    @property
    def is_open(self) -> bool:
        """True when neither bound is set."""
        return self.since is None and self.before is None

    def contains(self, timestamp: Any, record_id: Any = None) -> bool:
        """Whether an API timestamp (ISO string) lies in the window; a missing one does not.

        Raises:
            BadResponseError: ``timestamp`` is not a date/time (the server's fault), naming
                ``record_id`` when given.
        """
        if self.is_open:
            return True
        if not timestamp:
            return False
        if isinstance(timestamp, str) and _is_canonical(timestamp):
            if self._since_text is not None and timestamp < self._since_text:
                return False
            return not (self._before_text is not None and timestamp >= self._before_text)
        moment = parse_api_timestamp(timestamp, "updated_at", record_id)
        if self.since is not None and moment < self.since:
            return False
        return not (self.before is not None and moment >= self.before)

    def admits(self, record: Mapping[str, Any]) -> bool:
        """Whether ``record``'s ``updated_at`` lies in the window (see :meth:`contains`).

        Raises:
            BadResponseError: the record's ``updated_at`` is not a date/time, naming its ``id``.
        """
        return self.contains(record.get("updated_at"), record.get("id"))

    def as_strings(self) -> list[str | None]:
        """``[since, before]`` as ISO strings (``None`` for an open end), for manifests/XCom."""
        return [format_instant(m) if m else None for m in (self.since, self.before)]
