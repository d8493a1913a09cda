"""Paging pieces: link resolution, loop / origin / page-cap protection, one-ahead prefetch."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_inventory._http.background import merge_concurrently, prefetch
from airflow_provider_inventory._http.client import ApiClient
from airflow_provider_inventory._http.paginators import PageGuard
from airflow_provider_inventory._http.urls import resolve_link, with_query
from airflow_provider_inventory.exceptions import PaginationError, ServerError
from tests.http import (
    ClientFactory,
    Reply,
    ScriptedServer,
    Seen,
)

PAGE_1 = "https://api.pack.cloud/v1/organizations/org_1/serial-numbers?page=1&per_page=25#top"
PAGE_2 = "https://api.pack.cloud/v1/organizations/org_1/serial-numbers?page=2&per_page=25"

# --- resolve_link ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        (PAGE_2, PAGE_2),
        ("/v1/organizations/org_1/serial-numbers?page=2&per_page=25", PAGE_2),
        ("serial-numbers?page=2&per_page=25", PAGE_2),
        ("?page=2&per_page=25", PAGE_2),
        ("page=2&per_page=25", PAGE_2),
        ("  ?page=2&per_page=25\n", PAGE_2),
        (
            "https://other.example/v1/serial-numbers?page=2",
            "https://other.example/v1/serial-numbers?page=2",
        ),
        ("//other.example/v1/serial-numbers", "https://other.example/v1/serial-numbers"),
    ],
    ids=[
        "absolute",
        "absolute-path",
        "relative-path",
        "query",
        "bare-query",
        "whitespace",
        "other-origin-kept",
        "scheme-relative",
    ],
)
def test_resolve_link_accepts_urls_paths_and_query_strings(link: str, expected: str) -> None:
    assert resolve_link(PAGE_1, link) == expected


@pytest.mark.parametrize(
    "query",
    [
        "updated_since=2025-06-01T00:00:00Z&page=2",
        "filter[code]=ABC-1&page=2",
        "cursor=eyJpZCI6IjEyMyJ9&next=/v1/x",
    ],
)
def test_a_bare_query_string_replaces_the_query_whatever_its_values(query: str) -> None:
    base = "https://api.pack.cloud/v1/organizations/org_1/serial-numbers"

    assert resolve_link(f"{base}?page=1", query) == f"{base}?{query}"


# --- PageGuard ---------------------------------------------------------------------------------


def test_the_guard_admits_new_pages_and_counts_them() -> None:
    guard = PageGuard(PAGE_1, "serial numbers")

    assert guard.admit(PAGE_1) == PAGE_1
    assert guard.admit(PAGE_2) == PAGE_2
    assert guard.pages == 2


@pytest.mark.parametrize(
    "again",
    [
        PAGE_2,
        "https://api.pack.cloud/v1/organizations/org_1/serial-numbers?per_page=25&page=2",
        "https://API.pack.cloud/v1/organizations/org_1/serial-numbers?page=2&per_page=25#x",
    ],
    ids=["same", "reordered-query", "host-case-and-fragment"],
)
def test_a_page_requested_twice_is_a_loop(again: str) -> None:
    guard = PageGuard(PAGE_1, "serial numbers")
    guard.admit(PAGE_1)
    guard.admit(PAGE_2)

    with pytest.raises(PaginationError, match=r"Pagination loop in the serial numbers listing"):
        guard.admit(again)
    assert guard.pages == 2


@pytest.mark.parametrize(
    "foreign",
    [
        "https://api.pack.cloud.example.com/v1/serial-numbers?page=2",
        "http://api.pack.cloud/v1/serial-numbers?page=2",
        "https://api.pack.cloud:8443/v1/serial-numbers?page=2",
    ],
)
def test_the_guard_refuses_another_origin(foreign: str) -> None:
    guard = PageGuard(PAGE_1, "serial numbers")

    with pytest.raises(PaginationError, match=r"to another origin"):
        guard.admit(foreign)
    assert guard.pages == 0


def test_the_default_port_is_the_same_origin() -> None:
    guard = PageGuard("https://api.pack.cloud/v1", "serial numbers")

    guard.admit("https://api.pack.cloud:443/v1/serial-numbers")

    assert guard.pages == 1


def test_max_pages_admits_exactly_that_many_pages() -> None:
    guard = PageGuard(PAGE_1, "packages", max_pages=3)
    for number in (1, 2, 3):
        guard.admit(f"https://api.pack.cloud/x?page={number}")

    with pytest.raises(PaginationError) as caught:
        guard.admit("https://api.pack.cloud/x?page=4")

    assert "max_pages=3" in str(caught.value)
    assert "'max_pages' extra" in str(caught.value)


def test_without_max_pages_there_is_no_cap() -> None:
    guard = PageGuard(PAGE_1, "packages")

    for number in range(1000):
        guard.admit(f"https://api.pack.cloud/x?page={number}")

    assert guard.pages == 1000


# --- the pieces together, over real HTTP -------------------------------------------------------


def _list_all(client: ApiClient, max_pages: int | None = None) -> list[Any]:
    """The way a paginator combines the pieces: guard each URL, resolve each next link."""
    guard = PageGuard(client.base_url, "items", max_pages)
    url: str | None = client.url_for("items?page=1")
    records: list[Any] = []
    while url:
        page = client.get_json(guard.admit(url))
        records.extend(page.body["data"])
        link = page.body.get("next")
        url = resolve_link(page.url, link) if link else None
    return records


def _pages(links: dict[str, str | None]) -> Any:
    """A server answer listing one record per page, with ``links[page]`` as its next link."""

    def answer(seen: Seen) -> Reply:
        page = seen.target.rsplit("page=", 1)[1]
        return Reply(200, {"data": [f"record-{page}"], "next": links.get(page)})

    return answer


def test_a_listing_follows_every_link_style_to_the_end(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = _pages(
        {"1": "?page=2", "2": "/items?page=3", "3": f"{server.url}/items?page=4"}
    )

    records = _list_all(client_for(server.url))

    assert records == ["record-1", "record-2", "record-3", "record-4"]
    assert server.count == 4


def test_a_listing_whose_links_loop_stops_at_the_repeat(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = _pages({"1": "?page=2", "2": "?page=3", "3": "?page=1"})

    with pytest.raises(PaginationError, match=r"loop"):
        _list_all(client_for(server.url))

    assert server.count == 3


def test_a_listing_never_follows_a_link_to_another_origin(
    server: ScriptedServer, foreign: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = _pages({"1": f"{foreign.url}/items?page=2"})

    with pytest.raises(PaginationError, match=r"another origin"):
        _list_all(client_for(server.url))

    assert server.count == 1
    assert foreign.count == 0


def test_a_listing_stops_at_max_pages(server: ScriptedServer, client_for: ClientFactory) -> None:
    server.default = _pages({str(page): f"?page={page + 1}" for page in range(1, 100)})

    with pytest.raises(PaginationError, match=r"max_pages=3"):
        _list_all(client_for(server.url), max_pages=3)

    assert server.count == 3


# --- prefetch ----------------------------------------------------------------------------------

WAIT = 5.0  # generous bound for events that must happen; never reached when the code is right


class Source:
    """Pages 0, 1, 2, ...; records, for each fetch, how many pages the consumer had received."""

    def __init__(self, count: int | None = None, fail_at: int | None = None) -> None:
        self.count = count
        self.fail_at = fail_at
        self.received = 0
        self.received_when_fetched: list[int] = []
        self.fetched = [threading.Event() for _ in range(100)]
        self.closed = False
        self.threads: set[threading.Thread] = set()

    def pages(self) -> Iterator[int]:
        number = 0
        try:
            while self.count is None or number < self.count:
                self.threads.add(threading.current_thread())
                if number == self.fail_at:
                    raise ServerError("HTTP 503: page failed", status=503)
                self.received_when_fetched.append(self.received)
                self.fetched[number].set()
                yield number
                number += 1
        finally:
            self.closed = True


def test_prefetch_yields_every_page_in_order() -> None:
    source = Source(count=7)

    assert list(prefetch(source.pages())) == list(range(7))
    [thread] = source.threads
    assert thread is not threading.current_thread()
    assert thread.name == "inventory-prefetch"


def test_prefetch_of_nothing_is_nothing() -> None:
    assert list(prefetch(iter([]))) == []


def test_prefetch_fetches_the_next_page_while_the_caller_holds_one() -> None:
    source = Source(count=6)

    for page in prefetch(source.pages()):
        source.received += 1
        if page + 1 < 6:
            assert source.fetched[page + 1].wait(WAIT), f"page {page + 1} was not prefetched"

    # Page n is only fetched once the caller took page n-2: one page waits for the caller,
    # one is being fetched.
    assert all(
        received >= number - 2 for number, received in enumerate(source.received_when_fetched)
    )


def test_prefetch_stays_one_page_ahead_of_a_slow_caller() -> None:
    source = Source(count=10)
    pages = prefetch(source.pages())

    assert next(pages) == 0
    assert source.fetched[2].wait(WAIT)
    # The caller holds page 0, page 1 waits in the queue, page 2 is in the thread's hands:
    # page 3 must not be fetched.
    assert not source.fetched[3].wait(0.3)
    assert next(pages) == 1
    assert source.fetched[3].wait(WAIT)
    pages.close()


def test_a_fetch_error_is_raised_after_the_pages_before_it() -> None:
    pages = prefetch(Source(fail_at=3).pages())

    assert [next(pages), next(pages), next(pages)] == [0, 1, 2]
    with pytest.raises(ServerError, match=r"page failed"):
        next(pages)
    with pytest.raises(StopIteration):  # a failed listing stays failed
        next(pages)


def test_stopping_early_ends_the_background_thread_and_closes_the_source() -> None:
    source = Source()  # endless
    pages = prefetch(source.pages())

    assert [next(pages), next(pages)] == [0, 1]
    pages.close()

    assert source.closed
    [thread] = source.threads
    assert not thread.is_alive()
    assert len(source.received_when_fetched) <= 4


def test_prefetch_needs_at_least_one_page_ahead() -> None:
    with pytest.raises(ValueError, match=r"ahead"):
        prefetch(iter([1]), ahead=0)


def test_prefetch_can_look_further_ahead() -> None:
    source = Source(count=10)
    pages = prefetch(source.pages(), ahead=3)

    assert next(pages) == 0
    assert source.fetched[4].wait(WAIT)
    assert not source.fetched[5].wait(0.3)
    assert list(pages) == list(range(1, 10))


def _numbers(start: int, count: int) -> Iterator[int]:
    yield from range(start, start + count)


def test_merge_concurrently_yields_every_item_once_keeping_each_iterators_order() -> None:
    merged = list(merge_concurrently([_numbers(0, 50), _numbers(100, 50), _numbers(200, 50)], 2))

    assert sorted(merged) == [*range(50), *range(100, 150), *range(200, 250)]
    for start in (0, 100, 200):
        mine = [n for n in merged if start <= n < start + 50]
        assert mine == list(range(start, start + 50))


def test_merge_concurrently_runs_the_iterators_in_parallel() -> None:
    """All four iterators must be running at once to pass the barrier (serially it breaks)."""
    barrier = threading.Barrier(4, timeout=5)

    def meet_then_count(start: int) -> Iterator[int]:
        barrier.wait()
        yield from range(start, start + 10)

    merged = list(merge_concurrently([meet_then_count(i * 100) for i in range(4)], 4))

    assert sorted(merged) == [n for i in range(4) for n in range(i * 100, i * 100 + 10)]


def test_merge_concurrently_raises_the_first_failure_and_stops_the_others() -> None:
    def failing() -> Iterator[int]:
        yield 1
        raise ServerError("boom", status=503)

    endless_pulled: list[int] = []

    def endless() -> Iterator[int]:
        for number in itertools.count():
            endless_pulled.append(number)
            time.sleep(0.005)
            yield number

    with pytest.raises(ServerError, match="boom"):
        list(merge_concurrently([failing(), endless()], 2))

    pulled = len(endless_pulled)
    time.sleep(0.1)
    assert len(endless_pulled) <= pulled + 1
    assert not [t for t in threading.enumerate() if t.name.startswith("inventory-range")]


def test_closing_merge_concurrently_early_stops_its_threads() -> None:
    merged = merge_concurrently([itertools.count(), itertools.count(1000)], 2)
    assert next(merged) is not None

    merged.close()

    assert not [t for t in threading.enumerate() if t.name.startswith("inventory-range")]


def test_with_query_keeps_brackets_readable_and_encodes_the_rest() -> None:
    base = "https://acme.commercelayer.io/api/packages"
    params = {"page[size]": "25", "filter[q][name_cont]": "a&b c/d"}
    expected = f"{base}?page[size]=25&filter[q][name_cont]=a%26b+c%2Fd"
    assert with_query(base, params) == expected
    assert with_query(base, tuple(params.items())) == expected  # pairs, as PackHook passes
    assert with_query(base, {}) == base
    assert with_query(base, ()) == base
