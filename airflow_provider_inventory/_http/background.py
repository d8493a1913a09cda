"""Background fetching: one page ahead of the consumer (:func:`prefetch`), several listings on
threads (:func:`merge_concurrently`), and closing what may be a generator (:func:`close_iterator`).

Nothing here knows pages or HTTP: the paginators and the record stream build on it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Generator, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Generic, TypeVar

T = TypeVar("T")


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
    """Iterate ``pages`` with the following pages fetched in a background thread.

    While the caller works on page k, page k+1 is already being requested. The thread hands a
    page over and goes straight on to request the next one, without waiting for the caller to
    pick it up: with a caller that keeps up (the usual case), the thread is back in the network
    wait before the caller starts on the page, so the two never contend for the interpreter on
    the critical path. Memory stays bounded: at most ``ahead`` pages wait for the caller, plus
    the one the thread is fetching and the one the caller holds. An exception raised while
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
    results: queue.Queue[object] = queue.Queue(maxsize=ahead)
    stop = threading.Event()

    def hand_over(item: object) -> bool:
        while not stop.is_set():
            try:
                results.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for page in pages:
                if not hand_over(page):
                    return
            hand_over(_End())
        except BaseException as error:
            hand_over(_Failure(error))

    worker = threading.Thread(target=produce, name="inventory-prefetch", daemon=True)
    worker.start()
    try:
        while True:
            item = results.get()
            if isinstance(item, _End):
                return
            if isinstance(item, _Failure):
                raise item.error
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
