"""Paginators: how a listing goes from one page to the next, and when it ends.

In the vocabulary of dlt's ``rest_client``: a *paginator* says which URL to request first and,
from each page received, which URL comes next (``None``: the listing is done); :func:`paginate`
is the one loop that requests those URLs through an :class:`ApiClient`-like ``fetch``, parses
each body into a :class:`Page` and yields it. Both hooks page through here:

- :class:`NextLinkPaginator`: follow the page's ``next`` link (Pack ``next``, Commerce Layer
  ``links.next``);
- :class:`KeysetPaginator`: ``sort=id`` pages, each after the last id of the one before
  (Commerce Layer ``filter[q][id_gt]``);
- :class:`PageNumberPaginator`: ``page[number]=1, 2, ...`` for servers that give neither links
  nor a cursor (neither hook needs it today);
- :func:`paginate_concurrently`: several disjoint listings (id ranges) on threads, their pages
  merged as they arrive.

The end-of-listing rules live here and nowhere else (:class:`EndOfListing`):

- a listing goes on while the server says there is more: a ``next`` link, or in keyset paging a
  non-empty page (a short page is *not* the end when the server still links a next page);
- where the API reports totals (``meta.record_count``, ``meta.page_count``), the end is checked
  against them, and a listing the totals say is short fails with :class:`PaginationError`
  instead of returning fewer records;
- a page whose records were all on one earlier page is a loop (for instance a ``next`` link that
  serves the same page again under a new cache-buster parameter): :class:`PaginationError`,
  before that page's records are yielded;
- a link to another origin, a URL requested twice and a page past ``max_pages`` are refused
  (:class:`PageGuard`).

Memory: a listing keeps, per page, its URL and a hash of its record ids, never the records, so
its state grows with the number of pages (about 200 bytes each), not with the records.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from airflow_provider_inventory._http.background import merge_concurrently
from airflow_provider_inventory._http.client import JsonResponse
from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._http.urls import (
    canonical_url,
    origin_of,
    resolve_link,
    with_query,
)
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import BadResponseError, PaginationError

log = logging.getLogger(__name__)

Fetch = Callable[[str], JsonResponse]
"""GET one absolute URL on the API's origin and decode it (``ApiClient.get_json`` or a wrapper)."""


@dataclass
class Page:
    """One page of a listing, as the paginators and the record stream need it.

    Attributes:
        records: the page's records (JSON objects), in the server's order.
        url: the URL that returned the page (links resolve against it).
        next_link: the server's link to the next page, unresolved; ``None`` when it gave none.
        record_count: the total the server reports for the query (``meta.record_count``).
        page_count: the number of pages the server reports (``meta.page_count``).
        included: resources sent beside the records (JSON:API ``included``).
    """

    records: list[Record]
    url: str
    next_link: str | None = None
    record_count: int | None = None
    page_count: int | None = None
    included: list[Record] = field(default_factory=list)


PageParser = Callable[[Any, str], Page]
"""Turns a decoded body and its URL into a :class:`Page` (raises ``BadResponseError``)."""


class Paginator(Protocol):
    """The first URL of a listing, then each next URL from the page before."""

    def first_url(self) -> str:
        """The URL of the first page."""

    def next_url(self, page: Page) -> str | None:
        """The URL of the page after ``page``, or ``None`` when ``page`` was the last.

        Raises:
            PaginationError: the server's signals contradict each other (see the module doc).
        """


# ---------------------------------------------------------------------- end-of-listing rules


class PageGuard:
    """Refuses pagination that would loop, leave the API's origin, or run past ``max_pages``.

    Args:
        origin_url: any URL of the API; links must share its scheme, host and port.
        what: a short name of the listing for error messages ("serial numbers").
        max_pages: an optional cap on the number of pages.
    """

    def __init__(self, origin_url: str, what: str, max_pages: int | None = None) -> None:
        self._origin = origin_of(origin_url)
        self._what = what
        self._max_pages = max_pages
        self._seen: set[str] = set()

    @property
    def pages(self) -> int:
        """How many pages were admitted so far."""
        return len(self._seen)

    def admit(self, url: str) -> str:
        """Record that ``url`` is about to be requested and return it.

        Raises:
            PaginationError: the URL was requested before in this listing (a loop), points at
                another origin (credentials would leave home), or the page cap is reached.
        """
        if origin_of(url) != self._origin:
            raise PaginationError(
                f"Refusing to follow a pagination link of the {self._what} listing to another "
                f"origin ({redact_url(url)}); credentials are only sent to the connection's host. "
                f"Nothing was requested from it."
            )
        key = canonical_url(url)
        if key in self._seen:
            raise PaginationError(
                f"Pagination loop in the {self._what} listing: page {self.pages + 1} links back to "
                f"{redact_url(url)}, which was already requested. Stopping instead of repeating "
                f"records."
            )
        if self._max_pages is not None and self.pages >= self._max_pages:
            raise PaginationError(
                f"The {self._what} listing reached max_pages={self._max_pages} before its last "
                f"page; raise the connection's 'max_pages' extra or narrow the listing."
            )
        self._seen.add(key)
        return url


class EndOfListing:
    """Counts what a listing received and checks its end against the server's totals.

    Args:
        what: the listing's name for messages ("Commerce Layer packages").
    """

    def __init__(self, what: str) -> None:
        self.what = what
        self.pages = 0
        self.records = 0

    def received(self, page: Page) -> None:
        """Count ``page``."""
        self.pages += 1
        self.records += len(page.records)

    def check_last(self, page: Page) -> None:
        """``page`` is the last one by the paging signals: check the totals agree.

        Raises:
            PaginationError: the server reports more pages or records than were received.
        """
        if page.page_count is not None and self.pages < page.page_count:
            raise self.short(
                page,
                f"the paging ends here, but the server reports {page.page_count} pages and "
                f"{self.pages} were received",
            )
        if page.record_count is not None and self.records < page.record_count:
            raise self.short(
                page,
                f"the paging ends here, but the server reports {page.record_count} records "
                f"and {self.records} were received",
            )

    def short(self, page: Page, problem: str) -> PaginationError:
        """The error for a listing that cannot end at ``page`` because of ``problem``."""
        return PaginationError(
            f"The {self.what} listing cannot end at page {self.pages} ({redact_url(page.url)}): "
            f"{problem}. Stopped rather than return an incomplete result; the server's paging "
            f"is inconsistent (try again later)."
        )


class LoopDetector:
    """Refuses a page whose records were all on one earlier page (a loop the URLs hide).

    Only a fingerprint per page is kept (the hash of its record ids), so memory grows with the
    number of pages, not the number of records. Pages without ids on every record are not
    fingerprinted (their repeats are left to the URL check and ``max_pages``).
    """

    def __init__(self, what: str, key: Callable[[Record], Any]) -> None:
        self._what = what
        self._key = key
        self._seen: dict[int, int] = {}

    def check(self, page: Page, number: int) -> None:
        """Remember ``page`` (page ``number`` of the listing).

        Raises:
            PaginationError: an earlier page had exactly these records.
        """
        if not page.records:
            return
        ids = tuple(self._key(record) for record in page.records)
        if None in ids:
            return
        fingerprint = hash(ids)
        earlier = self._seen.get(fingerprint)
        if earlier is not None:
            raise PaginationError(
                f"Pagination loop in the {self._what} listing: page {number} "
                f"({redact_url(page.url)}) repeats the records of page {earlier}. Stopped "
                f"instead of yielding them again."
            )
        self._seen[fingerprint] = number


def record_id(record: Record) -> Any:
    """A record's ``id`` (``None`` when it has none), the default identity of records."""
    return record.get("id")


# ---------------------------------------------------------------------- paginators


class NextLinkPaginator:
    """Follows the page's ``next`` link until a page has none.

    At the end, ``meta.page_count`` / ``meta.record_count`` (where the API reports them) must
    agree that nothing is left.

    Args:
        first_url: the absolute URL of the first page.
        end: the listing's counters.
    """

    def __init__(self, first_url: str, end: EndOfListing) -> None:
        self._first = first_url
        self._end = end

    def first_url(self) -> str:
        """The URL of the first page."""
        return self._first

    def next_url(self, page: Page) -> str | None:
        """``page``'s next link resolved against its URL; ``None`` at the checked end."""
        if page.next_link:
            return resolve_link(page.url, page.next_link)
        self._end.check_last(page)
        return None


class KeysetPaginator:
    """Pages ordered by id, each after the last id of the page before.

    The listing goes on while pages have records. It ends early, without the extra empty page,
    only when the server itself says this page held the rest (``meta.record_count`` no larger
    than the page and no ``next`` link). An empty page the server counts records for is an
    error, not the end.

    Args:
        url: the absolute URL of the listing without a query.
        params: the query of the first page (with the id sort).
        cursor_param: the parameter that carries the last id (``filter[q][id_gt]``).
        end: the listing's counters.
        key: a record's id.
    """

    def __init__(
        self,
        url: str,
        params: Mapping[str, str],
        cursor_param: str,
        end: EndOfListing,
        key: Callable[[Record], Any] = record_id,
    ) -> None:
        self._url = url
        self._params = dict(params)
        self._cursor_param = cursor_param
        self._end = end
        self._key = key

    def first_url(self) -> str:
        """The URL of the first page."""
        return with_query(self._url, self._params)

    def next_url(self, page: Page) -> str | None:
        """The page after ``page``'s last id; ``None`` at the checked end."""
        if not page.records:
            if page.record_count:
                raise self._end.short(
                    page, f"it is empty, but the server counts {page.record_count} more records"
                )
            return None
        held_the_rest = page.record_count is not None and page.record_count <= len(page.records)
        if held_the_rest and not page.next_link:
            return None
        cursor = self._key(page.records[-1])
        return with_query(self._url, {**self._params, self._cursor_param: str(cursor)})


class PageNumberPaginator:
    """``page[number]=1, 2, ...`` until a short or empty page, checked against ``page_count``.

    Args:
        url: the absolute URL of the listing without a query.
        params: the query of every page (with the page size).
        page_size: records per page the query asks for.
        end: the listing's counters.
        number_param: the page-number parameter.
    """

    def __init__(
        self,
        url: str,
        params: Mapping[str, str],
        page_size: int,
        end: EndOfListing,
        number_param: str = "page[number]",
    ) -> None:
        self._url = url
        self._params = dict(params)
        self._size = page_size
        self._end = end
        self._param = number_param
        self._number = 1

    def first_url(self) -> str:
        """The URL of page 1."""
        self._number = 1
        return self._page_url()

    def next_url(self, page: Page) -> str | None:
        """The next page number while pages are full; ``None`` at the checked end."""
        more = page.page_count > self._number if page.page_count is not None else None
        if more or (more is None and len(page.records) >= self._size):
            self._number += 1
            return self._page_url()
        self._end.check_last(page)
        return None

    def _page_url(self) -> str:
        return with_query(self._url, {**self._params, self._param: str(self._number)})


# ---------------------------------------------------------------------- the loop


def paginate(
    fetch: Fetch,
    paginator: Paginator,
    parse: PageParser,
    *,
    guard: PageGuard,
    end: EndOfListing,
    key: Callable[[Record], Any] = record_id,
) -> Iterator[Page]:
    """Request a listing's pages in order; the one paging loop of both hooks.

    Args:
        fetch: GETs one URL (the hook's client, with its error handling).
        paginator: the first URL and each next one.
        parse: turns each body into a :class:`Page`.
        guard: refuses loops by URL, other origins and pages past ``max_pages``.
        end: the listing's counters, shared with the paginator.
        key: a record's identity, for loop detection.

    Yields:
        The pages, each checked before it is yielded.

    Raises:
        PaginationError: the paging loops, leaves the origin, passes ``max_pages`` or ends
            short of the server's totals.
        InventoryApiError: a request failed or a body is malformed.
    """
    loops = LoopDetector(end.what, key)
    url: str | None = paginator.first_url()
    while url is not None:
        response = fetch(guard.admit(url))
        page = parse(response.body, response.url)
        end.received(page)
        loops.check(page, end.pages)
        yield page
        url = paginator.next_url(page)


def paginate_concurrently(listings: Sequence[Iterator[Page]], workers: int) -> Iterator[Page]:
    """The pages of disjoint ``listings`` (id ranges), fetched on ``workers`` threads.

    Pages of one listing keep their order; listings interleave. The first failure stops every
    listing and is raised; closing the iterator stops them too.
    """
    return merge_concurrently(list(listings), workers)


def drop_repeats(pages: Iterator[Page], what: str, key: Callable[[Record], Any]) -> Iterator[Page]:
    """``pages`` with each record whose ``key`` was already yielded removed.

    For listings that can legitimately repeat records (several overlapping filters merged, page
    numbers over an order that shifts while records change). Its set of keys is the one piece of
    state that grows with the number of records (about 100 bytes per record).

    Raises:
        BadResponseError: a record has no key, so repeats cannot be told apart.
    """
    seen: set[Any] = set()
    for page in pages:
        fresh = []
        for record in page.records:
            identity = key(record)
            if identity is None:
                raise BadResponseError(
                    f"A {what} record has no 'id' (keys {sorted(record)[:10]}), so repeated "
                    f"records cannot be dropped. List one filter value at a time, or use the "
                    f"default order."
                )
            if identity not in seen:
                seen.add(identity)
                fresh.append(record)
        if len(fresh) < len(page.records):
            log.info("%s: dropped %d repeated record(s).", what, len(page.records) - len(fresh))
            yield dataclasses.replace(page, records=fresh)
        else:
            yield page


# ---------------------------------------------------------------------- page bodies


def page_totals(body: Mapping[str, Any]) -> tuple[int | None, int | None]:
    """``(meta.record_count, meta.page_count)`` where the body reports them as whole numbers."""
    meta = body.get("meta")
    if not isinstance(meta, dict):
        return None, None
    return _count(meta.get("record_count")), _count(meta.get("page_count"))


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


__all__ = [
    "EndOfListing",
    "Fetch",
    "KeysetPaginator",
    "LoopDetector",
    "NextLinkPaginator",
    "Page",
    "PageGuard",
    "PageNumberPaginator",
    "PageParser",
    "Paginator",
    "drop_repeats",
    "page_totals",
    "paginate",
    "paginate_concurrently",
    "record_id",
]
