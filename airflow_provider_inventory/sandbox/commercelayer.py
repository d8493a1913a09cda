"""The Commerce Layer core API stand-in: ``GET /api/packages``, ``/api/stock_locations`` and
every other type of the bundled API schema (served from :mod:`.resources`).

Routes (GET/HEAD): ``/api/{resource}``, ``/api/{resource}/{id}`` and
``/api/{resource}/{id}/{relationship}``. Requests need ``Accept: application/vnd.api+json``
(else 406 ``NOT_ACCEPTABLE``) and a valid ``Authorization: Bearer <token>`` (missing or
unknown: 401 ``UNAUTHORIZED``; expired: 401 ``INVALID_TOKEN``).

List parameters: ``page[number]`` (default 1), ``page[size]`` (default 10, 1..25, else 400
``INVALID_PAGE_VALUE``), ``sort`` (``-`` descending; comma-separated; ties broken by id
ascending; nulls sort last ascending and first descending, as in PostgreSQL; default order
is created_at then id), ``include`` (relationship names, no dot paths), ``fields[type]``
(attributes and relationships) and ``filter[q][...]`` (see :mod:`.ransack`). Any other
parameter answers 400 ``PARAM_NOT_ALLOWED``. ids compare ordinally (``"B" < "a"``).
"""

from __future__ import annotations

import functools
import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from typing import Any

from .catalog import Catalog
from .data import PACKAGE_ATTRIBUTES, STOCK_LOCATION_ATTRIBUTES, DataStore
from .exports import Exports, ExportSettings
from .jsonapi import Relationship, ResourceType, included_objects, resource_object
from .messages import JSONAPI_TYPE, Context, Request, Response, encode_query, json_response
from .oauth import TokenStore, bearer_token, cl_error
from .ransack import Field, FilterError, compile_filters
from .resources import ResourceStore, ServedTypes

DEFAULT_PAGE_SIZE = 10
MAX_PAGE_SIZE = 25
_SORT_CACHE_SIZE = 32
_ID_BOUNDS = {f"filter[q][id_{p}]": p for p in ("gt", "gteq", "lt", "lteq")}
Record = dict[str, Any]

_KINDS = {
    "length": "number",
    "width": "number",
    "height": "number",
    "created_at": "time",
    "updated_at": "time",
    "metadata": "json",
    "suppress_etd": "bool",
}


class _BadRequest(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _error(
    status: int, code: str, title: str, detail: str, parameter: str | None = None
) -> Response:
    source = {"parameter": parameter} if parameter is not None else None
    return cl_error(status, code, title, detail, source=source, content_type=JSONAPI_TYPE)


def _bad(code: str, title: str, detail: str, parameter: str) -> _BadRequest:
    return _BadRequest(_error(400, code, title, detail, parameter))


def _null_last_key(record: Record, name: str) -> tuple[bool, Any]:
    """Sort key putting nulls after every value (PostgreSQL's default for ascending order)."""
    value = record.get(name)
    return (value is None, value)


def _record_id(record: Record) -> str:
    return str(record["id"])


def _id_range(
    records: Sequence[Record], filters: list[tuple[str, list[str]]]
) -> tuple[Sequence[Record], list[tuple[str, list[str]]]]:
    """Apply ``id_gt``/``id_gteq``/``id_lt``/``id_lteq`` to records sorted by id by bisection
    (the keyset-paging pattern), returning the range and the filters still to apply."""
    start, end = 0, len(records)
    rest: list[tuple[str, list[str]]] = []
    for name, values in filters:
        value = values[-1] if values else ""
        if value == "" or name not in _ID_BOUNDS:
            rest.append((name, values))
            continue
        predicate = _ID_BOUNDS[name]
        if predicate == "gt":
            start = max(start, bisect_right(records, value, key=_record_id))
        elif predicate == "gteq":
            start = max(start, bisect_left(records, value, key=_record_id))
        elif predicate == "lt":
            end = min(end, bisect_left(records, value, key=_record_id))
        else:
            end = min(end, bisect_right(records, value, key=_record_id))
    return records[start : max(start, end)], rest


def _getter(name: str) -> Any:
    return lambda record: record.get(name)


def _fields_for(attributes: tuple[str, ...]) -> dict[str, Field]:
    fields = {name: Field(_getter(name), _KINDS.get(name, "string")) for name in attributes}
    fields["id"] = Field(_getter("id"), "string")
    return fields


class CommerceLayerAPI:
    """Answers ``/api/...`` requests from a :class:`DataStore`."""

    def __init__(
        self,
        store: DataStore,
        tokens: TokenStore,
        catalog: Catalog | None = None,
        export_settings: ExportSettings | None = None,
    ) -> None:
        self.store = store
        self.tokens = tokens
        #: Records of every other type of the bundled schema (``stock_items``, ``shipments``...).
        self.resources = ResourceStore()
        self._sort_cache: dict[tuple[str, str], tuple[tuple[int, int], list[Record]]] = {}
        location_fields = _fields_for(STOCK_LOCATION_ATTRIBUTES)
        package_fields = _fields_for(PACKAGE_ATTRIBUTES)
        package_fields["stock_location_id"] = Field(_getter("stock_location_id"), "string")
        for name, field in location_fields.items():
            package_fields[f"stock_location_{name}"] = Field(
                self._via_location(field.getter), field.kind
            )
        fixed: dict[str, ResourceType] = {
            "packages": ResourceType(
                name="packages",
                attributes=PACKAGE_ATTRIBUTES,
                relationships=(
                    Relationship(
                        "stock_location", False, "stock_locations", _getter("stock_location_id")
                    ),
                    Relationship("parcels", True),
                    Relationship("attachments", True),
                    Relationship("versions", True),
                    Relationship("event_stores", True),
                ),
                sortable=(*(a for a in PACKAGE_ATTRIBUTES if a != "metadata"), "id"),
                filterable=package_fields,
                records=store.package_records,
                get=store.get_package,
            ),
            "stock_locations": ResourceType(
                name="stock_locations",
                attributes=STOCK_LOCATION_ATTRIBUTES,
                relationships=(
                    Relationship("address", False),
                    Relationship("stock_items", True),
                    Relationship("attachments", True),
                    Relationship("versions", True),
                ),
                sortable=(*(a for a in STOCK_LOCATION_ATTRIBUTES if a != "metadata"), "id"),
                filterable=location_fields,
                records=store.stock_location_records,
                get=store.get_stock_location,
            ),
        }
        if catalog is not None:
            # The catalog's hand-written types (shipments, stock items) take precedence over
            # the schema-driven ones.
            fixed.update(catalog.resource_types(location_fields, self._via_location))
        self.types: dict[str, ResourceType] = ServedTypes(fixed, self.resources)
        self.exports = Exports(self.types, export_settings or ExportSettings())

    def _via_location(self, getter: Any) -> Any:
        def get(record: Record) -> Any:
            location = self.store.get_stock_location(record.get("stock_location_id") or "")
            return None if location is None else getter(location)

        return get

    # ------------------------------------------------------------------ entry point

    def handle(self, request: Request, ctx: Context) -> Response:
        accept = request.header("accept") or ""
        if JSONAPI_TYPE not in accept:
            return _error(
                406,
                "NOT_ACCEPTABLE",
                "Not acceptable",
                f"All requests must use the '{JSONAPI_TYPE}' Accept without media type "
                f"parameters. This request specified '{accept}'.",
            )
        token = bearer_token(request)
        if token is None:
            return _error(401, "UNAUTHORIZED", "Unauthorized", "No access token was provided.")
        if ctx.expire_token:
            self.tokens.expire(token)
        status = self.tokens.status(token)
        if status == "unknown":
            return _error(401, "UNAUTHORIZED", "Unauthorized", "The access token is not valid.")
        if status == "expired":
            return _error(
                401, "INVALID_TOKEN", "Invalid token", "The access token you provided is expired."
            )
        segments = [s for s in request.path.split("/") if s][1:]  # drop "api"
        if segments[:1] == ["exports"]:
            return self.exports.handle(request, segments)
        if request.method not in ("GET", "HEAD"):
            return _error(
                405,
                "METHOD_NOT_ALLOWED",
                "Method not allowed",
                f"The sandbox does not support {request.method} {request.path}.",
            )
        segments = [s for s in request.path.split("/") if s][1:]  # drop "api"
        rtype = self.types.get(segments[0]) if segments else None
        if rtype is None or len(segments) > 3:
            return self._not_found()
        try:
            if len(segments) == 1:
                return self._list(request, ctx, rtype)
            record = rtype.get(segments[1])
            if record is None:
                return self._not_found()
            if len(segments) == 2:
                return self._single(request, rtype, record)
            return self._related(request, ctx, rtype, record, segments[2])
        except _BadRequest as bad:
            return bad.response

    @staticmethod
    def _not_found() -> Response:
        return _error(
            404, "RECORD_NOT_FOUND", "Record not found", "The requested resource was not found."
        )

    # ------------------------------------------------------------------ parameters

    def _check_params(self, request: Request, allowed: set[str]) -> None:
        for name in request.query:
            if name in allowed or (name.startswith("fields[") and "fields" in allowed):
                continue
            if name.startswith("filter[q][") and "filter" in allowed:
                continue
            if name.startswith("filter["):
                raise _bad(
                    "FILTER_NOT_ALLOWED",
                    "Filter not allowed",
                    f"{name} is not allowed (use filter[q][<attribute>_<predicate>]).",
                    name,
                )
            raise _bad("PARAM_NOT_ALLOWED", "Param not allowed", f"{name} is not allowed.", name)

    def _fields(self, request: Request) -> dict[str, frozenset[str] | None]:
        out: dict[str, frozenset[str] | None] = {}
        for name, values in request.query.items():
            if not name.startswith("fields["):
                continue
            type_name = name[len("fields[") : -1] if name.endswith("]") else ""
            rtype = self.types.get(type_name)
            if rtype is None:
                raise _bad(
                    "INVALID_RESOURCE",
                    "Invalid resource",
                    f"{type_name} is not a valid resource.",
                    name,
                )
            wanted = frozenset(f.strip() for f in values[-1].split(",") if f.strip())
            unknown = sorted(wanted - rtype.field_names)
            if unknown:
                raise _bad(
                    "INVALID_FIELD",
                    "Invalid field",
                    f"{unknown[0]} is not a valid field for {type_name}.",
                    name,
                )
            out[type_name] = wanted
        return out

    def _include(self, request: Request, rtype: ResourceType) -> list[str]:
        raw = request.param("include")
        if not raw:
            return []
        names = [n.strip() for n in raw.split(",") if n.strip()]
        for name in names:
            known = rtype.includable is None or name in rtype.includable
            if rtype.relationship(name) is None or not known:
                raise _bad(
                    "INVALID_INCLUDE",
                    "Invalid field",
                    f"{name} is not a valid includable relationship of {rtype.name}.",
                    "include",
                )
        return list(dict.fromkeys(names))

    def _sorted(self, request: Request, rtype: ResourceType) -> list[Record]:
        """All records of ``rtype`` in the requested order (do not mutate the list).

        Sorted lists are cached per (type, sort) until the data changes, so walking a large
        collection page by page does not re-sort it for every page.
        """
        raw = request.param("sort") or ""
        keys = [k.strip() for k in raw.split(",") if k.strip()]
        for key in keys:
            if key.lstrip("-") not in rtype.sortable:
                raise _bad(
                    "INVALID_SORT_CRITERIA",
                    "Invalid sort criteria",
                    f"{key.lstrip('-')} is not a valid sort criteria for {rtype.name}.",
                    "sort",
                )
        cache_key = (rtype.name, ",".join(keys))
        version = (self.store.version, self.resources.version)
        cached = self._sort_cache.get(cache_key)
        if cached is not None and cached[0] == version:
            return cached[1]
        records = rtype.records()
        if not keys:
            result = sorted(records, key=lambda r: (r.get("created_at") or "", r["id"]))
        else:
            result = sorted(records, key=lambda r: r["id"])
            for key in reversed(keys):
                name = key.lstrip("-")
                result.sort(
                    key=functools.partial(_null_last_key, name=name), reverse=key.startswith("-")
                )
        if len(self._sort_cache) >= _SORT_CACHE_SIZE:
            self._sort_cache.clear()
        self._sort_cache[cache_key] = (version, result)
        return result

    def _page(self, request: Request) -> tuple[int, int]:
        def parse(name: str, default: int, maximum: int | None) -> int:
            raw = request.param(name)
            if raw is None:
                return default
            try:
                value = int(raw)
            except ValueError:
                value = 0
            if value < 1 or (maximum is not None and value > maximum):
                raise _bad(
                    "INVALID_PAGE_VALUE",
                    "Invalid page value",
                    f"{raw} is not a valid value for {name} parameter"
                    + (f" (1..{maximum})." if maximum else "."),
                    name,
                )
            return value

        return parse("page[number]", 1, None), parse("page[size]", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)

    # ------------------------------------------------------------------ documents

    def _list(self, request: Request, ctx: Context, rtype: ResourceType) -> Response:
        self._check_params(
            request, {"page[number]", "page[size]", "sort", "include", "fields", "filter"}
        )
        number, size = self._page(request)
        fields = self._fields(request)
        include = self._include(request, rtype)
        filters = [(n, v) for n, v in request.query.items() if n.startswith("filter[q][")]
        ordered: Sequence[Record] = self._sorted(request, rtype)
        if (request.param("sort") or "").strip() == "id":
            ordered, filters = _id_range(ordered, filters)
        if filters:
            try:
                condition = compile_filters(filters, rtype.filterable)
            except FilterError as exc:
                code = exc.code
                title = (
                    "Filter not allowed" if code == "FILTER_NOT_ALLOWED" else "Invalid filter value"
                )
                raise _bad(code, title, exc.detail, exc.parameter) from exc
            ordered = [r for r in ordered if condition(r)]
        count = len(ordered)
        page_count = math.ceil(count / size)
        chunk = ordered[(number - 1) * size : number * size]
        base = request.base_url
        document: Record = {
            "data": [
                resource_object(rtype, r, base, fields.get(rtype.name), include) for r in chunk
            ]
        }
        if include:
            included = included_objects(
                rtype, chunk, include, fields, types=self.types, base_url=base
            )
            if included:
                document["included"] = included
        document["meta"] = {"record_count": count, "page_count": page_count}

        others = [(k, v) for k, v in request.query_items if not k.startswith("page[")]

        def link(page_number: int) -> str:
            items = [("page[number]", str(page_number)), ("page[size]", str(size)), *others]
            return f"{base}{request.path}?{encode_query(items)}"

        last = max(page_count, 1)
        links: Record = {"first": link(1)}
        if number > 1:
            links["prev"] = link(min(number - 1, last))
        if number < page_count:
            links["next"] = link(number + 1)
        links["last"] = link(last)
        if ctx.next_link == "repeat":
            links["next"] = request.url
        elif ctx.next_link is not None:
            links["next"] = ctx.next_link
        document["links"] = links
        return json_response(200, document, JSONAPI_TYPE)

    def _single(self, request: Request, rtype: ResourceType, record: Record) -> Response:
        self._check_params(request, {"include", "fields"})
        fields = self._fields(request)
        include = self._include(request, rtype)
        base = request.base_url
        document: Record = {
            "data": resource_object(rtype, record, base, fields.get(rtype.name), include)
        }
        if include:
            included = included_objects(
                rtype, [record], include, fields, types=self.types, base_url=base
            )
            if included:
                document["included"] = included
        return json_response(200, document, JSONAPI_TYPE)

    def _related(
        self, request: Request, ctx: Context, rtype: ResourceType, record: Record, name: str
    ) -> Response:
        rel = rtype.relationship(name)
        if rel is None:
            return self._not_found()
        if rel.to_many:
            self._check_params(request, {"page[number]", "page[size]", "fields"})
            _, size = self._page(request)
            first = f"{request.base_url}{request.path}?" + encode_query(
                [("page[number]", "1"), ("page[size]", str(size))]
            )
            document = {
                "data": [],
                "meta": {"record_count": 0, "page_count": 0},
                "links": {"first": first, "last": first},
            }
            return json_response(200, document, JSONAPI_TYPE)
        linkage = rel.linkage(record)
        target = None
        if linkage is not None and rel.target is not None:
            target_type = self.types[rel.target]
            target = target_type.get(linkage["id"])
        if target is None or rel.target is None:
            self._check_params(request, set())
            return json_response(200, {"data": None}, JSONAPI_TYPE)
        return self._single(request, self.types[rel.target], target)
