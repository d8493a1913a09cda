"""The Pack REST API v1 serial-number endpoints.

``GET /v1/organizations/{organizationId}/serial-numbers`` (filters ``filter[product_id]``,
``filter[stock_id]``, ``filter[code]``) and
``GET /v1/warehouses/{warehouseId}/products/{productId}/serial-numbers`` (filters
``filter[stock_id]``, ``filter[code]``). Both take ``per_page`` (default 25, at most 100) and
an opaque ``cursor`` from a ``prev``/``next`` link. Records come in (created_at, id) order.

Errors are ``{"error": {"status": <int>, "message": <str>}}``: 401 for a missing or wrong
``Authorization: Bearer <token>``, 404 for an unknown organization, warehouse or path, 400
for a bad ``per_page``, ``cursor`` or an unsupported ``filter[...]``, 405 for other methods.
A blank filter value is ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any

from .data import Cursor, DataStore, SerialNumberPage
from .messages import Context, Request, Response, encode_query, json_response
from .settings import Settings

DEFAULT_PER_PAGE = 25
MAX_PER_PAGE = 100
_ORG_PATH = re.compile(r"^/v1/organizations/([^/]+)/serial-numbers/?$")
_WAREHOUSE_PATH = re.compile(r"^/v1/warehouses/([^/]+)/products/([^/]+)/serial-numbers/?$")
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
        return pack_error(404, f"no route for {request.path}")

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
