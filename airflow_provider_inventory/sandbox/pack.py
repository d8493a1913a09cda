"""The Pack REST API v1 endpoints: serial numbers and the world around them.

``GET /v1/organizations/{organizationId}/serial-numbers`` (filters ``filter[product_id]``,
``filter[stock_id]``, ``filter[code]``) and
``GET /v1/warehouses/{warehouseId}/products/{productId}/serial-numbers`` (filters
``filter[stock_id]``, ``filter[code]``). Both take ``per_page`` (default 25, at most 100) and
an opaque ``cursor`` from a ``prev``/``next`` link. Records come in (created_at, id) order.

Errors are ``{"error": {"status": <int>, "message": <str>}}``: 401 for a missing or wrong
``Authorization: Bearer <token>``, 404 for an unknown organization, warehouse or path, 400
for a bad ``per_page``, ``cursor`` or an unsupported ``filter[...]``, 405 for other methods.
A blank filter value is ignored.

The other list endpoints (organization ``products``, ``stocks``, ``product-warehouses``,
``fulfillments``, ``shipping-services``; warehouse ``products`` and ``fulfillments``; see
:mod:`.pack_world`) take the filters, ``include``, ``sort`` and ``query`` Pack documents for
each (anything else is a 400), the same ``per_page`` and an opaque offset ``cursor``; products
and fulfillments also answer ``GET .../{id}`` with ``{"data": record}``.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .data import Cursor, DataStore, SerialNumberPage
from .messages import Context, Request, Response, encode_query, json_response
from .pack_world import LISTINGS, Listing
from .settings import Settings

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
_ORG_PATH = re.compile(r"^/v1/organizations/([^/]+)/serial-numbers/?$")
_WAREHOUSE_PATH = re.compile(r"^/v1/warehouses/([^/]+)/products/([^/]+)/serial-numbers/?$")
_ORG_RESOURCE = re.compile(
    r"^/v1/organizations/([^/]+)/(products|stocks|product-warehouses|fulfillments|"
    r"shipping-services)(?:/([^/]+))?/?$"
)
_WAREHOUSE_RESOURCE = re.compile(r"^/v1/warehouses/([^/]+)/(products|fulfillments)/?$")
_SINGLE_RECORD = ("products", "fulfillments")
_ORG_FILTERS = ("product_id", "stock_id", "code")
_WAREHOUSE_FILTERS = ("stock_id", "code")


def pack_error(status: int, message: str) -> Response:
    """A Pack-style JSON error response."""
    return json_response(status, {"error": {"status": status, "message": message}})


def encode_cursor(cursor: Cursor) -> str:
    """The opaque ``cursor=`` value for a position (URL-safe base64 of a small JSON)."""
    payload = {"d": cursor.direction[0], "k": list(cursor.key), "i": int(cursor.inclusive)}
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(token: str) -> Cursor:
    """Inverse of :func:`encode_cursor`; raises ValueError for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        payload = json.loads(raw)
        direction = {"a": "after", "b": "before"}[payload["d"]]
        created_at, record_id = payload["k"]
        if not isinstance(created_at, str) or not isinstance(record_id, str):
            raise ValueError("bad key")
        return Cursor(direction, (created_at, record_id), bool(payload.get("i", 0)))
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"invalid cursor {token!r}") from exc


class PackAPI:
    """Answers ``/v1/...`` requests from a :class:`DataStore`."""

    def __init__(self, store: DataStore, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    def handle(self, request: Request, ctx: Context) -> Response:
        if request.method not in ("GET", "HEAD"):
            return pack_error(405, f"method {request.method} not allowed")
        authorization = request.header("authorization") or ""
        scheme, _, token = authorization.partition(" ")
        if not authorization:
            return pack_error(401, "missing Authorization header")
        if scheme.lower() != "bearer" or token.strip() != self.settings.pack_token:
            return pack_error(401, "invalid API token")
        if ctx.expire_token:
            return pack_error(401, "API token expired")

        if match := _ORG_PATH.match(request.path):
            if match.group(1) != self.settings.organization_id:
                return pack_error(404, f"organization {match.group(1)!r} not found")
            return self._list(request, ctx, _ORG_FILTERS, {}, None)
        if match := _WAREHOUSE_PATH.match(request.path):
            warehouse_id, product_id = match.groups()
            stocks = self.store.warehouse_stocks(warehouse_id)
            if stocks is None:
                return pack_error(404, f"warehouse {warehouse_id!r} not found")
            return self._list(request, ctx, _WAREHOUSE_FILTERS, {"product_id": product_id}, stocks)
        if match := _ORG_RESOURCE.match(request.path):
            organization, resource, record_id = match.groups()
            if organization != self.settings.organization_id:
                return pack_error(404, f"organization {organization!r} not found")
            if record_id is not None:
                return self._get(resource, record_id)
            return self._list_resource(request, ctx, resource, None)
        if match := _WAREHOUSE_RESOURCE.match(request.path):
            warehouse_id, resource = match.groups()
            return self._list_resource(request, ctx, resource, warehouse_id)
        return pack_error(404, f"no route for {request.path}")

    # ------------------------------------------------------------------ the world around

    def _get(self, resource: str, record_id: str) -> Response:
        if resource not in _SINGLE_RECORD:
            return pack_error(404, f"no route for /{resource}/{record_id}")
        world = self.store.pack_world
        record = world.get(resource, record_id)
        if record is None:
            return pack_error(404, f"{resource} {record_id!r} not found")
        return json_response(200, {"data": world.render(resource, record, (), False)})

    def _list_resource(
        self, request: Request, ctx: Context, resource: str, warehouse_id: str | None
    ) -> Response:
        world = self.store.pack_world
        spec: Listing = LISTINGS[resource if warehouse_id is None else ("warehouse", resource)]
        records = world.records(resource, warehouse_id)
        if records is None:
            return pack_error(404, f"warehouse {warehouse_id!r} not found")
        try:
            checks = _filters(request, spec)
            includes = _names(request.param("include"), spec.includes, "include")
            sorts = _names(request.param("sort"), spec.sorts, "sort", signed=True)
            per_page = _per_page(request)
            offset = _offset(request.param("cursor"))
        except ValueError as exc:
            return pack_error(400, str(exc))
        query = (request.param("query") or "").strip().lower()
        if query and not spec.query_fields:
            return pack_error(400, "query is not supported here")
        found = [
            record
            for record in records
            if all(check(record, value) for check, value in checks)
            and (
                not query or any(query in str(record.get(f, "")).lower() for f in spec.query_fields)
            )
        ]
        for key in reversed(sorts):
            found.sort(key=_sort_key(key.lstrip("-")), reverse=key.startswith("-"))
        page = found[offset : offset + per_page]
        data = [world.render(resource, r, includes, warehouse_id is not None) for r in page]
        more = offset + per_page < len(found)
        page_data = SerialNumberPage(data, None, None)
        prev_link = (
            self._offset_link(request, max(0, offset - per_page), per_page) if offset else None
        )
        next_link = self._offset_link(request, offset + per_page, per_page) if more else None
        return json_response(
            200,
            self._shaped(
                request, ctx, page_data, per_page, prev_link=prev_link, next_link=next_link
            ),
        )

    def _offset_link(self, request: Request, offset: int, per_page: int) -> str:
        items = [("cursor", encode_offset(offset)), ("per_page", str(per_page))]
        items += [(k, v) for k, v in request.query_items if k not in ("cursor", "per_page")]
        return self._render(request, encode_query(items), self.settings.pack_link_style)

    def _list(
        self,
        request: Request,
        ctx: Context,
        allowed_filters: tuple[str, ...],
        fixed_filters: dict[str, str],
        allowed_stocks: frozenset[str] | None,
    ) -> Response:
        filters = dict(fixed_filters)
        for name, values in request.query.items():
            if name.startswith("filter["):
                field = name[len("filter[") : -1] if name.endswith("]") else ""
                if field not in allowed_filters:
                    return pack_error(400, f"unsupported filter {name!r}")
                if values[-1] != "":
                    filters[field] = values[-1]

        per_page_raw = request.param("per_page")
        per_page = DEFAULT_PER_PAGE
        if per_page_raw is not None:
            try:
                per_page = int(per_page_raw)
            except ValueError:
                return pack_error(400, f"per_page must be an integer, got {per_page_raw!r}")
            if not 1 <= per_page <= MAX_PER_PAGE:
                return pack_error(400, f"per_page must be between 1 and {MAX_PER_PAGE}")

        cursor = None
        cursor_raw = request.param("cursor")
        if cursor_raw:
            try:
                cursor = decode_cursor(cursor_raw)
            except ValueError as exc:
                return pack_error(400, str(exc))

        page = self.store.serial_number_page(
            filters=filters, per_page=per_page, cursor=cursor, allowed_stocks=allowed_stocks
        )
        return json_response(200, self._body(request, ctx, page, per_page))

    def _body(
        self, request: Request, ctx: Context, page: SerialNumberPage, per_page: int
    ) -> dict[str, Any]:
        style = self.settings.pack_link_style
        prev_link = self._link(request, page.prev, per_page, style)
        next_link = self._link(request, page.next, per_page, style)
        return self._shaped(request, ctx, page, per_page, prev_link=prev_link, next_link=next_link)

    def _shaped(
        self,
        request: Request,
        ctx: Context,
        page: SerialNumberPage,
        per_page: int,
        *,
        prev_link: str | None,
        next_link: str | None,
    ) -> dict[str, Any]:
        style = self.settings.pack_link_style
        if ctx.next_link == "repeat":
            next_link = self._render(request, request.raw_target.partition("?")[2], style)
        elif ctx.next_link is not None:
            next_link = ctx.next_link
        if self.settings.pack_body_shape == "wrapped":
            return {
                "data": page.records,
                "links": {"prev": prev_link, "next": next_link},
                "meta": {"per_page": per_page},
            }
        return {"data": page.records, "prev": prev_link, "next": next_link, "per_page": per_page}

    def _link(
        self, request: Request, cursor: Cursor | None, per_page: int, style: str
    ) -> str | None:
        if cursor is None:
            return None
        items = [("cursor", encode_cursor(cursor)), ("per_page", str(per_page))]
        items += [(k, v) for k, v in request.query_items if k not in ("cursor", "per_page")]
        return self._render(request, encode_query(items), style)

    def _render(self, request: Request, query: str, style: str) -> str:
        suffix = f"?{query}" if query else ""
        if style == "query":
            return suffix or "?"
        if style == "path":
            return request.path + suffix
        return request.base_url + request.path + suffix


def encode_offset(offset: int) -> str:
    """The opaque ``cursor=`` of the other list endpoints: a position in the filtered list."""
    raw = json.dumps({"o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        offset = payload["o"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"invalid cursor {token!r}") from exc
    if not isinstance(offset, int) or offset < 0:
        raise ValueError(f"invalid cursor {token!r}")
    return offset


def _per_page(request: Request) -> int:
    raw = request.param("per_page")
    if raw is None:
        return DEFAULT_PER_PAGE
    try:
        per_page = int(raw)
    except ValueError:
        raise ValueError(f"per_page must be an integer, got {raw!r}") from None
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}")
    return per_page


def _filters(request: Request, spec: Listing) -> list[tuple[Any, str]]:
    checks = []
    for name, values in request.query.items():
        if not name.startswith("filter["):
            continue
        field = name[len("filter[") : -1] if name.endswith("]") else ""
        check = spec.filters.get(field)
        if check is None:
            raise ValueError(f"unsupported filter {name!r}")
        if values[-1] != "":
            checks.append((check, values[-1]))
    return checks


def _sort_key(name: str) -> Any:
    def key(record: dict[str, Any]) -> tuple[bool, Any]:
        value = record.get(name)
        return (value is None, value or "")

    return key


def _names(raw: str | None, allowed: frozenset[str], what: str, signed: bool = False) -> list[str]:
    if not raw:
        return []
    names = [name.strip() for name in raw.split(",") if name.strip()]
    for name in names:
        if (name.lstrip("-") if signed else name) not in allowed:
            raise ValueError(f"unsupported {what} {name!r}")
    return names
