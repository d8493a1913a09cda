"""``PackHook``: serial numbers and the other list resources of the Pack REST API v1.

Endpoints (the table in :mod:`~airflow_provider_inventory.hooks._pack_resources` lists each
one's filters, includes and sorts):

- ``GET /v1/organizations/{organization_id}/serial-numbers`` (filters ``filter[product_id]``,
  ``filter[stock_id]``, ``filter[code]``);
- ``GET /v1/warehouses/{warehouse_id}/products/{product_id}/serial-numbers`` (filters
  ``filter[stock_id]``, ``filter[code]``), used when ``warehouse_id`` is given;
- ``GET /v1/organizations/{organization_id}/`` ``products`` (and ``products/{id}``),
  ``stocks``, ``product-warehouses``, ``fulfillments`` (and ``fulfillments/{id}``),
  ``shipping-services``; ``GET /v1/warehouses/{warehouse_id}/`` ``products``,
  ``fulfillments``.

What Pack does not document is configurable on the connection, with these defaults:

- the token travels as ``Authorization: Bearer <token>`` (extras ``auth_header``,
  ``auth_scheme``; an empty ``auth_scheme`` sends the bare token), only ever to the host's own
  origin; a token with whitespace or a line break is refused before anything is sent;
- the page size parameter is ``per_page`` (extra ``page_size_param``);
- no client-side pacing (extras ``rate_limit_average``/``rate_limit_interval``,
  ``rate_limit_burst``/``rate_limit_burst_interval`` turn it on); 429 with ``Retry-After`` and
  5xx are retried by the HTTP core either way.

A page body is accepted in either shape: records in ``data`` beside top-level ``prev``/``next``/
``per_page``, or records in ``data`` with ``links``/``meta`` wrappers. ``next`` may be an absolute
URL, a path or a query string; it is resolved against the URL of the page that returned it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import closing
from typing import Any
from urllib.parse import quote, urlunsplit

from airflow_provider_inventory import PACK_DEFAULT_CONN_ID
from airflow_provider_inventory._arguments import (
    FilterValue,
    filter_values,
    identifier,
    optional_identifier,
    optional_page_size,
)
from airflow_provider_inventory._http.auth import HeaderTokenAuth
from airflow_provider_inventory._http.client import ApiClient
from airflow_provider_inventory._http.pacing import RatePacer, pacer_for
from airflow_provider_inventory._http.paginators import (
    EndOfListing,
    NextLinkPaginator,
    Page,
    PageGuard,
    drop_repeats,
    page_totals,
    paginate,
    paginate_concurrently,
)
from airflow_provider_inventory._http.redaction import redact_url
from airflow_provider_inventory._http.settings import split_host_url
from airflow_provider_inventory._http.stream import RecordStream, all_records
from airflow_provider_inventory._http.urls import with_query
from airflow_provider_inventory._types import Record
from airflow_provider_inventory.exceptions import (
    AuthenticationError,
    BadResponseError,
    InventoryConfigError,
    NotFoundError,
)
from airflow_provider_inventory.hooks._commercelayer_query import MAX_WORKERS, checked_workers
from airflow_provider_inventory.hooks._host import configure_host_state
from airflow_provider_inventory.hooks._pack_expand import ContextExpander, checked_expand
from airflow_provider_inventory.hooks._pack_merge import MergedListings
from airflow_provider_inventory.hooks._pack_resources import (
    RESOURCES,
    FilterArgument,
    Listing,
    PackResource,
    Plan,
    plan_listings,
    record_key,
    resource_for,
)
from airflow_provider_inventory.hooks.base import InventoryHook, describe_failure
from airflow_provider_inventory.window import Instant, Window

DEFAULT_BASE_URL = "https://api.pack.cloud"
DEFAULT_AUTH_HEADER = "Authorization"
DEFAULT_AUTH_SCHEME = "Bearer"
DEFAULT_PAGE_SIZE_PARAM = "per_page"


class PackHook(InventoryHook):
    """Reads serial numbers and the other documented list resources from Pack
    (``api.pack.cloud``, REST API v1).

    Connection fields: host (default ``https://api.pack.cloud``; a host without a scheme gets
    ``https://``; a trailing ``/v1`` is ignored), password (the API token), and the extras
    ``organization_id``, ``auth_header``, ``auth_scheme``, ``page_size_param``, the HTTP settings
    (timeouts, retries, ``max_pages``) and the optional rate limits described in the module doc.

    Use it as a context manager (or call :meth:`close`) to release pooled connections.

    Args:
        pack_conn_id: the Airflow connection id.

    Attributes:
        pages_fetched: pages received by this hook's listings so far (deprecated: read
            ``counters().pages`` of the stream :meth:`iter_serial_numbers` returns).
    """

    conn_name_attr = "pack_conn_id"
    default_conn_name = PACK_DEFAULT_CONN_ID
    conn_type = "pack"
    hook_name = "Pack"

    def __init__(self, pack_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(pack_conn_id, **kwargs)
        self.pack_conn_id = pack_conn_id
        self._pages_fetched = 0
        self._count_lock = threading.Lock()

    # ------------------------------------------------------------------ connection

    @property
    def organization_id(self) -> str:
        """The ``organization_id`` extra.

        Raises:
            InventoryConfigError: it is missing, naming the connection and the field.
        """
        return self.extra.required_string("organization_id")

    @property
    def base_url(self) -> str:
        """The API root (scheme, host, port), without ``/v1``."""
        return normalize_base_url(self.connection.host, self.connection.port)

    def _build_client(self) -> ApiClient:
        token = self.require_password("API token")
        self.scrubber.add(token, "pack_api_token")
        return ApiClient(
            self.base_url,
            self.http_settings,
            conn_id=self.conn_id,
            auth=self._auth(token),
            default_headers={"Accept": "application/json"},
            pacer=self._pacer(),
            scrubber=self.scrubber,
            # every parallel listing, the prefetch and expand's lookups keep a connection
            pool_size=MAX_WORKERS + 2,
        )

    def _auth(self, token: str) -> HeaderTokenAuth:
        """``{auth_header}: {auth_scheme} {token}``; an empty ``auth_scheme`` sends the bare token.

        Raises:
            InventoryConfigError: the token has whitespace or a line break, or the header name
                or scheme is invalid (naming the field); nothing is sent.
        """
        header = self.extra.string("auth_header", DEFAULT_AUTH_HEADER) or DEFAULT_AUTH_HEADER
        scheme = self.extra.string("auth_scheme", DEFAULT_AUTH_SCHEME, empty_means_default=False)
        return HeaderTokenAuth(token, conn_id=self.conn_id, header=header, scheme=scheme or "")

    def _pacer(self) -> RatePacer | None:
        """The process-wide pacer for this connection, or ``None`` when no limit is set."""
        average = self.extra.rate_limit("rate_limit_average", "rate_limit_interval", 60.0)
        burst = self.extra.rate_limit("rate_limit_burst", "rate_limit_burst_interval", 10.0)
        windows = [window for window in (average, burst) if window is not None]
        if not windows:
            return None
        configure_host_state()
        return pacer_for(
            self.base_url,
            "pack",
            windows,
            pinned=True,
            max_wait=self.http_settings.max_retry_wait,
            host_sharing=self.extra.boolean("host_sharing", True),
            fleet=self.fleet,
            scope=self.rate_limit_scope,
        )

    @property
    def page_size_param(self) -> str:
        """The query parameter that sets the page size (extra ``page_size_param``)."""
        return self.extra.string("page_size_param", DEFAULT_PAGE_SIZE_PARAM) or (
            DEFAULT_PAGE_SIZE_PARAM
        )

    # ------------------------------------------------------------------ public API

    def iter_resources(
        self,
        resource: str,
        *,
        filters: Mapping[str, FilterArgument] | None = None,
        include: str | Sequence[str] | None = None,
        sort: str | Sequence[str] | None = None,
        query: str | None = None,
        warehouse_id: str | None = None,
        per_page: int | None = None,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
        max_workers: int = 1,
        allow_undocumented: bool = False,
    ) -> RecordStream:
        """Stream every record of one documented Pack list resource, a page in memory at a time.

        Resources (see :data:`~airflow_provider_inventory.hooks._pack_resources.RESOURCES` and
        ``docs/pack-resources.md`` for each one's filters, includes and sorts): organization
        ``serial-numbers``, ``products``, ``stocks``, ``product-warehouses``, ``fulfillments``,
        ``shipping-services``; with ``warehouse_id``, the warehouse endpoints of
        ``serial-numbers`` (per product), ``products`` and ``fulfillments``.

        Arguments are checked when this is called, against what Pack documents for the
        resource; no request is sent until the first record is asked for.

        Args:
            resource: the resource name, e.g. ``"products"``.
            filters: ``{name: value}`` sent as ``filter[name]=value``; a list of values means
                one listing per value (the cartesian product over several lists, in the order
                given), merged with repeats dropped; an empty list selects nothing. Booleans
                are sent as ``true``/``false``.
            include: related records to nest in each record (a list or a comma-separated
                string), e.g. ``["lines", "lines.serial_numbers"]`` for fulfillments.
            sort: sort keys, ``-`` for descending (a list or a comma-separated string).
            query: free-text search, where documented (products).
            warehouse_id: list through ``/v1/warehouses/{warehouse_id}/...`` instead.
            per_page: records per page (the server's default when ``None``).
            updated_since: keep records with ``updated_at >= updated_since`` (applied as the
                records stream by: Pack has no server-side date filter).
            updated_before: keep records with ``updated_at < updated_before``.
            max_workers: listings of several filter values run on up to this many threads
                (1 to 16) through this hook's client and its rate pacer. Pages of one listing
                keep their order; listings interleave as their pages arrive.
            allow_undocumented: send filters, includes and sorts Pack does not document (yet)
                instead of refusing them; each is logged as a warning.

        Returns:
            A :class:`~airflow_provider_inventory._http.stream.RecordStream` of records
            (dicts), with ``close()`` and ``counters()``.

        Raises:
            InventoryConfigError: an unknown resource, filter, include, sort or enumerated
                value (naming the allowed ones), a date window on a resource without
                ``updated_at``, or an invalid argument or connection field; raised here.
            InventoryApiError: a request failed after its retries, a page is malformed, or the
                paging loops, leaves the API's origin or ends short (raised while iterating).
        """
        return self._listing(
            resource,
            warehouse_id=warehouse_id,
            filters=filters,
            include=include,
            sort=sort,
            query=query,
            per_page=per_page,
            updated_since=updated_since,
            updated_before=updated_before,
            max_workers=max_workers,
            allow_undocumented=allow_undocumented,
            expand=None,
        )

    def list_resources(self, resource: str, **arguments: Any) -> list[Record]:
        """All records of :meth:`iter_resources` as a list; for small sets.

        Raises:
            InventoryConfigError: as :meth:`iter_resources`.
            InventoryApiError: the listing failed (nothing is returned then).
        """
        return list(self.iter_resources(resource, **arguments))

    def get_resource(self, resource: str, resource_id: str) -> Record:
        """One record of a resource with a documented single-record endpoint.

        Args:
            resource: ``products`` or ``fulfillments`` (``GET .../{resource}/{id}``).
            resource_id: the record's id.

        Returns:
            The record, as the API returns it (unwrapped from ``data`` when wrapped).

        Raises:
            InventoryConfigError: the resource has no documented single-record endpoint
                (naming the ones that have, and the filter to list instead) or the id is empty.
            NotFoundError: Pack knows no such record.
            InventoryApiError: the request failed or the body is not a JSON object.
        """
        table = resource_for(resource, None)
        if not table.single:
            singles = [r.name for r in RESOURCES.values() if r.single]
            raise InventoryConfigError(
                f"Pack documents no single-record endpoint for {table.name}; list it with "
                f"filters instead (filters: {', '.join(table.filters)}), or get one of "
                f"{', '.join(singles)}."
            )
        wanted = identifier("resource_id", resource_id)
        path = table.path.format(organization_id=quote(self.organization_id, safe=""))
        response = self.client.get_json(self.client.url_for(f"v1/{path}/{quote(wanted, safe='')}"))
        body = response.body
        record = body.get("data", body) if isinstance(body, dict) else None
        if not isinstance(record, dict):
            raise BadResponseError(
                f"Unexpected Pack {table.name} body: {_found(body)}, expected a JSON object.",
                method="GET",
                url=response.url,
            )
        return record

    def iter_serial_numbers(
        self,
        *,
        product_id: FilterValue = None,
        stock_id: FilterValue = None,
        code: FilterValue = None,
        warehouse_id: str | None = None,
        per_page: int | None = None,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
        max_workers: int = 1,
        expand: Sequence[str] | None = None,
    ) -> RecordStream:
        """Stream every matching serial number, one page in memory at a time.

        Records come in the API's order, exactly as the API returns them (``id``, ``product_id``,
        ``stock_id``, ``fulfillment_line_id``, ``code``, ``created_at``, ``updated_at``). While the
        caller works through one page, the next one is already being fetched. This is
        :meth:`iter_resources` of ``serial-numbers``, plus ``expand``.

        Arguments are checked when this is called; no request is sent until the first record is
        asked for.

        Args:
            product_id: ``filter[product_id]``: one id or a list of ids.
            stock_id: ``filter[stock_id]``: one id or a list of ids.
            code: ``filter[code]``: one serial number or a list of them.
            warehouse_id: list through the warehouse endpoint
                ``/v1/warehouses/{warehouse_id}/products/{product_id}/serial-numbers``; needs
                ``product_id``.
            per_page: records per page (the server's default when ``None``).
            updated_since: keep records with ``updated_at >= updated_since`` (datetime, pendulum
                or ISO-8601 string; naive means UTC).
            updated_before: keep records with ``updated_at < updated_before``.
            max_workers: list several filter values on up to this many threads (1 to 16).
            expand: ``["product", "stock"]`` (either or both) attaches to each serial number
                its ``product`` and ``stock`` records (``None`` when it has no stock), each
                fetched once per listing (see :mod:`~airflow_provider_inventory.hooks._pack_expand`).

        Lists of filter values: one listing runs per combination of values (the cartesian
        product of the lists, in the order given), and their records are merged with duplicates
        (by ``id``) dropped. An empty list selects nothing. The date window is applied
        client-side: the API has no server-side date filter, so every page of the listing is
        read.

        Returns:
            A :class:`~airflow_provider_inventory._http.stream.RecordStream` of records (dicts):
            an iterator with ``close()`` (or a ``with`` block) to stop early and
            ``counters()`` for progress.

        Raises:
            InventoryConfigError: an argument or a connection field is invalid (raised here).
            InventoryApiError: a request failed after its retries, a page is malformed (a
                record's ``updated_at`` that is not a timestamp, with a window), or the
                pagination loops, leaves the API's origin or ends short of the server's totals
                (raised while iterating; records already yielded are not a complete result).
        """
        filters: dict[str, FilterArgument] = {
            name: filter_values(name, value)
            for name, value in (("product_id", product_id), ("stock_id", stock_id), ("code", code))
            if value is not None
        }
        return self._listing(
            "serial-numbers",
            warehouse_id=warehouse_id,
            filters=filters,
            include=None,
            sort=None,
            query=None,
            per_page=per_page,
            updated_since=updated_since,
            updated_before=updated_before,
            max_workers=max_workers,
            allow_undocumented=False,
            expand=expand,
        )

    def list_serial_numbers(
        self,
        *,
        product_id: FilterValue = None,
        stock_id: FilterValue = None,
        code: FilterValue = None,
        warehouse_id: str | None = None,
        per_page: int | None = None,
        updated_since: Instant | None = None,
        updated_before: Instant | None = None,
        max_workers: int = 1,
        expand: Sequence[str] | None = None,
    ) -> list[Record]:
        """All matching serial numbers as a list; for small sets (see :meth:`iter_serial_numbers`).

        Returns:
            The records, in the API's order.

        Raises:
            InventoryConfigError: an argument or a connection field is invalid.
            InventoryApiError: the listing failed (nothing is returned then).
        """
        return list(
            self.iter_serial_numbers(
                product_id=product_id,
                stock_id=stock_id,
                code=code,
                warehouse_id=warehouse_id,
                per_page=per_page,
                updated_since=updated_since,
                updated_before=updated_before,
                max_workers=max_workers,
                expand=expand,
            )
        )

    def get_serial_number(self, code: str) -> Record:
        """The serial number whose ``code`` is exactly ``code``.

        Args:
            code: the serial number itself, e.g. ``ABC123-XYZ456-789QWE``.

        Returns:
            The record, exactly as the API returns it.

        Raises:
            InventoryConfigError: ``code`` is empty or not a string, or a connection field is
                invalid.
            NotFoundError: the organization has no serial number with that code.
            InventoryApiError: the request failed.
        """
        wanted = optional_identifier("code", code)
        if wanted is None:
            raise InventoryConfigError("code is required: pass the serial number to look up.")
        with closing(self.iter_serial_numbers(code=wanted)) as records:
            for record in records:
                if record.get("code") == wanted:
                    return record
        # The listing answered 200 with no match: there is no HTTP status to report.
        raise NotFoundError(
            f"No serial number with code {wanted!r} in Pack organization {self.organization_id!r}."
        )

    def test_connection(self) -> tuple[bool, str]:
        """Request one serial number to check the host, the token and the organization.

        Returns:
            ``(True, message)`` when the API answered, else ``(False, reason)`` with a readable,
            secret-free reason.
        """
        try:
            plan = self._plan(
                resource_for("serial-numbers", None),
                filters=None,
                include=None,
                sort=None,
                query=None,
                warehouse_id=None,
                per_page=1,
                allow_undocumented=False,
            )
            self.client.get_json(self._first_url(plan.listings[0]))
        except Exception as error:
            return False, self._explain_failure(error)
        return True, (
            f"Connected to Pack organization {self.organization_id!r} at "
            f"{redact_url(self.base_url)}."
        )

    # ------------------------------------------------------------------ listings

    def _explain_failure(self, error: Exception) -> str:
        """``describe_failure`` with a hint at the connection field that most likely is wrong."""
        message = describe_failure(error)
        if isinstance(error, AuthenticationError):
            return f"{message} Check the connection's API token (password field)."
        if isinstance(error, NotFoundError):
            return (
                f"{message} Check the connection's extra field 'organization_id' "
                f"({self.extra.string('organization_id')!r}) and host."
            )
        return message

    def _listing(
        self,
        resource: str,
        *,
        warehouse_id: str | None,
        filters: Mapping[str, FilterArgument] | None,
        include: str | Sequence[str] | None,
        sort: str | Sequence[str] | None,
        query: str | None,
        per_page: int | None,
        updated_since: Instant | None,
        updated_before: Instant | None,
        max_workers: int,
        allow_undocumented: bool,
        expand: Sequence[str] | None,
    ) -> RecordStream:
        """The one way a listing is built: every argument checked, no request sent yet."""
        warehouse = optional_identifier("warehouse_id", warehouse_id)
        table = resource_for(resource, warehouse)
        plan = self._plan(
            table,
            filters=filters,
            include=include,
            sort=sort,
            query=query,
            warehouse_id=warehouse,
            per_page=per_page,
            allow_undocumented=allow_undocumented,
        )
        window = self._window(table, updated_since, updated_before)
        expansions = checked_expand(expand)
        expander = ContextExpander(expansions, self._related_records) if expansions else None
        return self._stream(plan, window, checked_workers(max_workers), expander=expander)

    def _plan(
        self,
        table: PackResource,
        *,
        filters: Mapping[str, FilterArgument] | None,
        include: str | Sequence[str] | None,
        sort: str | Sequence[str] | None,
        query: str | None,
        warehouse_id: str | None,
        per_page: int | None,
        allow_undocumented: bool,
    ) -> Plan:
        size = optional_page_size("per_page", per_page)
        return plan_listings(
            table,
            organization_id=self.organization_id if table.scope == "organization" else "",
            warehouse_id=warehouse_id,
            filters=filters,
            include=include,
            sort=sort,
            query=query,
            paging={self.page_size_param: str(size)} if size is not None else {},
            allow_undocumented=allow_undocumented,
        )

    @staticmethod
    def _window(
        table: PackResource, updated_since: Instant | None, updated_before: Instant | None
    ) -> Window:
        window = Window.of(updated_since, updated_before)
        if not window.is_open and not table.windowed:
            raise InventoryConfigError(
                f"Pack {table.name} records have no updated_at, so updated_since/"
                f"updated_before cannot select them; drop the window."
            )
        return window

    def _stream(
        self,
        plan: Plan,
        window: Window,
        workers: int,
        *,
        expander: ContextExpander | None,
    ) -> RecordStream:
        what = listing_name(plan.resource)
        in_window = _in_window(window)
        records_of = in_window
        if expander is not None:

            def records_of(page: Page) -> Iterable[Record]:
                return expander.attach(in_window(page))

        concurrent = workers > 1 and len(plan.listings) > 1
        return RecordStream(
            self._pages(plan, what, workers if concurrent else 1),
            what=what,
            stats=lambda: self.client.stats,
            records_of=records_of,
            ahead=0 if concurrent else 1,
            detail=f" over {len(plan.listings)} listing(s)",
        )

    def _related_records(self, resource: str, filters: dict[str, str]) -> Iterator[Record]:
        """Every record of an organization resource with these filters (for ``expand``)."""
        plan = self._plan(
            resource_for(resource, None),
            filters=filters,
            include=None,
            sort=None,
            query=None,
            warehouse_id=None,
            per_page=None,
            allow_undocumented=False,
        )
        what = listing_name(plan.resource)
        for page in self._listing_pages(plan.listings[0], what):
            yield from page.records

    def _first_url(self, listing: Listing) -> str:
        return with_query(self.client.url_for(listing.path), listing.params)

    @property
    def pages_fetched(self) -> int:
        """Pages received by this hook's listings so far (deprecated, see the class doc)."""
        return self._pages_fetched

    def _pages(self, plan: Plan, what: str, workers: int) -> Iterator[Page]:
        """The pages of every listing, in turn or on ``workers`` threads, each record once.

        Listings that cannot share a record unless it changes (one value per listing of a
        record's own field) are merged keeping 8 bytes per record
        (:class:`~airflow_provider_inventory.hooks._pack_merge.MergedListings`); listings that
        can (several values of ``orders.id``) keep every key (``drop_repeats``).
        """
        listings = [self._listing_pages(listing, what) for listing in plan.listings]
        if workers > 1:
            pages: Iterator[Page] = paginate_concurrently(listings, workers)
        else:
            pages = itertools.chain.from_iterable(listings)
        if len(listings) == 1:
            return pages
        if plan.disjoint:
            return MergedListings(what, record_key(plan.resource)).pages(pages)
        return drop_repeats(pages, what, record_key(plan.resource))

    def _listing_pages(self, listing: Listing, what: str) -> Iterator[Page]:
        """The pages of one listing, following ``next`` until it is null or absent."""
        end = EndOfListing(what)
        guard = PageGuard(self.client.base_url, what, self.http_settings.max_pages)
        paginator = NextLinkPaginator(self._first_url(listing), end)
        for page in paginate(self.client.get_json, paginator, parse_page, guard=guard, end=end):
            with self._count_lock:
                self._pages_fetched += 1
            yield page


def listing_name(resource: PackResource) -> str:
    """``Pack serial numbers``, ``Pack products``...: the listing's name in log lines."""
    return f"Pack {resource.name.replace('-', ' ')}"


def _in_window(window: Window) -> Callable[[Page], Iterable[Record]]:
    """The records of a page inside ``window`` (all of them for an open window)."""
    if window.is_open:
        return all_records
    admits = window.admits
    return lambda page: [record for record in page.records if admits(record)]


# ---------------------------------------------------------------------- page bodies


def parse_page(body: Any, url: str) -> Page:
    """A page body as a :class:`Page`: its records, its ``next`` link and any reported totals.

    Args:
        body: the decoded JSON body.
        url: the URL that returned it, for error messages.

    Returns:
        The page; its ``next_link`` is ``None`` on the last page.

    Raises:
        BadResponseError: the body is neither of the two accepted shapes, or a record or the
            ``next`` link has the wrong type.
    """
    records = page_records(body, url)
    record_count, page_count = page_totals(body)
    return Page(records, url, next_link(body, url), record_count, page_count)


def page_records(body: Any, url: str) -> list[Record]:
    """The ``data`` array of a page body, checked to hold JSON objects."""
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise _bad_page(url, f"expected a JSON object with a 'data' array, {_found(body)}")
    records = body["data"]
    for position, record in enumerate(records):
        if not isinstance(record, dict):
            raise _bad_page(
                url, f"'data' item {position} is {type(record).__name__}, not a JSON object"
            )
    return records


def next_link(body: Mapping[str, Any], url: str) -> str | None:
    """``links.next`` if the body wraps its links, else the top-level ``next``; ``None`` at the end."""
    links = body.get("links")
    if links is not None and not isinstance(links, dict):
        raise _bad_page(url, f"'links' is {type(links).__name__}, expected a JSON object")
    link = links.get("next") if links and "next" in links else body.get("next")
    if link is None or link == "":
        return None
    if not isinstance(link, str):
        raise _bad_page(url, f"'next' is {type(link).__name__}, expected a URL string or null")
    return link


def _found(body: Any) -> str:
    if isinstance(body, dict):
        return f"found keys {sorted(body)[:10]}"
    return f"found a JSON {type(body).__name__}"


def _bad_page(url: str, problem: str) -> BadResponseError:
    return BadResponseError(
        f"Unexpected Pack page body: {problem}. The listing stopped here rather than "
        f"return an incomplete result.",
        method="GET",
        url=url,
    )


# ---------------------------------------------------------------------- arguments


def normalize_base_url(host: str | None, port: int | None = None) -> str:
    """The API root for a connection host: default host, ``https://`` default, no ``/v1``.

    Args:
        host: the connection's host field (``api.pack.cloud``, ``https://...``, empty).
        port: the connection's port field, used when the host names no port.

    Returns:
        ``scheme://host[:port][/prefix]`` without a trailing slash.
    """
    scheme, netloc, path = split_host_url((host or "").strip() or DEFAULT_BASE_URL, port or None)
    if path.endswith("/v1"):
        path = path[: -len("/v1")]
    return urlunsplit((scheme, netloc, path, "", ""))


__all__ = ["FilterArgument", "FilterValue", "PackHook", "listing_name"]
