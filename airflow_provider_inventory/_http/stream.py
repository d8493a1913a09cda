"""``RecordStream``: the records of a listing, as both hooks return them.

A stream is an iterator of records with a public face for whoever consumes it (operators,
sensors, triggers, DAG authors):

- ``for record in stream`` / ``next(stream)``; nothing is requested before the first record is
  asked for;
- ``close()`` or leaving a ``with`` block stops the listing and its background fetching;
- :meth:`RecordStream.counters`: records, pages, requests, retries and seconds paced so far;
- one page fetched ahead while the caller works through the current one;
- one summary log line when the listing ends (and a progress line every 100 pages).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Generator, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_inventory._http.background import close_iterator, prefetch
from airflow_provider_inventory._http.client import ClientStats
from airflow_provider_inventory._http.paginators import Page
from airflow_provider_inventory._types import Record

log = logging.getLogger(__name__)

#: Pages between two progress lines of a long listing.
PROGRESS_EVERY_PAGES = 100


@dataclass(frozen=True)
class StreamCounters:
    """What a listing did so far.

    Attributes:
        records: records yielded.
        received: records received on pages (more than ``records`` when the hook drops some,
            e.g. Pack's client-side date window or repeated ids).
        pages: pages received.
        requests: HTTP requests sent (retries included, token requests not).
        retries: requests repeated after a failure or a 429.
        paced_seconds: seconds spent waiting for the rate limit.
    """

    records: int = 0
    received: int = 0
    pages: int = 0
    requests: int = 0
    retries: int = 0
    paced_seconds: float = 0.0


def all_records(page: Page) -> Iterable[Record]:
    """A page's records unchanged (the default of :class:`RecordStream`)."""
    return page.records


class RecordStream(Iterator[Record]):
    """The records of one listing, fetched page by page while they are consumed.

    Args:
        pages: the listing's pages (see ``_http.paginators``); not iterated before the first
            record is asked for.
        what: the listing's name for log lines ("Pack serial numbers").
        stats: the hook's client counters (requests, retries, seconds paced), read at the start
            and as the stream goes; the stream reports the difference.
        records_of: turns a page into the records to yield (flattening, client-side filters);
            runs on the consumer's thread.
        included: a mapping ``records_of`` fills with included resources, exposed as
            :attr:`included`.
        ahead: pages fetched in the background ahead of the consumer; 0 fetches on the
            consumer's thread (for pages already fetched on threads of their own).
        detail: appended to the summary line ("over 3 listings").

    Attributes:
        included: with Commerce Layer's ``flatten=False``, every included resource seen so far
            by ``(type, id)``; resolve relationships with
            :func:`airflow_provider_inventory.jsonapi.related`. Empty otherwise.
    """

    def __init__(
        self,
        pages: Iterator[Page],
        *,
        what: str,
        stats: Callable[[], ClientStats] = ClientStats,
        records_of: Callable[[Page], Iterable[Record]] = all_records,
        included: Mapping[Any, Record] | None = None,
        ahead: int = 1,
        detail: str = "",
    ) -> None:
        self.included: Mapping[Any, Record] = included if included is not None else {}
        self._pages = pages
        self._what = what
        self._stats = stats
        self._records_of = records_of
        self._ahead = ahead
        self._detail = detail
        self._records = 0
        self._received = 0
        self._page_count = 0
        self._before: ClientStats | None = None
        self._iterator: Generator[Record, None, None] | None = None

    # ------------------------------------------------------------------ iteration

    def __iter__(self) -> RecordStream:
        return self

    def __next__(self) -> Record:
        if self._iterator is None:
            self.start()
        assert self._iterator is not None
        return next(self._iterator)

    def start(self) -> RecordStream:
        """Start the stream's counters (the first ``next`` does it otherwise) and return self.

        Nothing is requested yet: the first page is fetched when the first record is asked for.
        """
        if self._iterator is None:
            self._before = self._snapshot()
            pages = prefetch(self._pages, self._ahead) if self._ahead else self._pages
            self._iterator = self._records_from(pages)
        return self

    def close(self) -> None:
        """Stop the listing; background requests in flight are abandoned."""
        if self._iterator is not None:
            self._iterator.close()
        else:
            close_iterator(self._pages)

    def __enter__(self) -> RecordStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ counters

    @property
    def records(self) -> int:
        """Records yielded so far."""
        return self._records

    @property
    def pages(self) -> int:
        """Pages received so far."""
        return self._page_count

    def counters(self) -> StreamCounters:
        """Records, pages, requests, retries and seconds paced since the stream started."""
        if self._before is None:
            return StreamCounters()
        now, before = self._snapshot(), self._before
        return StreamCounters(
            records=self._records,
            received=self._received,
            pages=self._page_count,
            requests=now.requests - before.requests,
            retries=now.retries - before.retries,
            paced_seconds=now.paced_seconds - before.paced_seconds,
        )

    def _snapshot(self) -> ClientStats:
        stats = self._stats()
        return ClientStats(stats.requests, stats.retries, stats.paced_seconds)

    # ------------------------------------------------------------------ the records

    def _records_from(self, pages: Iterator[Page]) -> Generator[Record, None, None]:
        records_of = self._records_of
        try:
            for page in pages:
                self._page_count += 1
                self._received += len(page.records)
                for record in records_of(page):
                    self._records += 1
                    yield record
                if self._page_count % PROGRESS_EVERY_PAGES == 0:
                    log.info(
                        "%s: %d records in %d pages so far.",
                        self._what,
                        self._records,
                        self._page_count,
                    )
        finally:
            close_iterator(pages)
        self._log_summary()

    def _log_summary(self) -> None:
        counters = self.counters()
        received = (
            f" (of {counters.received} received)" if counters.received != counters.records else ""
        )
        log.info(
            "%s: listed %d records%s in %d pages%s (%d requests, %d retries, %.1f s paced).",
            self._what,
            counters.records,
            received,
            counters.pages,
            self._detail,
            counters.requests,
            counters.retries,
            counters.paced_seconds,
        )


ResourceStream = RecordStream
"""Deprecated name of :class:`RecordStream` (what ``CommerceLayerHook.iter_resources`` returned
before both hooks shared one stream); kept so existing imports and ``isinstance`` checks work."""


__all__ = ["PROGRESS_EVERY_PAGES", "RecordStream", "ResourceStream", "StreamCounters"]
