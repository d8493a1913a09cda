"""Merging the listings of several filter values without a record twice, in little memory.

When a list of filter values runs as several listings (one per value), a record can reach two
of them only if it changed while they ran: a serial number moved from one stock to another
after the first stock's listing had passed it, before the second's reached it. One of its two
appearances was fetched after the move, so its ``updated_at`` is recent (after the merge
started, less a margin for clock skew between Pack and the worker). Listings run in parallel,
so either appearance can reach the merge first:

- a recent record is checked against every record already yielded;
- any record is checked against the recent records already yielded (few: only those that
  changed during the run), which catches the stale copy arriving after the moved one.

What is remembered of each yielded record is an 8-byte digest of its key, in one flat byte
buffer (about 8 bytes per record, where a set of ids costs about 100), and the check of a
recent record is a scan of that buffer in C; the recent records' digests are also kept in a
set. Records without a readable ``updated_at`` (resources that have none, or a malformed
value) count as recent. The chance that a digest of a different key matches is about one in
10^14 per checked record at a million records.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

from airflow_provider_inventory._http.paginators import Page
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import BadResponseError
from airflow_provider_inventory.window import Window

log = logging.getLogger(__name__)

#: How far before the merge started an ``updated_at`` still counts as "changed during it".
CLOCK_SKEW = timedelta(hours=1)
_DIGEST = 8


class MergedListings:
    """Drops the repeats of records that moved between the merged listings (see module doc).

    Args:
        what: the listing's name for messages ("Pack serial numbers").
        key: a record's identity (``None`` when it has none).
        now: the clock (injectable for tests).
    """

    def __init__(
        self,
        what: str,
        key: Callable[[Record], Any],
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        self._what = what
        self._key = key
        self._now = now
        self._digests = bytearray()
        self._recent_digests: set[bytes] = set()
        self._recent = Window()

    @property
    def remembered_bytes(self) -> int:
        """Bytes of digests kept so far (8 per record yielded, not counting the recent set)."""
        return len(self._digests)

    def pages(self, pages: Iterator[Page]) -> Iterator[Page]:
        """``pages`` with the repeats of moved records removed.

        Raises:
            BadResponseError: a record has no key, so repeats cannot be told apart.
        """
        self._recent = Window(since=self._now() - CLOCK_SKEW)
        for page in pages:
            fresh = [record for record in page.records if self._first_time(record)]
            if len(fresh) < len(page.records):
                log.info(
                    "%s: dropped %d record(s) already listed under another filter value (they "
                    "changed during the listing).",
                    self._what,
                    len(page.records) - len(fresh),
                )
                yield dataclasses.replace(page, records=fresh)
            else:
                yield page

    def _first_time(self, record: Record) -> bool:
        identity = self._key(record)
        if identity is None:
            raise BadResponseError(
                f"A {self._what} record has no key (keys {sorted(record)[:10]}), so repeated "
                f"records cannot be dropped. List one filter value at a time."
            )
        digest = hashlib.blake2b(repr(identity).encode(), digest_size=_DIGEST).digest()
        if digest in self._recent_digests:
            return False
        if self._maybe_moved(record):
            if self._seen(digest):
                return False
            self._recent_digests.add(digest)
        self._digests += digest
        return True

    def _maybe_moved(self, record: Record) -> bool:
        """Whether ``record`` may have changed since the merge started (or cannot tell)."""
        updated = record.get("updated_at")
        if not updated:
            return True
        try:
            return self._recent.contains(updated)  # canonical text is compared as text
        except BadResponseError:
            return True

    def _seen(self, digest: bytes) -> bool:
        position = self._digests.find(digest)
        while position != -1:
            if position % _DIGEST == 0:
                return True
            position = self._digests.find(digest, position + 1)
        return False


__all__ = ["CLOCK_SKEW", "MergedListings"]
