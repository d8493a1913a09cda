"""``CommerceLayerHook``: any Commerce Layer list resource (packages, stock locations, ...).

Authentication is OAuth2 ``client_credentials`` against the connection's token URL. Access
tokens are cached in memory for the whole process, keyed by (token URL, client id, scope, a hash
of the secret), and refreshed a margin before they expire (``max(60 s, 10 %)`` of their
lifetime, at most half of it), under a lock so that parallel requests fetch one token, not many
(see ``_http.tokens``). Nothing is ever written to disk or to Airflow state. A token the API
reports expired mid-listing (401 ``INVALID_TOKEN``) is replaced once and the request retried.

Listings are consistent under concurrent changes by default: without ``sort`` (or with
``sort="id"``) they use keyset paging by id as Commerce Layer's own tools do (``sort=id`` and
``filter[q][id_gt]=<last id>``): however records are created, updated or deleted meanwhile,
every record that exists for the whole listing is yielded exactly once and no record twice (one
created during the listing is yielded when its id sorts after the position reached). With another
``sort`` they follow ``links.next`` page by page and drop repeated ids, but a record that moves
between pages during the listing can still be missed: use the default order where that matters.
Parallel listings split the id space into disjoint ranges
(:meth:`CommerceLayerHook.plan_partitions`), keyset-page each range on its own thread and yield
pages as they arrive (ascending id within a range, ranges interleaved).

Requests are paced so that a listing never sends faster than the API allows: one sliding-window
pacer per API host and rate-limit class ("cacheable" for the resources Commerce Layer documents as
cacheable, else "uncacheable"), shared by every thread and hook in the process. Without explicit
limits the pacer starts at the documented live read limits and adopts the server's
``X-Ratelimit-Limit`` / ``X-Ratelimit-Interval``; the connection extras ``rate_limit_average``,
``rate_limit_interval``, ``rate_limit_burst`` and ``rate_limit_burst_interval`` pin the limits for
every class instead (a missing burst is scaled from the documented average/burst ratio). A 429
that happens anyway waits ``Retry-After`` or ``X-Ratelimit-Interval`` (see ``_http.retry``).
"""

from __future__ import annotations

import hashlib
import itertools
import logging
import threading
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from airflow_provider_inventory import COMMERCELAYER_DEFAULT_CONN_ID
from airflow_provider_inventory._http.client import ApiClient, ClientStats, JsonResponse
from airflow_provider_inventory._http.errors import (
    AuthenticationError,
    BadResponseError,
    InventoryApiError,
    InventoryConfigError,
    NotFoundError,
    RequestRejectedError,
    TokenExpiredError,
)
from airflow_provider_inventory._http.pacing import RatePacer, pacer_for
from airflow_provider_inventory._http.paging import (
    PageGuard,
    close_iterator,
    merge_concurrently,
    prefetch,
    resolve_link,
    with_query,
)
from airflow_provider_inventory._http.redaction import Scrubber
from airflow_provider_inventory._http.settings import (
    RateLimit,
    check_transport_security,
    split_host_url,
)
from airflow_provider_inventory._http.tokens import shared_token_cache
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.hooks.base import InventoryHook, describe_failure
from airflow_provider_inventory.jsonapi import (
    PARTITION_KEYS,
    Identity,
    encode_filters,
    encode_include,
    encode_sort,
    index_included,
    partition_filters,
    sparse_fieldset,
)
from airflow_provider_inventory.jsonapi import flatten as flatten_resource
from airflow_provider_inventory.window import Instant, Window, format_instant

log = logging.getLogger(__name__)

DEFAULT_AUTH_URL = "https://auth.commercelayer.io/oauth/token"
API_DOMAIN = "commercelayer.io"
JSONAPI_MEDIA_TYPE = "application/vnd.api+json"
MAX_PAGE_SIZE = 25
MAX_WORKERS = 16
MAX_PARTITIONS = 1000
DEFAULT_TOKEN_LIFETIME = 7200.0

#: Resources Commerce Layer documents as cacheable reads (higher rate limits).
CACHEABLE_RESOURCES = frozenset(
    {
        "bundles",
        "imports",
        "markets",
        "prices",
        "price_lists",
        "promotions",
        "skus",
        "sku_options",
        "stock_items",
        "stock_locations",
    }
)
CACHEABLE = "cacheable"
UNCACHEABLE = "uncacheable"
TOKEN_ENDPOINT = "token"
#: The documented live read limits per class: (average per 60 s, burst per 10 s).
DEFAULT_RATE_LIMITS: dict[str, tuple[RateLimit, RateLimit]] = {
    UNCACHEABLE: (RateLimit(200, 60.0), RateLimit(50, 10.0)),
    CACHEABLE: (RateLimit(1000, 60.0), RateLimit(250, 10.0)),
}
_PROGRESS_EVERY_PAGES = 100


def rate_class(resource: str) -> str:
    """The rate-limit class of a resource: ``"cacheable"`` or ``"uncacheable"``."""
    cacheable = resource in CACHEABLE_RESOURCES or resource.endswith("_promotions")
    return CACHEABLE if cacheable else UNCACHEABLE


# ---------------------------------------------------------------------- access tokens


def reset_token_cache() -> None:
    """Forget every cached access token (tests, or after rotating a secret)."""
    shared_token_cache().clear()


# ---------------------------------------------------------------------- listings


@dataclass
class _Page:
    records: list[Record]
    included: list[Record] = field(default_factory=list)


class ResourceStream(Iterator[Record]):
    """The records of one listing, fetched page by page while they are consumed.

    Attributes:
        included: with ``flatten=False``, every included resource seen so far by ``(type, id)``;
            resolve a relationship with :func:`airflow_provider_inventory.jsonapi.related`.
        records: records yielded so far.
        pages: pages received so far.

    ``close()`` (or leaving a ``with`` block) stops the listing and its background fetching.
    """

    def __init__(
        self,
        pages: Iterator[_Page],
        *,
        flat: bool,
        what: str,
        stats: Callable[[], ClientStats] = ClientStats,
    ) -> None:
        self.included: dict[Identity, Record] = {}
        self.records = 0
        self.pages = 0
        self._flat = flat
        self._what = what
        self._stats = stats
        self._iterator = self._records(pages)

    def __iter__(self) -> ResourceStream:
        return self

    def __next__(self) -> Record:
        return next(self._iterator)

    def close(self) -> None:
        """Stop the listing; pending background requests are abandoned."""
        self._iterator.close()

    def __enter__(self) -> ResourceStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _records(self, pages: Iterator[_Page]) -> Generator[Record, None, None]:
        before = self._stats()
        try:
            for page in pages:
                self.pages += 1
                included = index_included(page.included)
                if not self._flat:
                    self.included.update(included)
                for resource in page.records:
                    self.records += 1
                    yield flatten_resource(resource, included) if self._flat else resource
                if self.pages % _PROGRESS_EVERY_PAGES == 0:
                    log.info(
                        "%s: %d records in %d pages so far", self._what, self.records, self.pages
                    )
        finally:
            close_iterator(pages)
        after = self._stats()
        log.info(
            "%s: listed %d records in %d pages (%d requests, %d retries, %.1f s paced).",
            self._what,
            self.records,
            self.pages,
            after.requests - before.requests,
            after.retries - before.retries,
            after.paced_seconds - before.paced_seconds,
        )


@dataclass(frozen=True)
class _Query:
    """A validated listing: the resource, its query parameters and how to page it."""

    resource: str
    params: dict[str, str]
    page_size: int
    keyset: bool


class CommerceLayerHook(InventoryHook):
    """Reads any Commerce Layer list resource through the JSON:API core API.

    Connection fields: host (``https://{slug}.commercelayer.io`` or just the organization slug),
    login (client id), password (client secret), and the extras ``scope``, ``auth_url`` (default
    ``https://auth.commercelayer.io/oauth/token``), the HTTP settings (timeouts, retries,
    ``max_pages``) and the rate limits described in the module doc.

    Use it as a context manager (or call :meth:`close`) to release pooled connections.

    Args:
        commercelayer_conn_id: the Airflow connection id.
    """

    conn_name_attr = "commercelayer_conn_id"
    default_conn_name = COMMERCELAYER_DEFAULT_CONN_ID
    conn_type = "commercelayer"
    hook_name = "Commerce Layer"

    def __init__(self, commercelayer_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(commercelayer_conn_id, **kwargs)
        self.commercelayer_conn_id = commercelayer_conn_id
        self._scrubber = Scrubber()
        self._clients: dict[str, ApiClient] = {}
        self._clients_lock = threading.Lock()
        self._last_token = threading.local()

    # ------------------------------------------------------------------ connection

    @cached_property
    def api_url(self) -> str:
        """The API root, ``https://{slug}.commercelayer.io/api``.

        Raises:
            InventoryConfigError: the host is missing or is not a URL or an organization slug.
        """
        return api_base_url(self.connection.host, self.connection.port, self.conn_id)

    @cached_property
    def auth_url(self) -> str:
        """The OAuth2 token endpoint (extra ``auth_url``), checked to use HTTPS (or loopback)."""
        url = self.extra.string("auth_url", DEFAULT_AUTH_URL) or DEFAULT_AUTH_URL
        check_transport_security(url, self.http_settings, self.conn_id, "extra field 'auth_url'")
        return url

    @cached_property
    def scope(self) -> str | None:
        """The OAuth2 scope (extra ``scope``), or ``None`` for the credential's default."""
        return self.extra.string("scope")

    @cached_property
    def _credentials(self) -> tuple[str, str]:
        client_id = self.connection.login
        if not client_id:
            raise InventoryConfigError(
                f"Connection '{self.conn_id}' has no client ID: set the connection's login field "
                f"(shown as 'Client ID' in the UI) to the integration's client ID."
            )
        secret = self.require_password("Client secret")
        self._scrubber.add(client_id, "commercelayer_client_id")
        self._scrubber.add(secret, "commercelayer_client_secret")
        return client_id, secret

    @cached_property
    def _token_key(self) -> tuple[str, ...]:
        client_id, secret = self._credentials
        digest = hashlib.sha256(secret.encode()).hexdigest()
        return (self.auth_url, client_id, self.scope or "", digest)

    def get_access_token(self) -> str:
        """A valid access token from the process-wide cache, fetched when needed.

        Raises:
            AuthenticationError: the token endpoint refused the client id, secret or scope.
            InventoryApiError: the token endpoint could not be reached or answered nonsense.
        """
        return shared_token_cache().get(self._token_key, self._fetch_token)

    def _fetch_token(self) -> tuple[str, float]:
        client_id, secret = self._credentials
        body = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        if self.scope:
            body["scope"] = self.scope
        try:
            response = self._client_for_class(TOKEN_ENDPOINT).request(
                "POST", self.auth_url, json_body=body
            )
        except (AuthenticationError, RequestRejectedError) as error:
            raise self._token_refused(error) from None
        token, lifetime = _parse_token(response)
        self._scrubber.add(token, "commercelayer_access_token")
        log.info(
            "Fetched a Commerce Layer access token for connection '%s' (valid %.0f s).",
            self.conn_id,
            lifetime,
        )
        return token, lifetime

    def _token_refused(self, error: InventoryApiError) -> AuthenticationError:
        if error.code == "invalid_scope":
            hint = (
                f"The scope {self.scope!r} was refused: fix the connection's extra field 'scope' "
                f"(e.g. 'market:id:xYZkjABcde' or 'stock_location:code:eu_warehouse') or leave "
                f"it empty."
            )
        else:
            hint = (
                "Check the connection's login (Client ID), password (Client secret) and extra "
                "field 'scope'."
            )
        return AuthenticationError(
            f"Could not get a Commerce Layer access token ({error.message}). {hint}",
            status=error.status,
            code=error.code,
            title=error.title,
            detail=error.detail,
            method=error.method,
            url=error.url,
        )

    def _auth_headers(self) -> dict[str, str]:
        token = self.get_access_token()
        # Remember which token this thread sent, so a 401 INVALID_TOKEN retires that one only.
        self._last_token.value = token
        return {"Authorization": f"Bearer {token}"}

    def _build_client(self) -> ApiClient:
        return self._new_client(UNCACHEABLE)

    def _client_for(self, resource: str) -> ApiClient:
        """The client whose pacer matches ``resource``'s rate-limit class."""
        return self._client_for_class(rate_class(resource))

    def _client_for_class(self, kind: str) -> ApiClient:
        with self._clients_lock:  # listing threads may ask for a client concurrently
            if kind == UNCACHEABLE:
                return self.client
            if kind not in self._clients:
                self._clients[kind] = self._new_client(kind)
            return self._clients[kind]

    def _new_client(self, kind: str) -> ApiClient:
        self._credentials  # noqa: B018 - registers the secrets with the scrubber first
        if kind == TOKEN_ENDPOINT:
            # Its own client: another origin, no API Authorization header, and no API pacer
            # (the token endpoint's X-Ratelimit headers describe its own, separate limit).
            return ApiClient(
                self.auth_url,
                self.http_settings,
                conn_id=self.conn_id,
                default_headers={"Accept": "application/json"},
                scrubber=self._scrubber,
            )
        return ApiClient(
            self.api_url,
            self.http_settings,
            conn_id=self.conn_id,
            auth_headers=self._auth_headers,
            default_headers={"Accept": JSONAPI_MEDIA_TYPE},
            pacer=self.pacer(kind),
            scrubber=self._scrubber,
            pool_size=MAX_WORKERS + 2,
        )

    def pacer(self, kind: str) -> RatePacer:
        """The process-wide pacer for this API host and rate-limit class (see the module doc).

        Args:
            kind: ``"cacheable"`` or ``"uncacheable"`` (see :func:`rate_class`).

        Raises:
            ValueError: ``kind`` is neither.
            InventoryConfigError: a rate-limit extra is invalid.
        """
        if kind not in DEFAULT_RATE_LIMITS:
            raise ValueError(f"kind must be one of {sorted(DEFAULT_RATE_LIMITS)}, got {kind!r}")
        average = self.extra.rate_limit("rate_limit_average", "rate_limit_interval", 60.0)
        burst = self.extra.rate_limit("rate_limit_burst", "rate_limit_burst_interval", 10.0)
        default_average, default_burst = DEFAULT_RATE_LIMITS[kind]
        pinned = average is not None or burst is not None
        average = average or default_average
        if burst is None:
            scaled = average.limit * default_burst.limit // default_average.limit
            burst = RateLimit(max(1, scaled), default_burst.interval)
        # Keyed by host, not connection id: the API limits per client IP and organization, so
        # two connections to one organization share one budget.
        return pacer_for(
            self.api_url,
            kind,
            (average, burst),
            pinned=pinned,
            max_wait=self.http_settings.max_retry_wait,
        )

    @property
    def stats(self) -> ClientStats:
        """Requests sent, retries made and seconds spent pacing by this hook, for progress logs."""
        total = ClientStats()
        with self._clients_lock:
            clients = [self._client, *self._clients.values()]
        for client in clients:
            if client is not None:
                total.requests += client.stats.requests
                total.retries += client.stats.retries
                total.paced_seconds += client.stats.paced_seconds
        return total

    def close(self) -> None:
        """Release pooled connections (cached tokens stay cached for other hooks)."""
        super().close()
        with self._clients_lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()

    # ------------------------------------------------------------------ public API

    def iter_resources(
        self,
        resource: str,
        *,
        filters: Mapping[str, Any] | None = None,
        sort: str | Sequence[str] | None = None,
        fields: str | Sequence[str] | None = None,
        include: str | Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
        flatten: bool = True,
        max_workers: int = 1,
        partition: Mapping[str, Any] | None = None,
    ) -> ResourceStream:
        """Stream every record of a list resource, one page in memory at a time.

        Arguments are checked when this is called; no request is sent until the first record
        is asked for. While the caller works through one page the next is already being fetched.

        Args:
            resource: the list resource (``packages``, ``stock_locations``, ``skus``...).
            filters: ``{attribute(s)}_{predicate}`` -> value, sent as ``filter[q][...]``; see
                :func:`airflow_provider_inventory.jsonapi.encode_filters` for accepted values.
            sort: ``"-created_at,code"`` or ``["-created_at", "code"]``. ``None`` or ``"id"``
                lists by id with keyset paging (consistent under concurrent changes); any other
                order pages by number and drops repeated ids.
            fields: sparse fieldset of ``resource``; included relationships are added to it.
            include: relationships to include (dot paths for nested ones).
            page_size: records per request, 1 to 25.
            updated_since: keep records with ``updated_at >= updated_since`` (server-side).
            updated_before: keep records with ``updated_at < updated_before`` (server-side).
            flatten: yield flat records ``{"id", "type", **attributes, "meta",
                "<relationship>_id"...}`` with included resources attached under the
                relationship's name; ``False`` yields the JSON:API resource objects untouched and
                collects included resources in the returned stream's ``included`` mapping.
            max_workers: above 1, split the id space into this many ranges
                (:meth:`plan_partitions`) and list them in parallel. Records then arrive as
                their pages do: ascending by id within a range, ranges interleaved. Needs the
                default order.
            partition: one spec from :meth:`plan_partitions`: list only that id range.

        Returns:
            A :class:`ResourceStream` (an iterator of records).

        Raises:
            InventoryConfigError: an argument or a connection field is invalid (raised here).
            InventoryApiError: a request failed after its retries, or a page is malformed
                (raised while iterating; the records already yielded are not a complete result).
        """
        query = self._query(
            resource,
            filters=filters,
            sort=sort,
            fields=fields,
            include=include,
            page_size=page_size,
            updated_since=updated_since,
            updated_before=updated_before,
            partition=partition,
        )
        workers = _checked_workers(max_workers)
        what = f"Commerce Layer {resource}"
        if workers > 1:
            if not query.keyset:
                raise InventoryConfigError(
                    f"max_workers={workers} needs the default order (sort=None or 'id'): "
                    f"parallel ranges are split by id. Drop sort, or use max_workers=1."
                )
            if partition is not None:
                raise InventoryConfigError(
                    "Pass either partition (one range, e.g. in a mapped task) or max_workers > 1 "
                    "(ranges planned here), not both."
                )
            _refuse_id_bounds(query, "max_workers > 1 plans")
            pages: Iterator[_Page] = self._parallel_pages(query, workers)
        else:
            pages = prefetch(self._pages(query))
        return ResourceStream(pages, flat=flatten, what=what, stats=lambda: self.stats)

    def list_resources(self, resource: str, **kwargs: Any) -> list[Record]:
        """All records of :meth:`iter_resources` as a list; for small sets."""
        with self.iter_resources(resource, **kwargs) as stream:
            return list(stream)

    def iter_packages(self, **kwargs: Any) -> ResourceStream:
        """``iter_resources("packages", **kwargs)``."""
        return self.iter_resources("packages", **kwargs)

    def list_packages(self, **kwargs: Any) -> list[Record]:
        """``list_resources("packages", **kwargs)``."""
        return self.list_resources("packages", **kwargs)

    def count(
        self,
        resource: str,
        *,
        filters: Mapping[str, Any] | None = None,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
        partition: Mapping[str, Any] | None = None,
    ) -> int:
        """How many records match, from the server's ``meta.record_count`` (one request).

        Raises:
            InventoryConfigError: an argument is invalid.
            InventoryApiError: the request failed or the answer has no record count.
        """
        query = self._query(
            resource,
            filters=filters,
            updated_since=updated_since,
            updated_before=updated_before,
            partition=partition,
        )
        return self._count(query)

    def plan_partitions(
        self,
        resource: str,
        n: int,
        *,
        filters: Mapping[str, Any] | None = None,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
    ) -> list[dict[str, str | None]]:
        """Split a listing into at most ``n`` disjoint id ranges of about equal size.

        The ranges cover the whole id space (the first starts open, the last ends open), so the
        union of ``iter_resources(..., partition=spec)`` over them is exactly the unpartitioned
        listing, even if records are created or deleted meanwhile; only the balance depends on
        ``filters`` and the window. Costs ``n`` requests: the count, then one one-record probe
        per split point, each ``count / n`` records after the previous split point in the
        ``sort=id`` listing (so split points strictly increase even if data changes meanwhile).

        Args:
            resource: the list resource.
            n: the number of ranges wanted (1 to 1000); fewer come back for small sets.
            filters, updated_since, updated_before: as for :meth:`iter_resources`.

        Returns:
            JSON-able specs ``{"id_gteq": id | None, "id_lt": id | None}`` in id order.
        """
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_PARTITIONS:
            raise InventoryConfigError(
                f"n must be a whole number from 1 to {MAX_PARTITIONS}, got {n!r}."
            )
        query = self._query(
            resource, filters=filters, updated_since=updated_since, updated_before=updated_before
        )
        _refuse_id_bounds(query, "plan_partitions plans")
        return self._plan(query, n)

    def get_resource(
        self,
        resource: str,
        resource_id: str,
        *,
        fields: str | Sequence[str] | None = None,
        include: str | Sequence[str] | None = None,
        flatten: bool = True,
    ) -> Record:
        """One record by id.

        Returns:
            The flat record (see :meth:`iter_resources`), or with ``flatten=False`` the whole
            JSON:API document (``data`` and ``included``).

        Raises:
            InventoryConfigError: an argument is invalid.
            NotFoundError: there is no such record.
            InventoryApiError: the request failed.
        """
        check_resource(resource)
        if not isinstance(resource_id, str) or not resource_id.strip():
            raise InventoryConfigError(
                f"resource_id must be a non-empty string, got {resource_id!r}."
            )
        params = {**sparse_fieldset(resource, fields, include)}
        included_paths = encode_include(include)
        if included_paths:
            params["include"] = included_paths
        client = self._client_for(resource)
        url = with_query(client.url_for(f"{resource}/{quote(resource_id, safe='')}"), params)
        body = self._get(client, url, resource).body
        if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
            raise _bad_body(url, "expected a JSON object with a 'data' object", body)
        if not flatten:
            return body
        return flatten_document(body)

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a token, then read one package, to check host, credentials and scope.

        Returns:
            ``(True, message)`` when both worked, else ``(False, reason)`` with a readable,
            secret-free reason naming the field to fix.
        """
        try:
            self.get_access_token()
            total = self.count("packages")
        except Exception as error:
            return False, describe_failure(error)
        return True, (
            f"Connected to Commerce Layer at {self.api_url}: token obtained"
            f"{f' for scope {self.scope!r}' if self.scope else ''}, {total} packages visible."
        )

    # ------------------------------------------------------------------ listing internals

    def _query(
        self,
        resource: str,
        *,
        filters: Mapping[str, Any] | None = None,
        sort: str | Sequence[str] | None = None,
        fields: str | Sequence[str] | None = None,
        include: str | Sequence[str] | None = None,
        page_size: int = MAX_PAGE_SIZE,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
        partition: Mapping[str, Any] | None = None,
    ) -> _Query:
        """Validate a listing's arguments and build its query parameters (no request)."""
        check_resource(resource)
        size = _checked_page_size(page_size)
        order = encode_sort(sort)
        keyset = order in (None, "id")
        params = {"sort": "id"} if keyset else {"sort": str(order)}
        params["page[size]"] = str(size)
        params.update(sparse_fieldset(resource, fields, include))
        included = encode_include(include)
        if included:
            params["include"] = included
        params.update(encode_filters(filters))
        params = _merged(params, window_filters(updated_since, updated_before), "the window")
        params = _merged(params, partition_filters(partition), "partition")
        if keyset and "filter[q][id_gt]" in params:
            raise InventoryConfigError(
                "filters: 'id_gt' is used by keyset paging (the default order). Use 'id_gteq' "
                "(or a partition) for a lower id bound, or pass an explicit sort."
            )
        return _Query(resource, params, size, keyset)

    def _pages(self, query: _Query) -> Iterator[_Page]:
        return self._keyset_pages(query) if query.keyset else self._numbered_pages(query)

    def _keyset_pages(self, query: _Query) -> Iterator[_Page]:
        """``sort=id`` pages, each after the last id of the one before (``filter[q][id_gt]``)."""
        client = self._client_for(query.resource)
        guard = self._guard(client, query.resource)
        cursor: dict[str, str] = {}
        while True:
            url = guard.admit(
                with_query(client.url_for(query.resource), {**query.params, **cursor})
            )
            body = self._get(client, url, query.resource).body
            records = _page_records(body, url)
            yield _Page(records, _included(body, url))
            if len(records) < query.page_size or _is_last_page(body):
                return
            cursor = {"filter[q][id_gt]": str(records[-1]["id"])}

    def _numbered_pages(self, query: _Query) -> Iterator[_Page]:
        """Pages following ``links.next``; ids already yielded are dropped."""
        client = self._client_for(query.resource)
        guard = self._guard(client, query.resource)
        seen: set[str] = set()
        url: str | None = with_query(
            client.url_for(query.resource), {**query.params, "page[number]": "1"}
        )
        while url is not None:
            response = self._get(client, guard.admit(url), query.resource)
            records = _page_records(response.body, response.url)
            fresh = [r for r in records if str(r["id"]) not in seen]
            if len(fresh) < len(records):
                log.info(
                    "Dropped %d record(s) repeated by page-number paging of %s.",
                    len(records) - len(fresh),
                    query.resource,
                )
            seen.update(str(r["id"]) for r in fresh)
            yield _Page(fresh, _included(response.body, response.url))
            link = _next_link(response.body)
            url = resolve_link(response.url, link) if link else None

    def _parallel_pages(self, query: _Query, workers: int) -> Generator[_Page, None, None]:
        """Keyset pages of ``workers`` disjoint id ranges, fetched concurrently, as they arrive."""
        ranges = [
            _Query(
                query.resource,
                _merged(query.params, partition_filters(spec), "partition"),
                query.page_size,
                keyset=True,
            )
            for spec in self._plan(query, workers)
        ]
        log.info("Listing %s in %d id ranges on %d threads.", query.resource, len(ranges), workers)
        yield from merge_concurrently([self._keyset_pages(r) for r in ranges], workers)

    def _count(self, query: _Query) -> int:
        """``meta.record_count`` of the query's filters, from a one-record page."""
        filters = {k: v for k, v in query.params.items() if k.startswith("filter[q][")}
        client = self._client_for(query.resource)
        url = with_query(client.url_for(query.resource), {"page[size]": "1", **filters})
        return _record_count(self._get(client, url, query.resource).body, query.resource)

    def _plan(self, query: _Query, n: int) -> list[dict[str, str | None]]:
        """See :meth:`plan_partitions`; ``query`` gives the resource and the filters.

        Each split point is found ``step`` records after the previous one (``id_gteq`` it),
        so split points strictly increase in the server's id order even if records are
        deleted between probes, and the ranges can never overlap.
        """
        total = self._count(query)
        parts = min(n, total)
        step = total // parts if parts else 0
        bounds: list[str] = []
        for _ in range(1, parts):
            after = {"id_gteq": bounds[-1]} if bounds else {}
            records = self._probe(query, step + 1, after)
            if not records:
                break  # records were deleted since the count: fewer, larger ranges
            bounds.append(str(records[0]["id"]))
        edges: list[str | None] = [None, *bounds, None]
        return [{"id_gteq": lo, "id_lt": hi} for lo, hi in itertools.pairwise(edges)]

    def _probe(self, query: _Query, position: int, after: Mapping[str, str]) -> list[Record]:
        """The ``position``-th record (from 1) of the query's filters plus ``after``, by id."""
        filters = {k: v for k, v in query.params.items() if k.startswith("filter[q][")}
        params = _merged(
            {"sort": "id", "page[size]": "1", "page[number]": str(position), **filters},
            after,
            "partition planning",
        )
        client = self._client_for(query.resource)
        url = with_query(client.url_for(query.resource), params)
        return _page_records(self._get(client, url, query.resource).body, url)

    def _guard(self, client: ApiClient, resource: str) -> PageGuard:
        return PageGuard(
            client.base_url, f"Commerce Layer {resource}", self.http_settings.max_pages
        )

    def _get(self, client: ApiClient, url: str, resource: str) -> JsonResponse:
        """GET ``url``, replacing an expired token once; auth and 404 errors name the fix."""
        try:
            return client.get_json(url)
        except TokenExpiredError:
            shared_token_cache().invalidate(
                self._token_key, getattr(self._last_token, "value", None)
            )
            log.info("The access token expired; fetching a new one and retrying the request.")
        except InventoryApiError as error:
            raise self._explained(error, resource) from None
        try:
            return client.get_json(url)
        except TokenExpiredError as error:
            raise AuthenticationError(
                f"{error.message}, again with a freshly fetched access token. Check that the "
                f"connection's extra field 'auth_url' ({self.auth_url}) issues tokens for "
                f"{self.api_url}.",
                status=error.status,
                code=error.code,
                title=error.title,
                detail=error.detail,
                method=error.method,
                url=error.url,
            ) from None
        except InventoryApiError as error:
            raise self._explained(error, resource) from None

    def _explained(self, error: InventoryApiError, resource: str) -> InventoryApiError:
        """``error`` with a hint at the likely fix for permission and not-found errors."""
        if isinstance(error, AuthenticationError):
            return _with_hint(
                error,
                f"The credentials may not read '{resource}': check the integration's role and "
                f"the connection's extra field 'scope'.",
            )
        if isinstance(error, NotFoundError):
            return _with_hint(
                error,
                f"Check the resource name '{resource}' and the organization slug in the "
                f"connection host ({self.api_url}).",
            )
        return error


# ---------------------------------------------------------------------- helpers


def api_base_url(host: str | None, port: int | None, conn_id: str) -> str:
    """The API root for a connection host: a slug becomes ``https://{slug}.commercelayer.io``.

    Args:
        host: ``https://acme.commercelayer.io``, ``acme.commercelayer.io`` or ``acme``.
        port: the connection's port, used when the host names none.
        conn_id: for error messages.

    Returns:
        ``scheme://host[:port]/api`` without a trailing slash.

    Raises:
        InventoryConfigError: the host is empty or not a URL, host name or slug.
    """
    text = (host or "").strip()
    if not text:
        raise InventoryConfigError(
            f"Connection '{conn_id}' has no host: set it to 'https://<your-slug>.{API_DOMAIN}' "
            f"or just the organization slug."
        )
    if "://" not in text and "." not in text and ":" not in text and "/" not in text:
        text = f"{text}.{API_DOMAIN}"  # a bare organization slug
    scheme, netloc, path = split_host_url(text, port)
    if not urlsplit(f"{scheme}://{netloc}").hostname:
        raise InventoryConfigError(
            f"Connection '{conn_id}': host {host!r} is not a URL or an organization slug."
        )
    if not path.endswith("/api"):
        path = f"{path}/api"
    return urlunsplit((scheme, netloc, path, "", ""))


def flatten_document(document: Mapping[str, Any]) -> Record:
    """The flat record of a single-resource document (``data`` object plus ``included``)."""
    return flatten_resource(document["data"], index_included(document.get("included")))


def check_resource(resource: str) -> None:
    """Check that ``resource`` looks like a Commerce Layer resource name, before any request.

    Raises:
        InventoryConfigError: it is empty, not a string, or not lower-case snake case.
    """
    if (
        not isinstance(resource, str)
        or not resource
        or not all(c.islower() or c.isdigit() or c == "_" for c in resource)
    ):
        raise InventoryConfigError(
            f"resource must be a Commerce Layer resource name such as 'packages' or "
            f"'stock_locations' (lower case, underscores), got {resource!r}."
        )


def _checked_page_size(page_size: int) -> int:
    if isinstance(page_size, bool) or not isinstance(page_size, int):
        raise InventoryConfigError(f"page_size must be a whole number, got {page_size!r}.")
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise InventoryConfigError(
            f"page_size={page_size} is out of range: Commerce Layer returns at most "
            f"{MAX_PAGE_SIZE} records per page. Use 1 to {MAX_PAGE_SIZE}."
        )
    return page_size


def _checked_workers(max_workers: int) -> int:
    if isinstance(max_workers, bool) or not isinstance(max_workers, int):
        raise InventoryConfigError(f"max_workers must be a whole number, got {max_workers!r}.")
    if not 1 <= max_workers <= MAX_WORKERS:
        raise InventoryConfigError(
            f"max_workers={max_workers} is out of range: use 1 to {MAX_WORKERS} (requests are "
            f"paced to the API's rate limit either way)."
        )
    return max_workers


def _refuse_id_bounds(query: _Query, planner: str) -> None:
    bounded = [key for key in PARTITION_KEYS if f"filter[q][{key}]" in query.params]
    if bounded:
        raise InventoryConfigError(
            f"filters: {bounded} would clash with the id ranges {planner}; drop them, or list "
            f"without partitions (max_workers=1)."
        )


def window_filters(since: Instant | None, before: Instant | None) -> dict[str, str]:
    """``updated_at_gteq`` / ``updated_at_lt`` filters for the half-open window ``[since, before)``.

    Raises:
        InventoryConfigError: a bound is not a date/time, or ``since`` is not before ``before``.
    """
    window = Window.of(since, before)
    filters = {}
    if window.since is not None:
        filters["updated_at_gteq"] = format_instant(window.since)
    if window.before is not None:
        filters["updated_at_lt"] = format_instant(window.before)
    return filters


def _merged(params: Mapping[str, str], filters: Mapping[str, str], source: str) -> dict[str, str]:
    """``params`` plus ``filters`` as ``filter[q][...]``; a key set twice is an error."""
    merged = dict(params)
    for key, value in filters.items():
        name = f"filter[q][{key}]"
        if name in merged:
            raise InventoryConfigError(
                f"filters: '{key}' is also set by {source}; drop it from filters or from {source}."
            )
        merged[name] = value
    return merged


def _parse_token(response: JsonResponse) -> tuple[str, float]:
    body = response.body
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise _bad_body(response.url, "the token response has no 'access_token'", body, "POST")
    lifetime = body.get("expires_in", DEFAULT_TOKEN_LIFETIME)
    if isinstance(lifetime, bool) or not isinstance(lifetime, int | float) or lifetime <= 0:
        raise _bad_body(response.url, f"'expires_in' is {lifetime!r}", {}, "POST")
    return token, float(lifetime)


def _page_records(body: Any, url: str) -> list[Record]:
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise _bad_body(url, "expected a JSON:API document with a 'data' array", body)
    records = body["data"]
    for position, record in enumerate(records):
        if not isinstance(record, dict) or record.get("id") in (None, ""):
            raise _bad_body(url, f"'data' item {position} is not a resource object with an id", {})
    return records


def _included(body: Mapping[str, Any], url: str) -> list[Record]:
    included = body.get("included") or []
    if not isinstance(included, list):
        raise _bad_body(url, "'included' is not an array", {})
    return included


def _next_link(body: Mapping[str, Any]) -> str | None:
    links = body.get("links")
    link = links.get("next") if isinstance(links, dict) else None
    return link if isinstance(link, str) and link else None


def _is_last_page(body: Mapping[str, Any]) -> bool:
    """True when the document says so: it has ``links`` but no ``links.next``."""
    return isinstance(body.get("links"), dict) and _next_link(body) is None


def _record_count(body: Any, resource: str) -> int:
    meta = body.get("meta") if isinstance(body, dict) else None
    count = meta.get("record_count") if isinstance(meta, dict) else None
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise BadResponseError(
            f"The {resource} listing has no 'meta.record_count' (found {meta!r}); the count "
            f"is unknown."
        )
    return count


def _bad_body(url: str, problem: str, body: Any, method: str = "GET") -> BadResponseError:
    found = f" (found keys {sorted(body)[:10]})" if isinstance(body, dict) and body else ""
    return BadResponseError(
        f"Unexpected Commerce Layer response: {problem}{found}. Stopped rather than return an "
        f"incomplete result.",
        method=method,
        url=url,
    )


def _with_hint(error: InventoryApiError, hint: str) -> InventoryApiError:
    """A copy of ``error`` (same class and fields) whose message ends with ``hint``."""
    return type(error)(
        f"{error.message}. {hint}",
        status=error.status,
        code=error.code,
        title=error.title,
        detail=error.detail,
        method=error.method,
        url=error.url,
    )


__all__ = [
    "CACHEABLE_RESOURCES",
    "DEFAULT_AUTH_URL",
    "MAX_PAGE_SIZE",
    "CommerceLayerHook",
    "ResourceStream",
    "api_base_url",
    "flatten_document",
    "rate_class",
    "reset_token_cache",
]
