"""Small pieces every paginator uses: page URLs, link resolution, loop protection, prefetch."""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

from airflow_provider_inventory._http.errors import PaginationError
from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._http.urls import (  # noqa: F401  (resolve_link, with_query: re-exported until callers import them from urls)
    canonical_url,
    origin_of,
    resolve_link,
    with_query,
)

T = TypeVar("T")


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


def close_iterator(iterator: object) -> None:
    """Close ``iterator`` if it can be closed (a generator stops, and so does its prefetching);
    a no-op for plain iterators and for generators already exhausted."""
    close = getattr(iterator, "close", None)
    if callable(close):
        close()


class _End:
    pass


class _Failure(Generic[T]):
    def __init__(self, error: BaseException) -> None:
        self.error = error


def prefetch(pages: Iterator[T], ahead: int = 1) -> Generator[T, None, None]:
    """Iterate ``pages`` with the next ``ahead`` pages fetched in a background thread.

    While the caller works on page k, page k+1 is already being requested. Memory stays bounded:
    at most ``ahead`` pages wait beyond the one the caller holds. An exception raised while
    fetching is re-raised in the caller at the position it happened, so a failed listing never
    looks complete. If the caller stops early, the background thread stops too.

    Returns:
        A generator of the pages; ``close()`` it to stop early (a ``for`` loop left by ``break``
        or an exception closes it when the generator is released).

    Raises:
        ValueError: ``ahead`` is below 1 (nothing could ever be fetched); raised at the call.
    """
    if ahead < 1:
        raise ValueError(f"prefetch needs ahead >= 1, got {ahead}")
    return _prefetched(pages, ahead)


def _prefetched(pages: Iterator[T], ahead: int) -> Generator[T, None, None]:
    results: queue.Queue[object] = queue.Queue()
    credits = threading.Semaphore(ahead)
    stop = threading.Event()

    def produce() -> None:
        try:
            while True:
                while not credits.acquire(timeout=0.1):
                    if stop.is_set():
                        return
                if stop.is_set():
                    return
                try:
                    page = next(pages)
                except StopIteration:
                    results.put(_End())
                    return
                results.put(page)
        except BaseException as error:
            results.put(_Failure(error))

    worker = threading.Thread(target=produce, name="inventory-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = results.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.error
            credits.release()
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        worker.join(timeout=5)
        if not worker.is_alive():  # a generator still running in the worker can't be closed
            close_iterator(pages)


def merge_concurrently(iterators: list[Iterator[T]], workers: int) -> Generator[T, None, None]:
    """Run ``iterators`` on ``workers`` threads and yield their items as they arrive.

    For disjoint listings that can be fetched in parallel (id ranges). Items of one iterator keep
    their order; items of different iterators interleave. At most ``2 * workers`` items wait in
    memory. The first failure stops every iterator and is raised here; closing the generator
    stops them too, and waits for requests in flight so that none outlives the listing.
    """
    results: queue.Queue[object] = queue.Queue(maxsize=2 * workers)
    stop = threading.Event()

    def put(item: object) -> None:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def run(iterator: Iterator[T]) -> None:
        try:
            for item in iterator:
                put(item)
                if stop.is_set():
                    return
            put(_End())
        except BaseException as error:
            put(_Failure(error))

    pool = ThreadPoolExecutor(workers, thread_name_prefix="inventory-range")
    try:
        for iterator in iterators:
            pool.submit(run, iterator)
        finished = 0
        while finished < len(iterators):
            item = results.get()
            if isinstance(item, _Failure):
                raise item.error
            if isinstance(item, _End):
                finished += 1
                continue
            yield item  # type: ignore[misc]
    finally:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
