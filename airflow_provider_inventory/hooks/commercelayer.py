"""``CommerceLayerHook``: any Commerce Layer list resource (packages, stock locations, ...).

Authentication is OAuth2 ``client_credentials`` against the connection's token URL
(``_http.auth.ClientCredentialsAuth``). Access tokens come from the shared token cache, keyed by
(token URL, client id, scope, a hash of the secret), and are refreshed a margin before they
expire, so that parallel requests share one token (see ``_http.tokens``). A token the API reports
expired mid-listing (401 ``INVALID_TOKEN``) is retired and the request retried once. Token
requests have a client of their own on the token URL's origin, paced (30 per minute, the token
endpoint's limit) and retried like every other request. ``test_connection`` always fetches a
fresh token, so revoked credentials fail the Test button even while a token is cached.
With Airflow's Fernet key configured the token cache is shared by every process of the host
(encrypted, owner-only files, one fetch across processes); otherwise it is per process and
nothing is written to disk.

Listings are consistent under concurrent changes by default: without ``sort`` (or with
``sort="id"``) they use keyset paging by id as Commerce Layer's own tools do (``sort=id`` and
``filter[q][id_gt]=<last id>``): however records are created, updated or deleted meanwhile,
every record that exists for the whole listing is yielded exactly once and no record twice (one
created during the listing is yielded when its id sorts after the position reached). With another
``sort`` they follow ``links.next`` page by page and drop repeated ids, but a record that moves
between pages during the listing can still be missed: use the default order where that matters.
Parallel listings split the id space into disjoint ranges
(:meth:`CommerceLayerHook.plan_partitions`), keyset-page each range on its own thread and yield
pages as they arrive (ascending id within a range, ranges interleaved). The paging and its
end-of-listing checks are the shared ``_http.paginators``; the records come back as the shared
``_http.stream.RecordStream``; query validation, partition planning and page bodies are in
``hooks._commercelayer_query``.

Requests are paced so that a listing never sends faster than the API allows: one pacer per API
host, rate-limit class ("cacheable" for the resources Commerce Layer documents as cacheable, else
"uncacheable") and limits, shared by every thread and hook in the process and, unless host
sharing is off, by every process of the host (see ``_http.pacing``). It sends evenly at the
average rate, with the burst window as a ceiling, and adapts to 429s and to
``X-Ratelimit-Remaining``. Without explicit limits it starts at the documented live read limits
and adopts the server's ``X-Ratelimit-Limit`` / ``X-Ratelimit-Interval``; the connection extras
``rate_limit_average``, ``rate_limit_interval``, ``rate_limit_burst`` and
``rate_limit_burst_interval`` pin the limits for every class instead (a missing burst is scaled
from the documented average/burst ratio); ``host_sharing: false`` keeps the pacer in the process.
A 429 that happens anyway waits ``Retry-After`` or ``X-Ratelimit-Interval`` (see ``_http.loop``).
"""

from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from functools import cached_property
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

from airflow_provider_inventory import COMMERCELAYER_DEFAULT_CONN_ID
from airflow_provider_inventory._arguments import resource_name
from airflow_provider_inventory._http.auth import ClientCredentialsAuth
from airflow_provider_inventory._http.client import ApiClient, ClientStats, JsonResponse
from airflow_provider_inventory._http.pacing import RatePacer, pacer_for
from airflow_provider_inventory._http.paginators import (
    EndOfListing,
    KeysetPaginator,
    NextLinkPaginator,
    Page,
    PageGuard,
    Paginator,
    drop_repeats,
    paginate,
    paginate_concurrently,
    record_id,
)
from airflow_provider_inventory._http.settings import (
    RateLimit,
    check_transport_security,
    split_host_url,
)
from airflow_provider_inventory._http.stream import RecordStream, ResourceStream
from airflow_provider_inventory._http.tokens import shared_token_cache
from airflow_provider_inventory._http.urls import with_query
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    InventoryApiError,
    InventoryConfigError,
    NotFoundError,
    TokenExpiredError,
)
from airflow_provider_inventory.hooks._commercelayer_exports import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_MAX_CONCURRENT,
    ExportPlan,
    ExportRound,
    ExportState,
    ExportSteps,
    checked_chunk_size,
    checked_concurrency,
    owner_reference,
    to_listing_record,
)
from airflow_provider_inventory.hooks._commercelayer_query import (
    KEYSET_CURSOR,
    MAX_PAGE_SIZE,
    MAX_PARTITIONS,
    MAX_WORKERS,
    PartitionSpec,
    Query,
    ResourceRecords,
    bad_body,
    build_query,
    check_parallel,
    check_schema,
    checked_partitions,
    checked_workers,
    count_params,
    flatten_document,
    page_records,
    parse_page,
    plan_ranges,
    probe_params,
    record_count,
    refuse_id_bounds,
    window_filters,
)
from airflow_provider_inventory.hooks._commercelayer_schema import api_schema
from airflow_provider_inventory.hooks._host import configure_host_state
from airflow_provider_inventory.hooks.base import InventoryHook, describe_failure
from airflow_provider_inventory.jsonapi import encode_include, sparse_fieldset
from airflow_provider_inventory.window import Instant

log = logging.getLogger(__name__)

DEFAULT_AUTH_URL = "https://auth.commercelayer.io/oauth/token"
API_DOMAIN = "commercelayer.io"
JSONAPI_MEDIA_TYPE = "application/vnd.api+json"

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
WRITE = "write"
TOKEN_ENDPOINT = "token"
#: The token endpoint's documented limit.
TOKEN_RATE_LIMIT = RateLimit(30, 60.0)
#: The documented live read limits per class: (average per 60 s, burst per 10 s).
DEFAULT_RATE_LIMITS: dict[str, tuple[RateLimit, RateLimit]] = {
    UNCACHEABLE: (RateLimit(200, 60.0), RateLimit(50, 10.0)),
    CACHEABLE: (RateLimit(1000, 60.0), RateLimit(250, 10.0)),
    WRITE: (RateLimit(200, 60.0), RateLimit(50, 10.0)),
}


def rate_class(resource: str) -> str:
    """The rate-limit class of a resource: ``"cacheable"`` or ``"uncacheable"``."""
    cacheable = resource in CACHEABLE_RESOURCES or resource.endswith("_promotions")
    return CACHEABLE if cacheable else UNCACHEABLE


# ---------------------------------------------------------------------- access tokens


def reset_token_cache() -> None:
    """Forget every cached access token (tests, or after rotating a secret)."""
    shared_token_cache().clear()


class CommerceLayerHook(InventoryHook):
    """Reads any Commerce Layer list resource through the JSON:API core API.

    Connection fields: host (``https://{slug}.commercelayer.io`` or just the organization slug),
    login (client id), password (client secret), and the extras ``scope``, ``auth_url`` (default
    ``https://auth.commercelayer.io/oauth/token``), the HTTP settings (timeouts, retries,
    ``max_pages``) and the rate limits described in the module doc.

    Use it as a context manager (or call :meth:`close`) to release pooled connections.

    Every query is checked against the API schema bundled with the provider before anything is
    sent (resource type, filter attribute paths, sort, sparse fieldset, include paths; see
    ``hooks._commercelayer_query.check_schema``): Commerce Layer may ignore a filter on an
    attribute it does not know and answer with every record.

    Args:
        commercelayer_conn_id: the Airflow connection id.
        schema_checks: ``False`` sends filters, sorts, fields and includes unchecked (only their
            syntax is checked), for names Commerce Layer added after the bundled schema.
    """

    conn_name_attr = "commercelayer_conn_id"
    default_conn_name = COMMERCELAYER_DEFAULT_CONN_ID
    conn_type = "commercelayer"
    hook_name = "Commerce Layer"

    def __init__(
        self,
        commercelayer_conn_id: str = default_conn_name,
        *,
        schema_checks: bool = True,
        **kwargs: Any,
    ) -> None:
        super().__init__(commercelayer_conn_id, **kwargs)
        self.commercelayer_conn_id = commercelayer_conn_id
        if not isinstance(schema_checks, bool):
            raise InventoryConfigError(
                f"schema_checks must be True or False, got {schema_checks!r}."
            )
        self.schema_checks = schema_checks
        self._schema_announced = False
        self._clients: dict[str, ApiClient] = {}
        # Re-entrant: building the API client builds the auth, which asks for the token client.
        self._clients_lock = threading.RLock()

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
    def auth(self) -> ClientCredentialsAuth:
        """The OAuth2 client-credentials auth of this connection (tokens shared per process, and
        per host when Airflow's Fernet key is configured).

        Raises:
            InventoryConfigError: the client id or secret is missing.
        """
        configure_host_state()
        client_id = self.connection.login
        if not client_id:
            raise InventoryConfigError(
                f"Connection '{self.conn_id}' has no client ID: set the connection's login field "
                f"(shown as 'Client ID' in the UI) to the integration's client ID."
            )
        secret = self.require_password("Client secret")
        return ClientCredentialsAuth(
            lambda body: self._client_for_class(TOKEN_ENDPOINT).request(
                "POST", self.auth_url, json_body=body
            ),
            token_url=self.auth_url,
            client_id=client_id,
            client_secret=secret,
            scope=self.scope,
            conn_id=self.conn_id,
            scrubber=self.scrubber,
            cache=shared_token_cache(self.fleet),
        )

    def get_access_token(self) -> str:
        """A valid access token from the shared cache (host-wide with a Fernet key), fetched
        when needed.

        Raises:
            AuthenticationError: the token endpoint refused the client id, secret or scope.
            InventoryApiError: the token endpoint could not be reached or answered nonsense.
        """
        return self.auth.token()

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
        configure_host_state()
        if kind == TOKEN_ENDPOINT:
            # Its own client: another origin, no API Authorization header, and its own pacer
            # (the token endpoint's limit is separate from the API's).
            parts = urlsplit(self.auth_url)
            return ApiClient(
                self.auth_url,
                self.http_settings,
                conn_id=self.conn_id,
                default_headers={"Accept": "application/json"},
                pacer=pacer_for(
                    f"{parts.scheme}://{parts.netloc}",
                    TOKEN_ENDPOINT,
                    [TOKEN_RATE_LIMIT],
                    pinned=True,
                    max_wait=self.http_settings.max_retry_wait,
                    fleet=self.fleet,
                    scope=self.rate_limit_scope,
                ),
                scrubber=self.scrubber,
            )
        return ApiClient(
            self.api_url,
            self.http_settings,
            conn_id=self.conn_id,
            auth=self.auth,
            default_headers={"Accept": JSONAPI_MEDIA_TYPE},
            pacer=self.pacer(kind),
            scrubber=self.scrubber,
            pool_size=MAX_WORKERS + 2,
        )

    def pacer(self, kind: str) -> RatePacer:
        """The shared pacer for this API host, rate-limit class and limits (see the module doc).

        Args:
            kind: ``"cacheable"`` or ``"uncacheable"`` (see :func:`rate_class`), or ``"write"``
                (export creation and the like).

        Raises:
            ValueError: ``kind`` is none of them.
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
        configure_host_state()
        return pacer_for(
            self.api_url,
            kind,
            (average, burst),
            pinned=pinned,
            max_wait=self.http_settings.max_retry_wait,
            host_sharing=self.extra.boolean("host_sharing", True),
            fleet=self.fleet,
            scope=self.rate_limit_scope,
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
    ) -> RecordStream:
        """Stream every record of a list resource, one page in memory at a time.

        Arguments are checked when this is called; no request is sent until the first record
        is asked for. While the caller works through one page the next is already being fetched.

        Args:
            resource: the list resource (``packages``, ``stock_locations``, ``skus``...).
            filters: ``{attribute(s)}_{predicate}`` -> value, sent as ``filter[q][...]``; see
                :func:`airflow_provider_inventory.jsonapi.encode_filters` for accepted values.
            sort: ``"-created_at,code"`` or ``["-created_at", "code"]``. ``None`` or ``"id"``
                lists by id with keyset paging (consistent under concurrent changes); any other
                order follows ``links.next`` and drops repeated ids.
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
            A :class:`~airflow_provider_inventory._http.stream.RecordStream`: an iterator of
            records with ``close()`` (or a ``with`` block), ``counters()`` and ``included``.

        Raises:
            InventoryConfigError: an argument or a connection field is invalid, or names a
                resource, filter attribute, sort, field or include the bundled API schema does not
                know (raised here, before any request; see ``schema_checks``).
            InventoryApiError: a request failed after its retries, a page is malformed, or the
                paging is inconsistent (raised while iterating; the records already yielded are
                not a complete result).
        """
        query = build_query(
            resource,
            filters=filters,
            sort=sort,
            fields=fields,
            include=include,
            page_size=page_size,
            updated_since=updated_since,
            updated_before=updated_before,
            partition=partition,
            schema_checks=self._schema_checks(),
        )
        workers = checked_workers(max_workers)
        if workers > 1:
            check_parallel(query, workers, partition)
        records = ResourceRecords(flat=flatten)
        return RecordStream(
            self._parallel_pages(query, workers) if workers > 1 else self._pages(query),
            what=f"Commerce Layer {resource}",
            stats=lambda: self.stats,
            records_of=records,
            included=records.included,
            ahead=0 if workers > 1 else 1,  # parallel ranges are fetched on threads already
        )

    def list_resources(self, resource: str, **kwargs: Any) -> list[Record]:
        """All records of :meth:`iter_resources` as a list; for small sets."""
        with self.iter_resources(resource, **kwargs) as stream:
            return list(stream)

    def iter_packages(self, **kwargs: Any) -> RecordStream:
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
        query = build_query(
            resource,
            filters=filters,
            updated_since=updated_since,
            updated_before=updated_before,
            partition=partition,
            schema_checks=self._schema_checks(),
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
    ) -> list[PartitionSpec]:
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
        checked_partitions(n)
        query = build_query(
            resource,
            filters=filters,
            updated_since=updated_since,
            updated_before=updated_before,
            schema_checks=self._schema_checks(),
        )
        refuse_id_bounds(query, "plan_partitions plans")
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
        resource_name(resource)
        if self._schema_checks():
            check_schema(resource, fields=fields, include=include, listing=False)
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
            raise bad_body(url, "expected a JSON object with a 'data' object", body)
        if not flatten:
            return body
        return flatten_document(body)

    def test_connection(self) -> tuple[bool, str]:
        """Fetch a fresh token, then count packages, to check host, credentials and scope.

        The token is fetched even if one is cached, so credentials revoked since then fail here.

        Returns:
            ``(True, message)`` when both worked, else ``(False, reason)`` with a readable,
            secret-free reason naming the field to fix.
        """
        try:
            self.auth.fresh_token()  # never the cached one: prove the credentials work now
            total = self.count("packages")
        except Exception as error:
            return False, describe_failure(error)
        return True, (
            f"Connected to Commerce Layer at {self.api_url}: token obtained"
            f"{f' for scope {self.scope!r}' if self.scope else ''}, {total} packages visible."
        )

    # ------------------------------------------------------------------ exports

    def iter_export(
        self,
        resource: str,
        *,
        filters: Mapping[str, Any] | None = None,
        fields: str | Sequence[str] | None = None,
        include: str | Sequence[str] | None = None,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        max_concurrent: int = DEFAULT_MAX_CONCURRENT,
        flatten: bool = True,
        reference: str | None = None,
        poll_interval: float = 1.0,
        export_timeout: float | None = 3600.0,
        keep_exports: bool = False,
    ) -> RecordStream:
        """Stream every matching record through Commerce Layer's Exports API.

        A fraction of the requests of a paged listing (one request per 25 records): the set is
        split into disjoint id ranges of at most ``chunk_size`` records (a count and one
        request per boundary, as Commerce Layer's sdk-utils ``splitExport``), one export is
        created per range (at most ``max_concurrent`` in progress at once), each is polled
        (one request per poll for all of them, paced by ``estimated_completion_at``), its
        gzip file downloaded from object storage (no credentials are sent there) and parsed
        incrementally, as soon as it and the chunks before it completed, while the later ones
        still run. Memory does not grow with the number of records.

        Arguments are checked when this is called; nothing is requested before the first
        record is asked for. If the stream fails or is closed early, the exports still running
        are interrupted; completed ones are deleted once read, unless ``keep_exports``.

        Records: with ``flatten=True`` a record has the keys and values the same record has in
        :meth:`iter_resources` ``(flatten=True)``, in id order, with these differences:
        ``meta`` is ``None`` (exports carry no resource meta); every to-one relationship comes
        as ``<relationship>_id`` even when not included (the listing has it only for included
        relationships; pass ``fields`` to narrow the record to the listing's attributes);
        relationships named in ``include`` are nested as the export writes them (flat, without
        ``type``/``meta``). With ``flatten=False`` the records are exactly what the export file
        holds. Timestamps are the API's text either way.

        Args:
            resource: the resource type (``shipments``, ``stock_items``, ``skus``...).
            filters: ``{attribute(s)}_{predicate}`` -> value, checked as for
                :meth:`iter_resources`; not ``id_gt``/``id_lteq``, used by the chunks.
            fields: the attributes to export (default all).
            include: relationships to nest in each record.
            updated_since, updated_before: the ``[since, before)`` window on ``updated_at``.
            chunk_size: records per export, 1 to 10,000 (default 5,000).
            max_concurrent: exports in progress at once, 1 to 10 (default 4).
            flatten: see above.
            reference: a prefix for the exports' ``reference`` (e.g. from
                :func:`~airflow_provider_inventory.hooks._commercelayer_exports.owner_reference`
                of a task instance): a second call with the same prefix and query takes over
                the exports the first created instead of creating new ones. Default: a new
                random prefix.
            poll_interval: the shortest wait between polls (seconds).
            export_timeout: seconds the exports may take to complete, time spent reading
                their files aside (``None``: no limit).
            keep_exports: keep completed exports (and their files) after reading them.

        Returns:
            A :class:`~airflow_provider_inventory._http.stream.RecordStream`.

        Raises:
            InventoryConfigError: an argument is invalid (raised here), or Commerce Layer does
                not export ``resource`` (raised while iterating: use :meth:`iter_resources`).
            ExportError: an export failed, was interrupted twice, did not complete within
                ``export_timeout``, or its file disagrees with its ``records_count`` (naming
                the export id; raised while iterating).
            InventoryApiError: a request failed after its retries.
        """
        query, chunk, concurrency = self._export_query(
            resource,
            filters=filters,
            fields=fields,
            include=include,
            updated_since=updated_since,
            updated_before=updated_before,
            chunk_size=chunk_size,
            max_concurrent=max_concurrent,
        )
        owner = reference or owner_reference(uuid.uuid4().hex)
        names = {"fields": _names(fields), "includes": _names(include)}

        def pages() -> Iterator[Page]:
            steps = self.export_steps
            try:
                plan = steps.plan(query, **names, chunk_size=chunk, owner=owner)
                yield from steps.stream(
                    plan,
                    concurrency,
                    poll_interval=poll_interval,
                    timeout=export_timeout,
                    delete=not keep_exports,
                )
            except BaseException:
                steps.interrupt_owned(owner)
                raise

        return self._export_stream(resource, pages(), flatten)

    def plan_export(
        self,
        resource: str,
        *,
        reference: str,
        filters: Mapping[str, Any] | None = None,
        fields: str | Sequence[str] | None = None,
        include: str | Sequence[str] | None = None,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
    ) -> ExportPlan:
        """Plan the exports of a bulk read (step 1 of :meth:`iter_export`; no export created).

        Takes over the complete plan of earlier exports with the same ``reference`` prefix and
        query, if any (a retried task). Arguments as for :meth:`iter_export`.

        Raises:
            InventoryConfigError: an argument is invalid.
            InventoryApiError: a planning request failed.
        """
        query, chunk, _ = self._export_query(
            resource,
            filters=filters,
            fields=fields,
            include=include,
            updated_since=updated_since,
            updated_before=updated_before,
            chunk_size=chunk_size,
            max_concurrent=1,
        )
        return self.export_steps.plan(
            query,
            fields=_names(fields),
            includes=_names(include),
            chunk_size=chunk,
            owner=reference,
        )

    def advance_exports(
        self,
        plan: ExportPlan,
        max_concurrent: int,
        *,
        empty: Sequence[int] = (),
        poll_interval: float = 1.0,
    ) -> ExportRound:
        """One round: read the plan's exports (one request), restart, clean up, create missing
        ones (step 2 of :meth:`iter_export`). Safe to repeat: exports are found by reference.

        Raises:
            ExportError: an export failed or was interrupted twice.
            InventoryConfigError: the resource is not exportable.
        """
        return self.export_steps.advance(
            plan, checked_concurrency(max_concurrent), empty=empty, poll=poll_interval
        )

    def export_records(
        self,
        exports: Sequence[ExportState],
        *,
        resource: str,
        flatten: bool = True,
        keep_exports: bool = False,
    ) -> RecordStream:
        """The records of completed exports (step 3 of :meth:`iter_export`), deleting each
        export once read unless ``keep_exports``.

        Raises:
            ExportError: while iterating, as for :meth:`iter_export`.
        """
        return self._export_stream(
            resource, self.export_steps.pages(exports, delete=not keep_exports), flatten
        )

    def interrupt_exports(self, reference: str) -> list[str]:
        """Interrupt every export pending or in progress whose reference starts with
        ``reference`` (best effort). Returns the ids interrupted."""
        return self.export_steps.interrupt_owned(reference)

    @cached_property
    def export_steps(self) -> ExportSteps:
        """The export steps over this hook's clients (reads, writes, auth-less file clients)."""
        return ExportSteps(
            self._client_for_class(UNCACHEABLE),
            self._client_for_class(WRITE),
            self._file_client,
        )

    def _export_query(
        self,
        resource: str,
        *,
        filters: Mapping[str, Any] | None,
        fields: str | Sequence[str] | None,
        include: str | Sequence[str] | None,
        updated_since: Instant | None,
        updated_before: Instant | None,
        chunk_size: int,
        max_concurrent: int,
    ) -> tuple[Query, int, int]:
        """The validated query (the listing's checks), chunk size and concurrency."""
        bounds = [k for k in (filters or {}) if k in ("id_gt", "id_gteq", "id_lt", "id_lteq")]
        if bounds:
            raise InventoryConfigError(
                f"filters: {bounds} would clash with the id ranges the exports are split into; "
                f"drop them (the whole set is split into disjoint id ranges anyway)."
            )
        query = build_query(
            resource,
            filters=filters,
            fields=fields,
            include=include,
            updated_since=updated_since,
            updated_before=updated_before,
        )
        return query, checked_chunk_size(chunk_size), checked_concurrency(max_concurrent)

    def _export_stream(self, resource: str, pages: Iterator[Page], flatten: bool) -> RecordStream:
        def records_of(page: Page) -> list[Record]:
            if not flatten:
                return page.records
            return [to_listing_record(record, resource) for record in page.records]

        return RecordStream(
            pages,
            what=f"Commerce Layer {resource} export",
            stats=lambda: self.stats,
            records_of=records_of,
            ahead=1,
        )

    def _file_client(self, url: str) -> ApiClient:
        """An auth-less client for a file's origin (object storage): no credentials go there."""
        parts = urlsplit(url)
        origin = f"{parts.scheme}://{parts.netloc}"
        key = f"files:{origin}"
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = ApiClient(
                    origin,
                    self.http_settings,
                    conn_id=self.conn_id,
                    auth=None,
                    default_headers={"Accept": "*/*"},
                    pacer=self.pacer(UNCACHEABLE),
                    scrubber=self.scrubber,
                )
            return self._clients[key]

    # ------------------------------------------------------------------ listing internals

    def _schema_checks(self) -> bool:
        """Whether to check queries against the bundled schema; says which, once per hook."""
        if not self._schema_announced:
            self._schema_announced = True
            if self.schema_checks:
                log.info(
                    "Checking Commerce Layer queries against the bundled API %s.",
                    api_schema().version,
                )
            else:
                log.info(
                    "Commerce Layer schema checks are off (schema_checks=False): filters, sort, "
                    "fields and include are sent without checking their names."
                )
        return self.schema_checks

    def _pages(self, query: Query) -> Iterator[Page]:
        """The pages of one listing: keyset by id, or ``links.next`` without repeated ids."""
        client = self._client_for(query.resource)
        what = f"Commerce Layer {query.resource}"
        end = EndOfListing(what)
        url = client.url_for(query.resource)
        paginator: Paginator
        if query.keyset:
            paginator = KeysetPaginator(url, query.params, KEYSET_CURSOR, end)
        else:
            paginator = NextLinkPaginator(
                with_query(url, {**query.params, "page[number]": "1"}), end
            )
        pages = paginate(
            lambda page_url: self._get(client, page_url, query.resource),
            paginator,
            parse_page,
            guard=PageGuard(client.base_url, what, self.http_settings.max_pages),
            end=end,
        )
        yield from pages if query.keyset else drop_repeats(pages, what, record_id)

    def _parallel_pages(self, query: Query, workers: int) -> Iterator[Page]:
        """Keyset pages of ``workers`` disjoint id ranges, fetched concurrently, as they arrive."""
        ranges = [query.within(spec) for spec in self._plan(query, workers)]
        log.info("Listing %s in %d id ranges on %d threads.", query.resource, len(ranges), workers)
        yield from paginate_concurrently([self._pages(r) for r in ranges], workers)

    def _count(self, query: Query) -> int:
        """``meta.record_count`` of the query's filters, from a one-record page."""
        client = self._client_for(query.resource)
        url = with_query(client.url_for(query.resource), count_params(query))
        return record_count(self._get(client, url, query.resource).body, query.resource)

    def _plan(self, query: Query, n: int) -> list[PartitionSpec]:
        """See :meth:`plan_partitions`; ``query`` gives the resource and the filters."""
        client = self._client_for(query.resource)

        def probe(position: int, after: Mapping[str, str]) -> list[Record]:
            url = with_query(client.url_for(query.resource), probe_params(query, position, after))
            return page_records(self._get(client, url, query.resource).body, url)

        return plan_ranges(self._count(query), n, probe)

    def _get(self, client: ApiClient, url: str, resource: str) -> JsonResponse:
        """GET ``url``; auth and 404 errors name the fix.

        The client already retired an expired token and retried once; a second 401
        ``INVALID_TOKEN`` means the new token is refused too.
        """
        try:
            return client.get_json(url)
        except TokenExpiredError as error:
            raise error.rephrased(
                f"{error.message}, again with a freshly fetched access token. Check that the "
                f"connection's extra field 'auth_url' ({self.auth_url}) issues tokens for "
                f"{self.api_url}.",
                AuthenticationError,
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


def check_resource(resource: str) -> None:
    """Check that ``resource`` looks like a Commerce Layer resource name, before any request.

    Raises:
        InventoryConfigError: it is empty, not a string, or not lower-case snake case.
    """
    resource_name(resource)


def _names(value: str | Sequence[str] | None) -> list[str] | None:
    """Names from a comma-separated string or a list (``None`` or empty: ``None``)."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    names = [str(item).strip() for item in items if str(item).strip()]
    return names or None


def _with_hint(error: InventoryApiError, hint: str) -> InventoryApiError:
    """A copy of ``error`` (same class and fields) whose message ends with ``hint``."""
    return error.rephrased(f"{error.message}. {hint}")


__all__ = [
    "CACHEABLE_RESOURCES",
    "DEFAULT_AUTH_URL",
    "MAX_PAGE_SIZE",
    "MAX_PARTITIONS",
    "MAX_WORKERS",
    "CommerceLayerHook",
    "RecordStream",
    "ResourceStream",
    "api_base_url",
    "check_resource",
    "flatten_document",
    "rate_class",
    "reset_token_cache",
    "window_filters",
]
