"""The end-of-listing rules, over real HTTP against quirky scripted servers.

Each rule ends in the exact record set or a clear ``PaginationError``: short pages that still link
a next page are not the end; a missing next link the server's totals contradict is an error; a
next link that serves the same page again (a cache-buster loop) is refused before its records are
yielded twice.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

from airflow_provider_inventory._http.client import ApiClient
from airflow_provider_inventory._http.paginators import (
    EndOfListing,
    KeysetPaginator,
    NextLinkPaginator,
    Page,
    PageGuard,
    PageNumberPaginator,
    PageParser,
    Paginator,
    paginate,
    paginate_concurrently,
)
from airflow_provider_inventory._http.stream import RecordStream
from airflow_provider_inventory.exceptions import BadResponseError, PaginationError
from airflow_provider_inventory.hooks import _commercelayer_query as cl_pages
from airflow_provider_inventory.hooks import pack as pack_hook
from airflow_provider_inventory.hooks.commercelayer import CommerceLayerHook
from tests.http import API_TOKEN, ClientFactory, Reply, ScriptedServer, Seen

IDS = [f"r{number:03d}" for number in range(1, 101)]
CAP = 10  # the server returns at most this many records per page, whatever page[size] asks


def query_of(seen: Seen) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(seen.target).query))


def capped_jsonapi(
    server: ScriptedServer, *, totals: bool = True, links: bool = True
) -> Callable[[Seen], Reply]:
    """A JSON:API list of 100 records that caps pages at 10 (of page[size]=25).

    ``filter[q][id_gt]`` and ``page[number]`` work as on Commerce Layer; ``links.next`` is given
    while records remain; ``meta`` counts the records of the query and its pages at the cap.
    """

    def answer(seen: Seen) -> Reply:
        query = query_of(seen)
        after = query.get("filter[q][id_gt]")
        matching = [i for i in IDS if after is None or i > after]
        number = int(query.get("page[number]", "1"))
        chunk = matching[(number - 1) * CAP : number * CAP]
        body: dict[str, Any] = {"data": [{"id": i, "type": "things"} for i in chunk]}
        if totals:
            body["meta"] = {
                "record_count": len(matching),
                "page_count": math.ceil(len(matching) / CAP),
            }
        if links:
            body["links"] = {}
            if number * CAP < len(matching):
                path = urlsplit(seen.target).path
                body["links"]["next"] = f"{server.url}{path}?" + "&".join(
                    f"{k}={v}" for k, v in {**query, "page[number]": str(number + 1)}.items()
                )
        return Reply(200, body)

    return answer


def listing(
    client: ApiClient,
    paginator: Paginator,
    end: EndOfListing,
    parse: PageParser = cl_pages.parse_page,
) -> Iterator[Page]:
    guard = PageGuard(client.base_url, end.what)
    return paginate(client.get_json, paginator, parse, guard=guard, end=end)


def keyset(client: ApiClient, end: EndOfListing, **params: str) -> KeysetPaginator:
    """Commerce Layer's default paging of ``things``: by id, 25 a page, after the last id."""
    query = {"sort": "id", "page[size]": "25", **params}
    return KeysetPaginator(client.url_for("things"), query, "filter[q][id_gt]", end)


def ids_of(pages: Iterator[Page]) -> list[str]:
    return [record["id"] for page in pages for record in page.records]


# ---------------------------------------------------------------------- short pages


def test_keyset_short_pages_with_a_next_link_are_not_the_end(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = capped_jsonapi(server)
    client = client_for(server.url)
    end = EndOfListing("things")
    paginator = keyset(client, end)

    assert ids_of(listing(client, paginator, end)) == IDS
    # ten pages of ten; the last says it held the rest, so no empty page is asked for
    assert server.count == 10


def test_keyset_without_totals_or_links_goes_on_until_an_empty_page(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = capped_jsonapi(server, totals=False, links=False)
    client = client_for(server.url)
    end = EndOfListing("things")
    paginator = keyset(client, end)

    assert ids_of(listing(client, paginator, end)) == IDS
    assert server.count == 11


def test_next_link_short_pages_are_followed_to_the_end(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = capped_jsonapi(server)
    client = client_for(server.url)
    end = EndOfListing("things")
    paginator = NextLinkPaginator(client.url_for("things?page[size]=25&page[number]=1"), end)

    assert ids_of(listing(client, paginator, end)) == IDS


def test_page_numbers_go_on_while_the_server_counts_more_pages(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = capped_jsonapi(server, links=False)
    client = client_for(server.url)
    end = EndOfListing("things")
    paginator = PageNumberPaginator(client.url_for("things"), {"page[size]": "25"}, 25, end)

    assert ids_of(listing(client, paginator, end)) == IDS
    assert server.count == 10


def test_page_numbers_without_totals_end_at_a_short_page(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = capped_jsonapi(server, totals=False, links=False)
    client = client_for(server.url)
    end = EndOfListing("things")
    paginator = PageNumberPaginator(client.url_for("things"), {"page[size]": "10"}, 10, end)

    assert ids_of(listing(client, paginator, end)) == IDS
    assert server.count == 11  # the eleventh page is empty


def test_the_commerce_layer_hook_lists_every_record_of_a_server_that_caps_pages(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    listing_answer = capped_jsonapi(server)

    def answer(seen: Seen) -> Reply:
        if seen.method == "POST":
            return Reply(200, {"access_token": "tok-capped-1", "expires_in": 7200})
        return listing_answer(seen)

    server.default = answer
    connection = {
        "conn_type": "commercelayer",
        "host": server.url,
        "login": "client-id",
        "password": "client-secret",
        "extra": {
            "auth_url": f"{server.url}/oauth/token",
            "rate_limit_average": 6000,
            "rate_limit_burst": 1000,
        },
    }
    monkeypatch.setenv("AIRFLOW_CONN_CL_CAPPED", json.dumps(connection))

    # A made-up resource of a scripted server: sent without the schema checks.
    with CommerceLayerHook("cl_capped", schema_checks=False) as hook:
        by_id = [record["id"] for record in hook.iter_resources("things")]
        by_links = [record["id"] for record in hook.iter_resources("things", sort="-id")]

    assert by_id == IDS  # keyset: short pages with next links are not the end
    assert sorted(by_links) == IDS  # links.next followed over short pages


# ---------------------------------------------------------------------- totals that disagree


def test_a_missing_next_link_the_totals_contradict_is_an_error(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    # 25 of 100 records, page 1 of 4, and no links.next: the listing must not end here.
    server.default = Reply(
        200,
        {
            "data": [{"id": i, "type": "things"} for i in IDS[:25]],
            "meta": {"record_count": 100, "page_count": 4},
            "links": {"first": f"{server.url}/things?page[number]=1"},
        },
    )
    client = client_for(server.url)
    end = EndOfListing("Commerce Layer things")
    paginator = NextLinkPaginator(client.url_for("things?page[number]=1"), end)
    pages = listing(client, paginator, end)

    assert len(next(pages).records) == 25
    with pytest.raises(PaginationError, match=r"reports 4 pages and 1 were received"):
        next(pages)
    assert server.count == 1


def test_a_missing_next_link_the_record_count_contradicts_is_an_error(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = Reply(
        200, {"data": [{"id": i} for i in IDS[:25]], "next": None, "meta": {"record_count": 100}}
    )
    client = client_for(server.url)
    end = EndOfListing("Pack serial numbers")
    paginator = NextLinkPaginator(client.url_for("items"), end)

    with pytest.raises(PaginationError, match=r"reports 100 records and 25 were received"):
        list(listing(client, paginator, end, parse=pack_hook.parse_page))


def test_keyset_goes_on_when_the_totals_say_more_than_the_links(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    # The server's links end early (no next) but its count says more: keyset paging goes on.
    plain = capped_jsonapi(server)

    def no_next(seen: Seen) -> Reply:
        reply = plain(seen)
        reply.body["links"] = {}
        return reply

    server.default = no_next
    client = client_for(server.url)
    end = EndOfListing("things")
    paginator = keyset(client, end)

    assert ids_of(listing(client, paginator, end)) == IDS


def test_an_empty_keyset_page_the_server_counts_records_for_is_an_error(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.script(Reply(200, {"data": [{"id": "r001"}], "meta": {"record_count": 5}}))
    server.default = Reply(200, {"data": [], "meta": {"record_count": 4}})
    client = client_for(server.url)
    end = EndOfListing("things")
    paginator = keyset(client, end)

    with pytest.raises(PaginationError, match=r"it is empty, but the server counts 4 more"):
        list(listing(client, paginator, end))


# ---------------------------------------------------------------------- loops


def cache_buster_pack_pages(server: ScriptedServer) -> Callable[[Seen], Reply]:
    """Pack pages 1 and 2, then a next link that serves page 2 again under a new ``_`` value."""

    def answer(seen: Seen) -> Reply:
        query = query_of(seen)
        page = int(query.get("page", "1"))
        records = [{"id": i, "updated_at": "2025-01-01T00:00:00.000Z"} for i in IDS[:25]]
        if page >= 2:
            records = [{"id": i, "updated_at": "2025-01-01T00:00:00.000Z"} for i in IDS[25:50]]
        next_link = f"?page=2&_={server.count}"  # a fresh cache-buster each time
        return Reply(200, {"data": records, "next": next_link, "per_page": 25})

    return answer


def test_a_cache_buster_loop_is_an_error_before_any_record_repeats(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    server.default = cache_buster_pack_pages(server)
    client = client_for(server.url)
    end = EndOfListing("Pack serial numbers")
    paginator = NextLinkPaginator(client.url_for("items?page=1"), end)
    stream = RecordStream(
        listing(client, paginator, end, parse=pack_hook.parse_page), what="Pack serial numbers"
    )
    yielded: list[str] = []

    with pytest.raises(PaginationError, match=r"page 3 .* repeats the records of page 2"):
        yielded.extend(record["id"] for record in stream)

    assert yielded == IDS[:50]  # every record once, none of the looping page
    assert server.count == 3


def test_pages_of_records_without_ids_are_left_to_the_url_check(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    # No ids: no fingerprint, but the same URL again is still a loop.
    server.default = Reply(200, {"data": [{"code": "A"}], "next": "?page=1"})
    client = client_for(server.url)
    end = EndOfListing("items")
    paginator = NextLinkPaginator(client.url_for("items?page=1"), end)

    with pytest.raises(PaginationError, match=r"already requested"):
        list(listing(client, paginator, end, parse=pack_hook.parse_page))


# ---------------------------------------------------------------------- parallel ranges


def test_concurrent_ranges_yield_every_page_once(
    server: ScriptedServer, client_for: ClientFactory
) -> None:
    def ranged(seen: Seen) -> Reply:
        query = query_of(seen)
        low, high = query["filter[q][id_gteq]"], query["filter[q][id_lt]"]
        after = query.get("filter[q][id_gt]", "")
        chunk = [i for i in IDS if low <= i < high and i > after][:CAP]
        return Reply(200, {"data": [{"id": i} for i in chunk]})

    server.default = ranged
    client = client_for(server.url)
    bounds = [("r001", "r030"), ("r030", "r075"), ("r075", "r999")]
    listings = []
    for low, high in bounds:
        end = EndOfListing("things")
        paginator = keyset(client, end, **{"filter[q][id_gteq]": low, "filter[q][id_lt]": high})
        listings.append(listing(client, paginator, end))

    assert sorted(ids_of(paginate_concurrently(listings, workers=3))) == IDS


# ---------------------------------------------------------------------- server timestamps


def test_a_garbage_server_timestamp_names_the_record_and_the_field(
    server: ScriptedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [
        {"id": "sn_1", "updated_at": "2025-03-01T10:00:00.000Z"},
        {"id": "sn_2", "updated_at": "yesterday-ish"},
    ]
    server.default = Reply(200, {"data": records, "next": None})
    connection = {
        "conn_type": "pack",
        "host": server.url,
        "password": API_TOKEN,
        "extra": {"organization_id": "org_1", "max_attempts": 1},
    }
    monkeypatch.setenv("AIRFLOW_CONN_PACK_GARBAGE", json.dumps(connection))

    with (
        pack_hook.PackHook("pack_garbage") as hook,
        pytest.raises(BadResponseError, match=r"Record 'sn_2': updated_at is 'yesterday-ish'"),
    ):
        hook.list_serial_numbers(updated_since="2025-01-01T00:00:00Z")


# ---------------------------------------------------------------------- the record stream


def test_the_stream_counts_what_it_received_and_yielded_and_logs_one_summary(
    server: ScriptedServer, client_for: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="airflow_provider_inventory._http.stream")
    server.default = capped_jsonapi(server)
    client = client_for(server.url)
    end = EndOfListing("things")
    paginator = keyset(client, end)
    odd = lambda page: [r for r in page.records if int(r["id"][1:]) % 2]  # noqa: E731
    stream = RecordStream(
        listing(client, paginator, end), what="things", stats=lambda: client.stats, records_of=odd
    )

    assert stream.counters().pages == 0  # nothing requested before the first record
    assert server.count == 0
    with stream:
        kept = [record["id"] for record in stream]

    counters = stream.counters()
    assert kept == IDS[::2]
    assert (counters.records, counters.received, counters.pages) == (50, 100, 10)
    assert counters.requests == server.count == 10
    summaries = [r.getMessage() for r in caplog.records if "listed" in r.getMessage()]
    assert summaries == [
        "things: listed 50 records (of 100 received) in 10 pages (10 requests, 0 retries, "
        "0.0 s paced)."
    ]


def test_resource_stream_is_the_record_stream() -> None:
    from airflow_provider_inventory.hooks.commercelayer import ResourceStream

    assert ResourceStream is RecordStream
